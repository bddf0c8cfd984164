//! Helpers for the end-to-end tests: where the stack is, tokens, and a small realtime
//! client that speaks both framings over a real WebSocket.
//!
//! `scripts/test.sh` starts PostgreSQL and `wrangler dev` and sets `E2E_*` variables;
//! a test run without them fails loudly rather than passing vacuously.

use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{Frame, Vsn};
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
pub use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame it expects.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a test waits to be sure a frame does not come.
pub const QUIET: Duration = Duration::from_millis(700);

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the end-to-end suite with `make test`"))
}

/// `http://127.0.0.1:<port>` of the Worker under test.
pub fn base_url() -> String {
    required("E2E_BASE_URL")
}

pub fn jwt_secret() -> String {
    required("E2E_JWT_SECRET")
}

/// Microseconds since the epoch: the benchmarks' stamps, compared across processes.
pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Microseconds since the epoch of a delivery's `commit_timestamp`
/// (`YYYY-MM-DDTHH:MM:SS.mmmZ`, UTC, as the feed writes it); None for any other shape.
pub fn commit_timestamp_micros(ts: &str) -> Option<u64> {
    let b = ts.as_bytes();
    if b.len() != 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'.' || b[23] != b'Z' {
        return None;
    }
    let n = |from: usize, to: usize| ts.get(from..to)?.parse::<i64>().ok();
    let (y, m, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (hh, mm, ss, ms) = (n(11, 13)?, n(14, 16)?, n(17, 19)?, n(20, 23)?);
    // Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse).
    let (y, m) = if m <= 2 { (y - 1, m + 12) } else { (y, m) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m - 3) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs * 1_000_000 + ms * 1000).ok()
}

/// The `p` quantile (0 to 1) of sorted microsecond samples, in milliseconds; NaN for none.
pub fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Demo users from supabase/seed.sql.
pub const ADA: &str = "11111111-1111-4111-8111-111111111111";
pub const BASIL: &str = "22222222-2222-4222-8222-222222222222";

/// A valid token for user `sub`, signed with the stack's secret.
pub fn user_token(sub: &str) -> String {
    sign(&json!({"sub": sub, "role": "authenticated", "aud": "authenticated", "exp": now() + 3600}))
}

/// A service-role token (the backend's own key), valid for ten minutes.
pub fn service_token() -> String {
    sign(&json!({"role": "service_role", "exp": now() + 600}))
}

pub fn sign(claims: &Value) -> String {
    edge_auth::mint_hs256(jwt_secret().as_bytes(), claims).expect("signing a test token")
}

/// A topic no other test uses, so tests can run in parallel against one Worker.
pub fn unique_topic(label: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("realtime:{label}-{}-{nanos}-{n}", std::process::id())
}

/// The URL of a per-topic socket.
pub fn direct_url(token: &str, topic: &str, private: bool, vsn: Vsn) -> String {
    let base = base_url().replacen("http", "ws", 1);
    let topic: String = url_encode(topic);
    format!("{base}/realtime/v1/channel/websocket?apikey={token}&vsn={}&topic={topic}&private={private}", vsn.as_str())
}

/// Percent-encodes everything but unreserved characters.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub fn ws_url(query: &str) -> String {
    format!("{}/realtime/v1/websocket?{query}", base_url().replacen("http", "ws", 1))
}

/// What the server said when it refused an upgrade.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub body: Value,
}

/// Attempts an upgrade with the given query string and returns the refusal; panics if
/// the server switched protocols. The request is a plain HTTP client's, because
/// WebSocket clients do not read the body of a refused handshake.
pub async fn refused_upgrade(query: &str) -> Refusal {
    refused_upgrade_with(query, &[]).await
}

pub async fn refused_upgrade_with(query: &str, headers: &[(&str, &str)]) -> Refusal {
    refused_upgrade_at("/realtime/v1/websocket", query, headers).await
}

/// Like [`refused_upgrade_with`], on any upgrade path.
pub async fn refused_upgrade_at(path: &str, query: &str, headers: &[(&str, &str)]) -> Refusal {
    let url = format!("{}{path}?{query}", base_url());
    let mut request = reqwest::Client::new()
        .get(url)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("HTTP request to the Worker");
    let status = response.status().as_u16();
    assert_ne!(status, 101, "the upgrade with {query:?} was accepted");
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Refusal { status, body }
}

/// A frame or a binary message from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Frame(Frame),
    Binary(Vec<u8>),
}

/// Appends (position, record body) of the `postgres_changes` deliveries whose body starts
/// with `tag` until nothing has arrived for `quiet`.
pub async fn collect_changes(c: &mut Client, tag: &str, quiet: Duration, into: &mut Vec<(i64, String)>) {
    while let Some(Received::Frame(f)) = c.try_recv(quiet).await {
        let Some(data) = f.payload.get("data").filter(|_| f.event == "postgres_changes") else { continue };
        let body = data["record"]["body"].as_str().unwrap_or_default();
        if body.starts_with(tag) {
            into.push((data["position"].as_i64().unwrap_or(-1), body.to_string()));
        }
    }
}

/// A realtime client over one socket.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub vsn: Vsn,
    next_ref: u64,
}

impl Client {
    /// Connects as `user` with the given framing.
    pub async fn connect(user: &str, vsn: Vsn) -> Client {
        Client::connect_with_token(&user_token(user), vsn).await
    }

    pub async fn connect_with_token(token: &str, vsn: Vsn) -> Client {
        Client::connect_url(&ws_url(&format!("apikey={token}&vsn={}", vsn.as_str())), vsn).await
    }

    /// A per-topic socket (`/realtime/v1/channel/websocket`) for `topic`, on its private
    /// room when `private`.
    pub async fn connect_direct(token: &str, topic: &str, private: bool, vsn: Vsn) -> Client {
        Client::connect_url(&direct_url(token, topic, private, vsn), vsn).await
    }

    pub async fn connect_url(url: &str, vsn: Vsn) -> Client {
        let (ws, response) = tokio_tungstenite::connect_async(url).await.expect("websocket upgrade");
        assert_eq!(response.status().as_u16(), 101);
        Client { ws, vsn, next_ref: 1 }
    }

    /// Connects with a tiny TCP receive buffer, so a client that stops reading makes the
    /// server's backlog grow after a few kilobytes rather than after the kernel's megabytes.
    pub async fn connect_with_small_buffer(url: &str, vsn: Vsn) -> Client {
        let addr = base_url().trim_start_matches("http://").to_string();
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket.set_recv_buffer_size(4096).expect("a small receive buffer");
        let stream = socket.connect(addr.parse().expect("the Worker's address")).await.expect("TCP connect");
        let (ws, response) =
            tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await.expect("websocket upgrade");
        assert_eq!(response.status().as_u16(), 101);
        Client { ws, vsn, next_ref: 1 }
    }

    pub fn next_ref(&mut self) -> String {
        let r = self.next_ref.to_string();
        self.next_ref += 1;
        r
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.expect("send text");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.expect("send binary");
    }

    pub async fn send(&mut self, frame: &Frame) {
        let text = frame.encode_as_client(self.vsn);
        self.send_text(text).await;
    }

    /// Sends `event` with `payload` on `topic` under `join_ref`; returns the ref used.
    pub async fn push(&mut self, topic: &str, event: &str, payload: Value, join_ref: Option<&str>) -> String {
        let msg_ref = self.next_ref();
        let frame =
            Frame::new(topic, event, object(payload)).with_refs(join_ref.map(str::to_string), Some(msg_ref.clone()));
        self.send(&frame).await;
        msg_ref
    }

    /// Next frame or binary message, skipping pings; panics after [`RECV_TIMEOUT`].
    pub async fn recv(&mut self) -> Received {
        self.try_recv(RECV_TIMEOUT).await.expect("a message from the server within the time-out")
    }

    pub async fn try_recv(&mut self, within: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()??;
            let Ok(message) = message else { return None };
            match message {
                Message::Text(text) => {
                    let frame = Frame::decode(self.vsn, text.as_str())
                        .unwrap_or_else(|e| panic!("server sent an undecodable frame {text:?}: {e}"));
                    return Some(Received::Frame(frame));
                }
                Message::Binary(bytes) => return Some(Received::Binary(bytes.to_vec())),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Next text frame; panics on a binary message.
    pub async fn recv_frame(&mut self) -> Frame {
        match self.recv().await {
            Received::Frame(frame) => frame,
            Received::Binary(b) => panic!("expected a text frame, got {} binary bytes", b.len()),
        }
    }

    /// Waits for the reply to `msg_ref`, skipping other frames; returns its payload.
    pub async fn reply_to(&mut self, msg_ref: &str) -> Map<String, Value> {
        loop {
            let frame = self.recv_frame().await;
            if frame.event == "phx_reply" && frame.msg_ref.as_deref() == Some(msg_ref) {
                return frame.payload;
            }
        }
    }

    /// Joins `topic` with `config` and asserts the join succeeded; returns the join_ref.
    pub async fn join(&mut self, topic: &str, config: Value) -> String {
        let reply = self.join_reply(topic, config).await;
        assert_eq!(reply.1["status"], "ok", "join of {topic} refused: {:?}", reply.1);
        reply.0
    }

    /// Sends a join and returns (join_ref, reply payload) whatever the outcome.
    pub async fn join_reply(&mut self, topic: &str, config: Value) -> (String, Map<String, Value>) {
        let join_ref = self.next_ref();
        let frame = Frame::new(topic, "phx_join", object(json!({"config": config})))
            .with_refs(Some(join_ref.clone()), Some(join_ref.clone()));
        self.send(&frame).await;
        let reply = self.reply_to(&join_ref).await;
        (join_ref, reply)
    }

    /// Asserts that nothing arrives for [`QUIET`].
    pub async fn expect_silence(&mut self, why: &str) {
        if let Some(message) = self.try_recv(QUIET).await {
            panic!("{why}: got {message:?}");
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}

/// GET `path` on the Worker; returns status and JSON body.
pub async fn get_json(path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}{path}", base_url())).await.expect("HTTP request to the Worker");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path} answered {status} with non-JSON {text:?}"));
    (status, body)
}

/// A limit the test stack was started with (scripts/test.sh sets them).
pub fn limit(name: &str) -> usize {
    required(name).parse().unwrap_or_else(|_| panic!("{name} must be a number"))
}

/// A token for a made-up user, for tests that need many distinct users.
pub fn stranger_token(label: &str) -> (String, String) {
    let id = format!("00000000-0000-4000-8000-{:012}", fxhash(label) % 1_000_000_000_000);
    (id.clone(), user_token(&id))
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

impl Client {
    /// Skips frames until one satisfies `pred`; panics after [`RECV_TIMEOUT`].
    pub async fn recv_until(&mut self, what: &str, pred: impl Fn(&Frame) -> bool) -> Frame {
        match self.try_recv_until(RECV_TIMEOUT, pred).await {
            Some(f) => f,
            None => panic!("timed out waiting for {what}"),
        }
    }

    /// The first frame satisfying `pred` within `within` (frames before it are skipped).
    pub async fn try_recv_until(&mut self, within: Duration, pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_recv(left).await {
                Some(Received::Frame(f)) if pred(&f) => return Some(f),
                Some(_) => continue,
                None => return None,
            }
        }
    }

    /// Joins with a full join payload (e.g. with an `access_token`); returns (join_ref, reply).
    pub async fn join_payload(&mut self, topic: &str, payload: Value) -> (String, Map<String, Value>) {
        let join_ref = self.next_ref();
        let frame =
            Frame::new(topic, "phx_join", object(payload)).with_refs(Some(join_ref.clone()), Some(join_ref.clone()));
        self.send(&frame).await;
        let reply = self.reply_to(&join_ref).await;
        (join_ref, reply)
    }
}

impl Client {
    /// Reads until the server closes the socket; returns the close code and reason
    /// (None if the connection ended without a close frame). Panics after `within`.
    pub async fn closed(&mut self, within: Duration) -> Option<(u16, String)> {
        self.closed_after(within).await.0
    }

    /// Reads until the server closes the socket; the close code and reason, and the text
    /// frames read on the way (decoded where they decode).
    pub async fn closed_after(&mut self, within: Duration) -> (Option<(u16, String)>, Vec<Frame>) {
        let deadline = tokio::time::Instant::now() + within;
        let mut frames = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("the server did not close the socket within {within:?}"),
                Ok(None) | Ok(Some(Err(_))) => return (None, frames),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return (frame.map(|f| (u16::from(f.code), f.reason.to_string())), frames);
                }
                Ok(Some(Ok(Message::Text(text)))) => frames.extend(Frame::decode(self.vsn, text.as_str()).ok()),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Sends a raw message, reporting failure instead of panicking (the server may have
    /// closed the socket already).
    pub async fn try_send(&mut self, message: Message) -> bool {
        self.ws.send(message).await.is_ok()
    }
}

/// After an attack: a fresh client still connects, joins, and hears its own broadcast.
pub async fn assert_still_serving() {
    let topic = unique_topic("still-serving");
    let mut c = Client::connect(ADA, Vsn::V2).await;
    let join_ref = c.join(&topic, json!({"broadcast": {"self": true}})).await;
    c.push(
        &topic,
        "broadcast",
        json!({"type": "broadcast", "event": "ping", "payload": {"ok": true}}),
        Some(&join_ref),
    )
    .await;
    let got = c.recv_until("its own broadcast", |f| f.event == "broadcast").await;
    assert_eq!(got.payload["payload"]["ok"], true, "a fresh client is served after the attack");
    c.close().await;
}

/// A connection to the test database as its owner (`E2E_DATABASE_URL`), for tests that
/// write the way psql, PostgREST or a cron job would.
pub async fn database() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&required("E2E_DATABASE_URL"), tokio_postgres::NoTls).await.expect("postgres");
    tokio::spawn(connection);
    client
}

/// An answer of the Worker's HTTP API.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

/// POSTs `body` to `path` with `Authorization: Bearer <token>` (when given), as
/// supabase-js `functions.invoke` does.
pub async fn post_json(path: &str, token: Option<&str>, body: &Value) -> Answer {
    post_bytes(path, token, body.to_string().into_bytes()).await
}

/// Sends `method path` with a JSON `body` (PATCH, PUT, DELETE with a body).
pub async fn send_json(method: reqwest::Method, path: &str, token: Option<&str>, body: &Value) -> Answer {
    let request = reqwest::Client::new()
        .request(method, format!("{}{path}", base_url()))
        .header("content-type", "application/json")
        .body(body.to_string());
    answer_of(request, path, token).await
}

/// POSTs raw `bytes` (a body that may not be JSON at all) to `path`.
pub async fn post_bytes(path: &str, token: Option<&str>, bytes: Vec<u8>) -> Answer {
    let request = reqwest::Client::new()
        .post(format!("{}{path}", base_url()))
        .header("content-type", "application/json")
        .body(bytes);
    answer_of(request, path, token).await
}

/// Sends `request` (with the bearer `token`, when given) and reads its answer; an empty
/// body (204) reads as `null`.
async fn answer_of(mut request: reqwest::RequestBuilder, path: &str, token: Option<&str>) -> Answer {
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("HTTP request to the Worker");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = response.text().await.unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path} answered {status} with non-JSON {text:?}"))
    };
    Answer { status, body, retry_after }
}

/// Sends `method path` with `Authorization: Bearer <token>` (when given) and no body.
pub async fn call(method: reqwest::Method, path: &str, token: Option<&str>) -> Answer {
    answer_of(reqwest::Client::new().request(method, format!("{}{path}", base_url())), path, token).await
}

/// A room's counters from the realtime API, as the service role (`GET
/// /realtime/v1/api/rooms/<topic>`).
pub async fn room_stats(topic: &str) -> Value {
    let service = service_token();
    let response = reqwest::Client::new()
        .get(format!("{}/realtime/v1/api/rooms/{}", base_url(), url_encode(topic)))
        .header("apikey", &service)
        .header("authorization", format!("Bearer {service}"))
        .send()
        .await
        .expect("room stats");
    response.json().await.expect("room stats as JSON")
}

/// A user of its own (in `auth.users`, with a profile named `username`), for tests whose
/// counts must not depend on other tests; (id, token).
pub async fn new_user(label: &str, username: &str) -> (String, String) {
    let (id, token) = stranger_token(label);
    let db = database().await;
    db.execute("insert into auth.users (id) values ($1::text::uuid) on conflict do nothing", &[&id])
        .await
        .expect("a user");
    db.execute(
        "insert into public.profiles (id, username) values ($1::text::uuid, $2) on conflict (id) do nothing",
        &[&id, &username],
    )
    .await
    .expect("a profile");
    (id, token)
}

/// `n` users of their own for `test` (ids and tokens), with distinct usernames.
pub async fn new_users(test: &str, n: usize) -> Vec<(String, String)> {
    let run = unique_topic(test);
    let tag = run.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut made = Vec::new();
    for i in 0..n {
        made.push(new_user(&format!("{run}-{i}"), &format!("u{:x}_{i}", tag % 0xffff_ffff)).await);
    }
    made
}

/// A new group thread created by `owner` with `members`, straight in the database (so
/// tests do not share a thread); its id.
pub async fn new_group_thread(owner: &str, members: &[&str]) -> String {
    let members: Vec<String> = members.iter().map(|m| m.to_string()).collect();
    group_thread_on(&database().await, "e2e", owner, &members).await
}

/// A group thread titled `title` that `owner` created, with the owner (role `owner`) and
/// `members`, written straight on `db` (the tests' and benchmarks' setup); its id.
pub async fn group_thread_on(db: &tokio_postgres::Client, title: &str, owner: &str, members: &[String]) -> String {
    let row = db
        .query_one(
            "insert into public.conversation_threads (kind, title, created_by)
             values ('group', $1, $2::text::uuid) returning id::text",
            &[&title, &owner],
        )
        .await
        .expect("a thread");
    let id: String = row.get(0);
    let everyone: Vec<String> = std::iter::once(owner.to_string()).chain(members.iter().cloned()).collect();
    db.execute(
        "insert into public.conversation_participants (thread_id, user_id, role)
         select $1::text::uuid, u::uuid, case when u = $2 then 'owner' else 'member' end
           from unnest($3::text[]) u
         on conflict do nothing",
        &[&id, &owner, &everyone],
    )
    .await
    .expect("its participants");
    id
}

/// Accounts (`auth.users`) for the benchmarks' made-up user ids, on `db`.
pub async fn insert_users(db: &tokio_postgres::Client, ids: &[String]) {
    db.execute(
        "insert into auth.users (id, aud, role, email)
         select u::uuid, 'authenticated', 'authenticated', u || '@bench.test' from unnest($1::text[]) u
         on conflict (id) do nothing",
        &[&ids],
    )
    .await
    .expect("the users");
}

/// The database's time `seconds` from now, as RFC 3339 (the clock the scheduler and the
/// policies go by).
pub async fn time_from_now(seconds: i64) -> String {
    let row = database()
        .await
        .query_one("select to_json(now() + make_interval(secs => $1::bigint))#>>'{}'", &[&seconds])
        .await
        .expect("the database's time");
    row.get(0)
}

#[cfg(test)]
mod tests {
    use super::commit_timestamp_micros;

    #[test]
    fn commit_timestamps_read_as_epoch_microseconds() {
        assert_eq!(commit_timestamp_micros("1970-01-01T00:00:00.000Z"), Some(0));
        // 2026-11-27 16:30:05.123 UTC, checked with `date -u -d ... +%s`: 1795797005.
        assert_eq!(commit_timestamp_micros("2026-11-27T16:30:05.123Z"), Some(1_795_797_005_123_000));
        assert_eq!(commit_timestamp_micros("2000-02-29T23:59:59.999Z"), Some(951_868_799_999_000));
        assert_eq!(commit_timestamp_micros("2026-11-27 16:30:05.123Z"), None);
        assert_eq!(commit_timestamp_micros("2026-11-27T16:30:05Z"), None);
    }
}
