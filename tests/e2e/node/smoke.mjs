// A client nobody here wrote: Node 22's built-in WebSocket, speaking vsn 2.0.0 by hand.
// Joins one topic from two sockets, checks heartbeat, join, broadcast and leave.
// Usage: node smoke.mjs <ws-base-url> <token-a> <token-b>; exits non-zero on failure.
const [base, tokenA, tokenB] = process.argv.slice(2);
const topic = `realtime:node-smoke-${process.pid}-${Date.now()}`;

function open(token) {
  const ws = new WebSocket(`${base}/realtime/v1/websocket?apikey=${token}&vsn=2.0.0`);
  const inbox = [];
  const waiters = [];
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    const i = waiters.findIndex((w) => w.match(msg));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(msg);
    else inbox.push(msg);
  };
  const next = (match, what) =>
    new Promise((resolve, reject) => {
      const i = inbox.findIndex(match);
      if (i >= 0) return resolve(inbox.splice(i, 1)[0]);
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 10000);
      waiters.push({ match, resolve: (m) => { clearTimeout(timer); resolve(m); } });
    });
  const opened = new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('connect failed')); });
  return { ws, next, opened };
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const a = open(tokenA);
const b = open(tokenB);
await Promise.all([a.opened, b.opened]);

a.ws.send(JSON.stringify([null, '1', 'phoenix', 'heartbeat', {}]));
const hb = await a.next((m) => m[1] === '1' && m[2] === 'phoenix', 'heartbeat reply');
check(hb[3] === 'phx_reply' && hb[4].status === 'ok', 'heartbeat answered ok');

for (const c of [a, b]) {
  c.ws.send(JSON.stringify(['2', '2', topic, 'phx_join', { config: { broadcast: { self: false } } }]));
  const r = await c.next((m) => m[1] === '2' && m[2] === topic, 'join reply');
  check(r[3] === 'phx_reply' && r[4].status === 'ok', 'join answered ok');
}

a.ws.send(JSON.stringify(['2', '3', topic, 'broadcast', { type: 'broadcast', event: 'hello', payload: { from: 'node' } }]));
const got = await b.next((m) => m[3] === 'broadcast', 'broadcast delivery');
check(got[2] === topic && got[4].event === 'hello' && got[4].payload.from === 'node', 'broadcast payload delivered');

a.ws.send(JSON.stringify(['2', '4', topic, 'phx_leave', {}]));
const left = await a.next((m) => m[1] === '4', 'leave reply');
check(left[4].status === 'ok', 'leave answered ok');
const phxClose = await a.next((m) => m[3] === 'phx_close', 'phx_close');
check(phxClose[0] === '2', 'phx_close carries the join_ref');

// The server must complete the closing handshake, or the sockets hang half-closed.
const closed = (c) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not complete the close handshake')), 5000);
    c.ws.onclose = (e) => { clearTimeout(timer); resolve(e.code); };
    c.ws.close(1000);
  });
const codes = await Promise.all([closed(a), closed(b)]);
check(codes.every((c) => c === 1000), `clean close codes ${codes}`);
console.log(`node ${process.version}: heartbeat, join, broadcast, leave ok`);
