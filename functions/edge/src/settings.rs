//! Configuration, read from `wrangler.toml` `[vars]`, secrets, and `.dev.vars` locally.

use crate::error::EdgeError;
use worker::Env;

/// A text binding, whether declared as a var or as a secret.
pub fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|s| s.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}

/// A numeric setting with a default; a value that does not parse is a configuration error.
pub fn number(env: &Env, name: &str, default: u64) -> Result<u64, EdgeError> {
    match text(env, name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| EdgeError::Misconfigured(format!("{name} must be a whole number, got {raw:?}"))),
    }
}

/// The HS256 secret that signs the project's tokens.
pub fn jwt_secret(env: &Env) -> Result<String, EdgeError> {
    text(env, "JWT_SECRET").ok_or_else(|| EdgeError::Misconfigured("JWT_SECRET is not set".into()))
}

thread_local! {
    /// The verifier built from the current configuration, kept for the isolate's life:
    /// parsing the JWKS on every request would cost more than verifying.
    static VERIFIER: std::cell::RefCell<Option<(String, edge_auth::Verifier)>> = const { std::cell::RefCell::new(None) };
}

/// The token verifier: `JWT_SECRET` (HS256) plus, when `JWKS` holds a JWKS document,
/// its ES256 / RS256 keys chosen by `kid`.
pub fn verifier(env: &Env) -> Result<edge_auth::Verifier, EdgeError> {
    let secret = jwt_secret(env)?;
    let jwks = text(env, "JWKS");
    let config_key = format!("{}\u{0}{secret}", jwks.as_deref().unwrap_or(""));
    if let Some(v) = VERIFIER.with(|c| c.borrow().as_ref().filter(|(k, _)| *k == config_key).map(|(_, v)| v.clone())) {
        return Ok(v);
    }
    let mut verifier = edge_auth::Verifier::hs256(secret.as_bytes());
    if let Some(jwks) = jwks {
        verifier = verifier.with_jwks(&jwks).map_err(|e| EdgeError::Misconfigured(e.to_string()))?;
    }
    VERIFIER.with(|c| *c.borrow_mut() = Some((config_key, verifier.clone())));
    Ok(verifier)
}

/// The Worker's version, reported by the health endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Limits of the realtime endpoint (defaults from the product spec).
#[derive(Debug, Clone, Copy)]
pub struct RealtimeLimits {
    pub max_channels_per_connection: usize,
    pub max_frame_bytes: usize,
    pub events_per_second: u32,
    pub joins_per_second: u32,
    /// A client that sends nothing for this long is disconnected.
    pub idle_timeout_ms: u64,
}

impl RealtimeLimits {
    pub fn from_env(env: &Env) -> Result<RealtimeLimits, EdgeError> {
        Ok(RealtimeLimits {
            max_channels_per_connection: number(env, "MAX_CHANNELS_PER_CONNECTION", 100)? as usize,
            max_frame_bytes: number(env, "MAX_FRAME_BYTES", 3_200_000)? as usize,
            events_per_second: number(env, "MAX_EVENTS_PER_SECOND", 100)? as u32,
            joins_per_second: number(env, "MAX_JOINS_PER_SECOND", 100)? as u32,
            idle_timeout_ms: number(env, "IDLE_TIMEOUT_MS", 60_000)?,
        })
    }
}
