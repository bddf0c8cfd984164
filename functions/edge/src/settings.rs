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
    /// The verifier, built once per isolate. An isolate runs one version of the Worker
    /// with one set of vars and secrets (a new deployment or a changed secret starts new
    /// isolates), so there is nothing to re-check per request; re-reading and comparing the
    /// JWKS text on every request cost a third of the Worker's CPU at 350 sends per second.
    static VERIFIER: std::cell::RefCell<Option<std::rc::Rc<edge_auth::Verifier>>> = const { std::cell::RefCell::new(None) };
}

/// The token verifier: `JWT_SECRET` (HS256) plus, when `JWKS` holds a JWKS document,
/// its ES256 / RS256 keys chosen by `kid`.
pub fn verifier(env: &Env) -> Result<std::rc::Rc<edge_auth::Verifier>, EdgeError> {
    if let Some(v) = VERIFIER.with(|c| c.borrow().clone()) {
        return Ok(v);
    }
    let mut verifier = edge_auth::Verifier::hs256(jwt_secret(env)?.as_bytes());
    if let Some(jwks) = text(env, "JWKS") {
        verifier = verifier.with_jwks(&jwks).map_err(|e| EdgeError::Misconfigured(e.to_string()))?;
    }
    let verifier = std::rc::Rc::new(verifier);
    VERIFIER.with(|c| *c.borrow_mut() = Some(verifier.clone()));
    Ok(verifier)
}

/// The Worker's version, reported by the health endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

thread_local! {
    /// The limits, parsed once per isolate (its vars cannot change under it).
    static LIMITS: std::cell::RefCell<Option<Result<room::Limits, String>>> = const { std::cell::RefCell::new(None) };
}

/// The realtime endpoint's and edge functions' limits, from the vars (defaults and
/// meanings: [`room::Limits`]). A value that does not parse is a configuration error,
/// never replaced by a default: every entry point refuses and health names the variable.
pub fn limits(env: &Env) -> Result<room::Limits, EdgeError> {
    let parsed = LIMITS
        .with(|c| c.borrow_mut().get_or_insert_with(|| room::Limits::from_lookup(|name| text(env, name))).clone());
    parsed.map_err(EdgeError::Misconfigured)
}

/// Everything the Worker needs from its configuration to serve, checked together (for
/// health): the token keys and the limits.
pub fn check(env: &Env) -> Result<(), String> {
    verifier(env).map_err(|e| e.to_string())?;
    limits(env).map_err(|e| e.to_string())?;
    Ok(())
}
