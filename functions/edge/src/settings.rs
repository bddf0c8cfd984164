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

/// The realtime endpoint's limits, from the vars (defaults and meanings: [`room::Limits`]).
pub fn limits(env: &Env) -> Result<room::Limits, EdgeError> {
    room::Limits::from_lookup(|name| text(env, name)).map_err(EdgeError::Misconfigured)
}
