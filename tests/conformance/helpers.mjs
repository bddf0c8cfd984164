// Shared by the conformance tests: the stack's address, tokens, and small waits.
import { createHmac } from 'node:crypto'
import { RealtimeClient } from '@supabase/realtime-js'

const need = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run the conformance suite with \`make test\``)
  return value
}

export const BASE = need('E2E_BASE_URL')
export const ENDPOINT = `${BASE.replace(/^http/, 'ws')}/realtime/v1`
export const ADA = '11111111-1111-4111-8111-111111111111'
export const BASIL = '22222222-2222-4222-8222-222222222222'

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

export function sign(claims) {
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`
  return `${head}.${createHmac('sha256', need('E2E_JWT_SECRET')).update(head).digest('base64url')}`
}

const now = () => Math.floor(Date.now() / 1000)
export const anonKey = () => sign({ role: 'anon', iss: 'supabase-demo', exp: now() + 3600 })
export const userToken = (sub, ttl = 3600) => sign({ sub, role: 'authenticated', aud: 'authenticated', exp: now() + ttl })

let counter = 0
export const uniqueName = (label) => `${label}-${process.pid}-${Date.now()}-${counter++}`

// A client as an app would make it: the anon key as apikey, and the user's token handed
// over with setAuth before any channel is joined (as supabase-js does on sign-in).
export async function client(sub, options = {}) {
  const c = new RealtimeClient(ENDPOINT, {
    params: { apikey: anonKey() },
    heartbeatIntervalMs: 2000,
    ...options,
  })
  if (options.accessToken) await c.setAuth()
  else if (sub) await c.setAuth(userToken(sub))
  return c
}

// A `client` maker whose clients are all disconnected when the test file ends (pass
// node:test's `after`).
export function clientsClosedAfter(after) {
  const clients = []
  after(() => clients.forEach((c) => c.disconnect()))
  return async (...args) => {
    const c = await client(...args)
    clients.push(c)
    return c
  }
}

// Subscribes once and records every status the channel reports.
export function join(channel) {
  const statuses = []
  const waiters = []
  channel.subscribe((status, err) => {
    statuses.push({ status, err })
    for (const w of waiters.splice(0)) if (!w(status, err)) waiters.push(w)
  })
  const next = (wanted, ms = 15000) =>
    new Promise((resolve, reject) => {
      const seen = statuses.find((s) => wanted.includes(s.status))
      if (seen) return resolve(seen)
      const timer = setTimeout(() => reject(new Error(`${channel.topic}: none of ${wanted} within ${ms} ms (saw ${statuses.map((s) => s.status)})`)), ms)
      waiters.push((status, err) => {
        if (!wanted.includes(status)) return false
        clearTimeout(timer)
        resolve({ status, err })
        return true
      })
    })
  return { channel, statuses, next }
}

// Joins and waits for SUBSCRIBED, failing on an error status.
export async function subscribed(channel) {
  const joined = join(channel)
  const outcome = await joined.next(['SUBSCRIBED', 'CHANNEL_ERROR', 'TIMED_OUT'], 10000)
  if (outcome.status !== 'SUBSCRIBED') throw outcome.err ?? new Error(outcome.status)
  return joined
}

export function waitFor(what, register, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)
    register((value) => {
      clearTimeout(timer)
      resolve(value)
    })
  })
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
