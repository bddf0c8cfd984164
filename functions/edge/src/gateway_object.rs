//! The `Gateway` Durable Object: where multiplexed client sockets (the one supabase-js
//! uses) live, so that clients share their upstreams to rooms.
//!
//! Each client connection is handed by the Worker, after it verified the apikey, to one
//! of [`GATEWAYS`] gateways (by its connection id). A gateway runs the connection's
//! session (`crate::realtime_socket`) and joins its channels to rooms through its hubs
//! (`crate::hub`), one socket per room shared by all its clients there: a room then sends
//! a broadcast once per gateway, not once per subscriber. This needs an object, not the
//! stateless Worker: a Worker request's handler may use only the sockets it opened
//! itself, while all requests to one object share the object's sockets.

use crate::{hub, realtime_socket, settings};
use realtime_protocol::Vsn;
use room::Identity;
use worker::{durable_object, DurableObject, Env, Headers, Request, RequestInit, Response, Result, State};

/// How many gateways share the multiplexed connections. More spread the per-client work
/// (heartbeats, session rules, copies to each client) over more objects; fewer make a
/// room send each broadcast fewer times. Measured in docs/architecture.md.
pub const GATEWAYS: u64 = 8;

const INTERNAL_URL: &str = "https://gateway.internal";

/// Hands a verified client upgrade to its gateway; the gateway's 101 goes back to the
/// client, which then talks to the gateway with no Worker in between.
pub async fn connect(env: &Env, conn_id: &str, identity: &Identity, vsn: Vsn) -> Result<Response> {
    // FNV-1a: a stable spread of connection ids over the gateways.
    let hash = conn_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let stub = env.durable_object("GATEWAYS")?.get_by_name(&format!("gateway-{}", hash % GATEWAYS))?;
    let identity = serde_json::to_string(identity).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let mut url = url::Url::parse(&format!("{INTERNAL_URL}/connect"))?;
    url.query_pairs_mut()
        .append_pair("conn", conn_id)
        .append_pair("vsn", vsn.as_str())
        .append_pair("identity", &identity);
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_headers(headers);
    stub.fetch_with_request(Request::new_with_init(url.as_str(), &init)?).await
}

#[durable_object]
pub struct Gateway {
    env: Env,
    hubs: hub::Hubs,
}

impl DurableObject for Gateway {
    fn new(_state: State, env: Env) -> Self {
        Gateway { env, hubs: hub::Hubs::default() }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let limits = match settings::limits(&self.env) {
            Ok(limits) => limits,
            Err(e) => return crate::error::EdgeError::Misconfigured(e.to_string()).into_response(),
        };
        let url = req.url()?;
        let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let (Some(conn_id), Some(vsn), Some(identity)) = (
            query("conn"),
            Vsn::from_query(query("vsn").as_deref()),
            query("identity").and_then(|c| serde_json::from_str::<Identity>(&c).ok()),
        ) else {
            return Response::error("bad connect request", 400);
        };
        let client = realtime_socket::Client { conn_id, identity, vsn, limits };
        realtime_socket::serve(self.env.clone(), self.hubs.clone(), client)
    }
}
