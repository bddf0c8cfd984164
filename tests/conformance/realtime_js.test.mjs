// Conformance: the pinned @supabase/realtime-js, unmodified, against wrangler dev.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { ADA, BASIL, client, clientsClosedAfter, join, subscribed, waitFor, uniqueName, userToken, sign, sleep } from './helpers.mjs'

const make = clientsClosedAfter(after)

test('subscribe reports SUBSCRIBED and unsubscribe answers ok then CLOSED', async () => {
  const c = await make(ADA)
  const channel = c.channel(uniqueName('status'))
  const joined = await subscribed(channel)
  assert.equal(channel.state, 'joined')
  assert.equal(await channel.unsubscribe(), 'ok')
  assert.equal((await joined.next(['CLOSED'])).status, 'CLOSED')
})

test('broadcast reaches others, reaches the sender only with self, and acks when asked', async () => {
  const name = uniqueName('broadcast')
  const sender = (await make(ADA)).channel(name, { config: { broadcast: { self: true, ack: true } } })
  const other = (await make(BASIL)).channel(name)
  const echo = waitFor('the echo', (done) => sender.on('broadcast', { event: 'watered' }, done))
  const delivered = waitFor('the delivery', (done) => other.on('broadcast', { event: 'watered' }, done))
  await subscribed(sender)
  await subscribed(other)
  assert.equal(await sender.send({ type: 'broadcast', event: 'watered', payload: { ml: 250 } }), 'ok')
  assert.deepEqual((await delivered).payload, { ml: 250 })
  assert.deepEqual((await echo).payload, { ml: 250 })
})

test('JSON broadcasts cross between vsn 1 and vsn 2 clients both ways', async () => {
  const name = uniqueName('vsn')
  const v1 = (await make(ADA, { vsn: '1.0.0' })).channel(name)
  const v2 = (await make(BASIL, { vsn: '2.0.0' })).channel(name)
  const atV1 = waitFor('v2 -> v1', (done) => v1.on('broadcast', { event: 'from-v2' }, done))
  const atV2 = waitFor('v1 -> v2', (done) => v2.on('broadcast', { event: 'from-v1' }, done))
  await subscribed(v1)
  await subscribed(v2)
  await v2.send({ type: 'broadcast', event: 'from-v2', payload: { n: 2 } })
  await v1.send({ type: 'broadcast', event: 'from-v1', payload: { n: 1 } })
  assert.deepEqual((await atV1).payload, { n: 2 })
  assert.deepEqual((await atV2).payload, { n: 1 })
})

test('a binary payload reaches vsn 2 clients as an ArrayBuffer, byte for byte', async () => {
  const name = uniqueName('binary')
  const sender = (await make(ADA)).channel(name)
  const receiver = (await make(BASIL)).channel(name)
  const got = waitFor('the binary broadcast', (done) => receiver.on('broadcast', { event: 'blob' }, done))
  await subscribed(sender)
  await subscribed(receiver)
  const bytes = new Uint8Array([0, 1, 2, 250, 251, 255])
  await sender.send({ type: 'broadcast', event: 'blob', payload: bytes.buffer })
  const message = await got
  assert.ok(message.payload instanceof ArrayBuffer, 'an ArrayBuffer arrives')
  assert.deepEqual([...new Uint8Array(message.payload)], [...bytes])
})

test('presence: join and leave events, and presenceState() with the verified user id', async () => {
  const name = uniqueName('presence')
  const ada = (await make(ADA)).channel(name, { config: { presence: { key: 'ada' } } })
  const basil = (await make(BASIL)).channel(name, { config: { presence: { key: 'basil' } } })
  const joined = waitFor('a presence join', (done) =>
    basil.on('presence', { event: 'join' }, (e) => e.key === 'ada' && done(e)),
  )
  const left = waitFor('a presence leave', (done) =>
    basil.on('presence', { event: 'leave' }, (e) => e.key === 'ada' && done(e)),
  )
  basil.on('presence', { event: 'sync' }, () => {})
  ada.on('presence', { event: 'sync' }, () => {})
  await subscribed(basil)
  await subscribed(ada)
  assert.equal(await ada.track({ status: 'online', user_id: 'forged' }), 'ok')
  const join = await joined
  assert.equal(join.newPresences[0].status, 'online')
  const state = basil.presenceState()
  assert.equal(state.ada.length, 1)
  assert.equal(state.ada[0].user_id, ADA, 'the server stamps the verified user id')
  assert.equal(await ada.untrack(), 'ok')
  assert.equal((await left).leftPresences[0].status, 'online')
})

test('a private channel is joined by its owner and refused to others', async () => {
  const inbox = `user:${ADA}`
  const own = (await make(ADA)).channel(inbox, { config: { private: true } })
  await subscribed(own)
  const stranger = (await make(BASIL)).channel(inbox, { config: { private: true } })
  const outcome = await join(stranger).next(['SUBSCRIBED', 'CHANNEL_ERROR'])
  assert.equal(outcome.status, 'CHANNEL_ERROR')
  assert.match(String(outcome.err?.message ?? outcome.err), /Unauthorized/)
  stranger.unsubscribe()
})

test('setAuth with a fresh token keeps the channel; with another user\'s token it closes', async () => {
  const c = await make(ADA)
  const channel = c.channel(uniqueName('refresh'))
  const joined = await subscribed(channel)
  await c.setAuth(userToken(ADA, 7200))
  await sleep(500)
  assert.equal(channel.state, 'joined', 'a fresh token for the same user keeps the channel')
  await c.setAuth(userToken(BASIL))
  assert.equal((await joined.next(['CLOSED'])).status, 'CLOSED')
})

test('a channel closes when its token expires', async () => {
  const short = sign({ sub: ADA, role: 'authenticated', aud: 'authenticated', exp: Math.floor(Date.now() / 1000) + 3 })
  const c = await make(null, { accessToken: async () => short })
  const channel = c.channel(uniqueName('expiry'))
  const system = waitFor('the system message', (done) => channel.on('system', {}, done), 15000)
  const joined = await subscribed(channel)
  const message = await system
  assert.match(message.message, /Token has expired/)
  assert.equal((await joined.next(['CLOSED'])).status, 'CLOSED')
})

test('after the server drops an idle socket the client reconnects, rejoins and gets presence again', async () => {
  const name = uniqueName('reconnect')
  // No heartbeats: the server closes the socket after IDLE_TIMEOUT_MS of silence.
  const c = await make(ADA, { heartbeatIntervalMs: 600000, reconnectAfterMs: () => 200 })
  const channel = c.channel(name, { config: { presence: { key: 'ada' } } })
  let syncs = 0
  channel.on('presence', { event: 'sync' }, () => syncs++)
  await subscribed(channel)
  await channel.track({ online: true })
  await waitFor('the first sync', (done) => {
    const t = setInterval(() => syncs > 0 && (clearInterval(t), done()), 50)
  })
  const before = syncs
  const rejoined = waitFor('a rejoin after the drop', (done) => {
    const t = setInterval(() => c.isConnected() && syncs > before && (clearInterval(t), done()), 100)
  }, 30000)
  await rejoined
  assert.equal(channel.state, 'joined')
})

test('supabase-js pointed at the edge URL: realtime is served here, REST passes through', async () => {
  const { createClient } = await import('@supabase/supabase-js')
  const { BASE, anonKey } = await import('./helpers.mjs')
  const supabase = createClient(BASE, anonKey(), {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { heartbeatIntervalMs: 2000 },
  })
  after(() => supabase.realtime.disconnect())
  // What supabase-js does on sign-in.
  await supabase.realtime.setAuth(userToken(ADA))
  const { data, error } = await supabase.from('profiles').select('username')
  assert.equal(error, null)
  assert.equal(data[0].path, '/rest/v1/profiles', 'the REST call reached the project')
  const channel = supabase.channel(uniqueName('supabase-js'), { config: { broadcast: { self: true, ack: true } } })
  const echo = waitFor('the echo', (done) => channel.on('broadcast', { event: 'hi' }, done))
  await subscribed(channel)
  assert.equal(await channel.send({ type: 'broadcast', event: 'hi', payload: { from: 'supabase-js' } }), 'ok')
  assert.deepEqual((await echo).payload, { from: 'supabase-js' })
  await supabase.removeAllChannels()
})
