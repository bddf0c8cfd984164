// Conformance: the pinned realtime-js subscribing to database changes, as the product
// spec's hooks do (useRealtime({ table: 'messages', filter: 'thread_id=eq.<id>' }, { onInsert })).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createClient } from '@supabase/supabase-js'
import { ADA, BASE, BASIL, anonKey, clientsClosedAfter, sleep, subscribed, userToken, waitFor, uniqueName } from './helpers.mjs'

const THREAD = 'aaaaaaaa-0000-4000-8000-000000000001'
const STRANGER = '55555555-5555-4555-8555-555555555555'
const make = clientsClosedAfter(after)

// A write as PostgREST makes it: the authenticated role with the user's claims, through psql.
function asUser(sub, sql) {
  const claims = JSON.stringify({ sub, role: 'authenticated', aud: 'authenticated' })
  const script = `begin; select set_config('request.jwt.claims', '${claims}', true); set local role authenticated; ${sql}; commit;`
  execFileSync('psql', [process.env.E2E_DATABASE_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', script], { stdio: 'pipe' })
}

test('postgres_changes: an insert through the database reaches the participant, not a stranger', async () => {
  const filter = `thread_id=eq.${THREAD}`
  const name = uniqueName('messages')
  const body = `from psql ${name}`
  const ada = (await make(ADA)).channel(name)
  const got = waitFor('the insert', (done) =>
    ada.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter }, (p) => {
      if (p.new.body === body) done(p)
    }),
  )
  const stranger = (await make(STRANGER)).channel(name)
  let strangerHeard = 0
  stranger.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter }, () => strangerHeard++)
  await subscribed(ada)
  await subscribed(stranger)
  await new Promise((r) => setTimeout(r, 300))
  asUser(BASIL, `insert into public.messages (thread_id, body) values ('${THREAD}', '${body}')`)
  const payload = await got
  assert.equal(payload.eventType, 'INSERT')
  assert.equal(payload.schema, 'public')
  assert.equal(payload.table, 'messages')
  assert.equal(payload.new.sender_id, BASIL)
  assert.match(payload.commit_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  await new Promise((r) => setTimeout(r, 700))
  assert.equal(strangerHeard, 0, 'a stranger hears nothing of the thread')
})

test('the conversation screen hook: a new message, its edit and its tombstone arrive in order', async () => {
  const name = uniqueName('conversation')
  const tag = `screen ${name}`
  const events = []
  const channel = (await make(ADA)).channel(name)
  const done = waitFor('the tombstone', (finish) =>
    channel.on('postgres_changes', { event: '*', schema: 'public', table: 'messages', filter: `thread_id=eq.${THREAD}` }, (p) => {
      const body = p.new?.body ?? ''
      if (p.eventType === 'INSERT' && body === tag) events.push(['INSERT', body, p.new.id])
      if (p.eventType === 'UPDATE' && p.old?.body === tag) events.push(['UPDATE', body, p.new.id])
      if (p.eventType === 'UPDATE' && p.old?.body === `${tag} (edited)` && p.new.deleted_at) {
        events.push(['TOMBSTONE', body, p.new.id])
        finish()
      }
    }),
  )
  await subscribed(channel)
  await new Promise((r) => setTimeout(r, 300))
  asUser(BASIL, `insert into public.messages (thread_id, body) values ('${THREAD}', '${tag}')`)
  asUser(BASIL, `update public.messages set body = '${tag} (edited)' where body = '${tag}'`)
  asUser(BASIL, `update public.messages set deleted_at = now() where body = '${tag} (edited)'`)
  await done
  assert.deepEqual(events.map((e) => e[0]), ['INSERT', 'UPDATE', 'TOMBSTONE'])
  assert.equal(events[1][1], `${tag} (edited)`)
  assert.equal(events[2][1], '', 'a tombstone keeps its place and blanks the body')
  assert.ok(events.every((e) => e[2] === events[0][2]), 'one message throughout')
})

test('the notification centre hook: the recipient hears a new notification, nobody else does', async () => {
  const name = uniqueName('inbox')
  const title = `hello ${name}`
  const filter = `recipient_id=eq.${ADA}`
  const ada = (await make(ADA)).channel(name)
  const got = waitFor('the notification', (done) =>
    ada.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'live_notifications', filter }, (p) => {
      if (p.new.title === title) done(p)
    }),
  )
  const basil = (await make(BASIL)).channel(name)
  let basilHeard = 0
  basil.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'live_notifications', filter }, () => basilHeard++)
  await subscribed(ada)
  await subscribed(basil)
  await new Promise((r) => setTimeout(r, 300))
  // Notifications are created by the backend (the service role), as the edge functions will.
  execFileSync('psql', [process.env.E2E_DATABASE_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c',
    `insert into public.live_notifications (recipient_id, kind, title) values ('${ADA}', 'system', '${title}')`], { stdio: 'pipe' })
  const payload = await got
  assert.equal(payload.new.recipient_id, ADA)
  await new Promise((r) => setTimeout(r, 700))
  assert.equal(basilHeard, 0, "Basil's policies do not show him Ada's notifications")
})

test('every filter operator: eq, neq, lt, lte, gt, gte and in pick the rows they say', async () => {
  const name = uniqueName('operators')
  const tag = `ops ${name}`
  // The thread's next three messages get the next three sequence numbers.
  const last = Number(execFileSync('psql', [process.env.E2E_DATABASE_URL, '-X', '-At', '-c',
    `select last_seq from public.conversation_threads where id = '${THREAD}'`]).toString().trim())
  const [s1, s2, s3] = [last + 1, last + 2, last + 3]
  const filters = {
    eq: `seq=eq.${s2}`, neq: `seq=neq.${s2}`, lt: `seq=lt.${s2}`, lte: `seq=lte.${s2}`,
    gt: `seq=gt.${s2}`, gte: `seq=gte.${s2}`, in: `seq=in.(${s1},${s3})`,
  }
  const heard = Object.fromEntries(Object.keys(filters).map((op) => [op, []]))
  const channel = (await make(ADA)).channel(name)
  for (const [op, filter] of Object.entries(filters)) {
    channel.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter }, (p) => {
      if (p.new.body.startsWith(tag)) heard[op].push(p.new.seq)
    })
  }
  await subscribed(channel)
  await new Promise((r) => setTimeout(r, 300))
  for (const n of [1, 2, 3]) {
    asUser(BASIL, `insert into public.messages (thread_id, body) values ('${THREAD}', '${tag} ${n}')`)
  }
  await new Promise((r) => setTimeout(r, 1500))
  const sorted = (xs) => [...xs].sort((a, b) => a - b)
  assert.deepEqual(
    Object.fromEntries(Object.entries(heard).map(([op, seqs]) => [op, sorted(seqs)])),
    { eq: [s2], neq: [s1, s3], lt: [s1], lte: [s1, s2], gt: [s3], gte: [s2, s3], in: [s1, s3] },
  )
})

test('the useRealtime hook: inserts, updates and presence sync on one channel', async () => {
  const name = uniqueName('hook')
  const tag = `hook ${name}`
  const filter = `thread_id=eq.${THREAD}`
  const channelFor = async (sub, key, log) => {
    const channel = (await make(sub)).channel(name, { config: { presence: { key } } })
    channel
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter }, (p) => {
        if (p.new.body === tag) log.push('insert')
      })
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'messages', filter }, (p) => {
        if (p.old.body === tag) log.push('update')
      })
      .on('presence', { event: 'sync' }, () => log.push(`sync:${Object.keys(channel.presenceState()).sort().join(',')}`))
    await subscribed(channel)
    return channel
  }
  const adaLog = []
  const basilLog = []
  const ada = await channelFor(ADA, 'ada', adaLog)
  const basil = await channelFor(BASIL, 'basil', basilLog)
  assert.equal(await ada.track({ status: 'online' }), 'ok')
  assert.equal(await basil.track({ status: 'online' }), 'ok')
  const until = async (log, entry) => {
    for (let i = 0; i < 100 && !log.includes(entry); i++) await new Promise((r) => setTimeout(r, 50))
    assert.ok(log.includes(entry), `${entry} in ${JSON.stringify(log)}`)
  }
  await until(adaLog, 'sync:ada,basil')
  await until(basilLog, 'sync:ada,basil')
  asUser(BASIL, `insert into public.messages (thread_id, body) values ('${THREAD}', '${tag}')`)
  asUser(BASIL, `update public.messages set body = '${tag} (edited)' where body = '${tag}'`)
  await until(adaLog, 'update')
  await until(basilLog, 'update')
  assert.equal(await basil.untrack(), 'ok')
  await until(adaLog, 'sync:ada')
  for (const log of [adaLog, basilLog]) {
    const changes = log.filter((e) => !e.startsWith('sync:'))
    assert.deepEqual(changes, ['insert', 'update'], 'each change once, in order')
  }
})

test('broadcast replay: a private channel first gets the latest stored broadcasts, marked replayed', async () => {
  const event = uniqueName('replayed')
  const since = Date.now() - 60_000
  for (const n of [1, 2, 3]) {
    execFileSync('psql', [process.env.E2E_DATABASE_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c',
      `select realtime.send('{"n": ${n}}', '${event}', 'user:${ADA}', true)`], { stdio: 'pipe' })
  }
  const got = []
  const channel = (await make(ADA)).channel(`user:${ADA}`, {
    config: { private: true, broadcast: { replay: { since, limit: 2 } } },
  })
  const two = waitFor('two replayed broadcasts', (done) =>
    channel.on('broadcast', { event }, (message) => {
      got.push({ n: message.payload.n, replayed: message.meta?.replayed ?? false })
      if (got.length === 2) done()
    }),
  )
  await subscribed(channel)
  await two
  assert.deepEqual(got, [{ n: 2, replayed: true }, { n: 3, replayed: true }])
})

// The same subscription, for writes made by the backend's service role and through the
// edge with supabase-js itself (`functions.invoke`, the user's token as Authorization).
test('postgres_changes: inserts by the service role and through the edge reach the participant', async () => {
  const name = uniqueName('writers')
  const fromService = `service ${name}`
  const fromEdge = `edge ${name}`
  const heard = []
  const ada = (await make(ADA)).channel(name)
  const both = waitFor('both inserts', (done) =>
    ada.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter: `thread_id=eq.${THREAD}` }, (p) => {
      if (p.new.body === fromService || p.new.body === fromEdge) heard.push(p.new)
      if (heard.length === 2) done()
    }),
  )
  await subscribed(ada)
  await sleep(300)
  execFileSync('psql', [process.env.E2E_DATABASE_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c',
    `begin; set local role service_role; insert into public.messages (thread_id, sender_id, body) values ('${THREAD}', '${BASIL}', '${fromService}'); commit;`],
  { stdio: 'pipe' })
  const supabase = createClient(BASE, anonKey(), { accessToken: async () => userToken(BASIL) })
  const { data, error } = await supabase.functions.invoke('messages', {
    body: { thread_id: THREAD, body: fromEdge, idempotency_key: name },
  })
  assert.equal(error, null, `the send is accepted: ${error?.message}`)
  assert.equal(data.sender_id, BASIL, 'the sender is the token\'s user')
  await both
  assert.deepEqual(heard.map((m) => m.body), [fromService, fromEdge], 'in commit order')
  assert.equal(heard[1].id, data.id, 'the delivered row is the one the edge answered')
})

test('UPDATE and DELETE payloads as realtime-js hands them over: the old row of an edit, the key only of a delete', async () => {
  const name = uniqueName('update-delete')
  const original = `before ${name}`
  asUser(BASIL, `insert into public.messages (thread_id, body) values ('${THREAD}', '${original}')`)
  const id = execFileSync('psql', [process.env.E2E_DATABASE_URL, '-X', '-At', '-c',
    `select id from public.messages where body = '${original}'`]).toString().trim()
  const channel = (await make(ADA)).channel(name)
  const edited = waitFor('the edit', (done) =>
    channel.on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'messages', filter: `thread_id=eq.${THREAD}` },
      (p) => { if (p.old?.body === original) done(p) }),
  )
  const deleted = waitFor('the delete', (done) =>
    channel.on('postgres_changes', { event: 'DELETE', schema: 'public', table: 'messages', filter: `id=eq.${id}` }, done),
  )
  await subscribed(channel)
  await sleep(300)
  asUser(BASIL, `update public.messages set body = '${original} (edited)' where id = '${id}'`)
  const update = await edited
  assert.equal(update.eventType, 'UPDATE')
  assert.equal(update.new.body, `${original} (edited)`)
  assert.equal(update.old.body, original, 'messages keep the whole old row (REPLICA IDENTITY FULL)')
  // A hard delete, as the backend makes it (users delete by tombstone).
  execFileSync('psql', [process.env.E2E_DATABASE_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c',
    `delete from public.messages where id = '${id}'`], { stdio: 'pipe' })
  const gone = await deleted
  assert.equal(gone.eventType, 'DELETE')
  assert.deepEqual(gone.old, { id }, 'the key only')
  assert.deepEqual(gone.new, {})
})

test("a bad filter: realtime-js's system callback gets Supabase's error and the channel keeps working", async () => {
  const name = uniqueName('bad-filter')
  const channel = (await make(ADA)).channel(name, { config: { broadcast: { self: true } } })
  const system = waitFor('the system error', (done) => channel.on('system', {}, done))
  const echoed = waitFor('the broadcast', (done) => channel.on('broadcast', { event: 'still' }, done))
  channel.on('postgres_changes', { event: '*', schema: 'public', table: 'messages', filter: 'thread_id=like.x%' }, () => {})
  await subscribed(channel)
  const error = await system
  assert.equal(error.extension, 'postgres_changes')
  assert.equal(error.status, 'error')
  assert.match(error.message, /^Error parsing `filter` params/)
  assert.equal(await channel.send({ type: 'broadcast', event: 'still', payload: { n: 1 } }), 'ok')
  assert.deepEqual((await echoed).payload, { n: 1 })
})
