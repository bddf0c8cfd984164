//! Pass-through to the Supabase project for the APIs this Worker does not serve (REST,
//! Auth, Storage, GraphQL), so an app using supabase-js changes one URL: the project URL
//! becomes the edge's, realtime is served here, and everything else reaches Supabase
//! unchanged (headers, method, body, status).
//!
//! Off unless `SUPABASE_URL` is set. Request bodies are buffered: fine for API calls;
//! large Storage uploads are better sent to Supabase directly.

use crate::error::EdgeError;
use crate::settings;
use worker::{Env, Fetch, Headers, Request, RequestInit, Response};

/// The path prefixes passed through.
pub const PREFIXES: [&str; 4] = ["/rest/v1/", "/auth/v1/", "/storage/v1/", "/graphql/v1"];

pub fn handles(path: &str) -> bool {
    PREFIXES.iter().any(|p| path.starts_with(p))
}

pub async fn forward(mut req: Request, env: &Env) -> Result<Response, EdgeError> {
    let Some(base) = settings::text(env, "SUPABASE_URL") else {
        return Err(EdgeError::NotFound);
    };
    let url = req.url()?;
    let mut target = url::Url::parse(base.trim_end_matches('/'))
        .map_err(|e| EdgeError::Misconfigured(format!("SUPABASE_URL does not parse: {e}")))?;
    target.set_path(url.path());
    target.set_query(url.query());
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        // The upstream's own host, and no hop-by-hop headers.
        if !matches!(name.as_str(), "host" | "connection" | "keep-alive" | "transfer-encoding" | "upgrade") {
            headers.append(&name, &value)?;
        }
    }
    let method = req.method();
    let body = match method {
        worker::Method::Get | worker::Method::Head => None,
        _ => Some(req.bytes().await?),
    };
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(body) = body {
        init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    let upstream = Request::new_with_init(target.as_str(), &init)?;
    Fetch::Request(upstream).send().await.map_err(|e| EdgeError::UpstreamUnavailable(e.to_string()))
}
