// Conformance: the edge functions called through the pinned supabase-js
// (`functions.invoke`), with what they cause arriving live on the pinned realtime-js:
// a reply and a mention each notify once on `user:<id>`, and global presence goes
// online on connect, offline after the grace period, and not at all during a quick
// reconnect.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createClient } from '@supabase/supabase-js'
import { BASE, anonKey, clientsClosedAfter, sleep, subscribed, userToken, waitFor, uniqueName } from './helpers.mjs'

const make = clientsClosedAfter(after)
const GRACE_MS = Number(process.env.E2E_PRESENCE_GRACE_MS ?? 30000)

// A user of this run's own (auth.users and a profile named `username`).
function newUser(username) {
  const id = randomUUID()
  const sql = `insert into auth.users (id) values ('${id}');
               insert into public.profiles (id, username) values ('${id}', '${username}');`
  execFileSync('psql', [process.env.E2E_DATABASE_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdio: 'pipe' })
  return id
}

const handle = (label) => `${label}_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(0, 32)
const supabaseAs = (id) => createClient(BASE, anonKey(), { accessToken: async () => userToken(id) })

async function invoke(id, name, body) {
  const { data, error } = await supabaseAs(id).functions.invoke(name, { body })
  assert.equal(error, null, `${name}: ${error?.message}`)
  return data
}

test('a reply and a mention sent over HTTP each notify once, live on user:<id>', async () => {
  const adaName = handle('ada')
  const ada = newUser(adaName)
  const basil = newUser(handle('basil'))
  const thread = await invoke(ada, 'threads', { title: 'Seedlings', participant_ids: [basil] })
  assert.equal(thread.kind, 'group')

  const notes = []
  const inbox = (await make(ada)).channel(`user:${ada}`, { config: { private: true } })
  inbox.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'live_notifications', filter: `recipient_id=eq.${ada}` }, (p) =>
    notes.push(p.new),
  )
  await subscribed(inbox)
  await sleep(300)

  const first = await invoke(ada, 'messages', { thread_id: thread.id, body: 'Which tray is warmer?', idempotency_key: randomUUID() })
  const reply = await invoke(basil, 'messages', { thread_id: thread.id, body: 'The left one', reply_to: first.id, idempotency_key: randomUUID() })
  const mention = await invoke(basil, 'messages', { thread_id: thread.id, body: `@${adaName} look at the basil`, idempotency_key: randomUUID() })
  assert.deepEqual(mention.mentions, [ada], 'the mention is parsed and stored with the message')

  await waitFor('both notifications', (done) => {
    const check = setInterval(() => {
      if (notes.length >= 2) {
        clearInterval(check)
        done()
      }
    }, 50)
  })
  await sleep(700)
  const about = (id) => notes.filter((n) => n.data?.message_id === id).map((n) => n.kind)
  assert.deepEqual(about(reply.id), ['message'], 'one reply notification')
  assert.deepEqual(about(mention.id), ['mention'], 'one mention notification')
  assert.deepEqual(about(first.id), [], 'nothing for one\'s own message')
  assert.equal(notes.length, 2)
})

test('presence: online on connect, offline after the grace period, no flap on a quick reconnect', async () => {
  const ada = newUser(handle('pada'))
  const basil = newUser(handle('pbasil'))
  const seen = []
  const waiters = []
  const watch = (await make(basil)).channel(`presence:${ada}`, { config: { private: true } })
  watch.on('broadcast', { event: 'presence' }, ({ payload }) => {
    seen.push([Date.now(), payload.status])
    for (const w of waiters.splice(0)) if (!w(payload.status)) waiters.push(w)
  })
  await subscribed(watch)
  await sleep(300)
  // The time the next change to `status` arrives.
  const next = (status) =>
    waitFor(status, (done) => waiters.push((s) => s === status && (done(Date.now()), true)), 15000)

  const online = next('online')
  const first = await make(ada)
  await subscribed(first.channel(uniqueName('presence-any')))
  await online

  // A quick reconnect: the socket closes and another opens within the grace period.
  const quiet = seen.length
  first.disconnect()
  await sleep(300)
  const second = await make(ada)
  await subscribed(second.channel(uniqueName('presence-again')))
  await sleep(GRACE_MS + 1500)
  assert.deepEqual(seen.slice(quiet), [], 'nothing changed for a reconnect within the grace period')

  const offline = next('offline')
  const closedAt = Date.now()
  second.disconnect()
  const at = await offline
  assert.ok(at - closedAt >= GRACE_MS - 300, `offline ${at - closedAt} ms after the close, before the grace period`)
})

test('presence: an invisible user looks offline to others while connected', async () => {
  const ada = newUser(handle('iada'))
  const basil = newUser(handle('ibasil'))
  const statuses = []
  const waiters = []
  const watch = (await make(basil)).channel(`presence:${ada}`, { config: { private: true } })
  watch.on('broadcast', { event: 'presence' }, ({ payload }) => {
    statuses.push(payload.status)
    for (const w of waiters.splice(0)) if (!w(payload.status)) waiters.push(w)
  })
  await subscribed(watch)
  await sleep(300)
  const next = (status) => waitFor(status, (done) => waiters.push((s) => s === status && (done(), true)), 15000)

  const online = next('online')
  const socket = await make(ada)
  await subscribed(socket.channel(uniqueName('invisible-any')))
  await online

  const hidden = next('offline')
  const mine = await invoke(ada, 'presence', { status: 'invisible' })
  assert.deepEqual([mine.chosen, mine.connected, mine.status], ['invisible', true, 'offline'])
  await hidden
  const { data } = await supabaseAs(basil).functions.invoke(`presence?user_ids=${ada}`, { method: 'GET' })
  assert.equal(data.items[0].status, 'offline', 'Basil reads Ada as offline while she is connected and invisible')
  socket.disconnect()
  await sleep(GRACE_MS + 1000)
  assert.deepEqual(statuses, ['online', 'offline'], 'leaving while invisible changes nothing anyone sees')
})
