//! `GET /functions/v1/health`: is this Worker up, and can it reach its database now?
//!
//! 200 when a live round trip to Postgres succeeds, 503 with a JSON error when it does
//! not, 500 naming the setting when the configuration is invalid (a limit that is not a
//! number, no `JWT_SECRET`, a `JWKS` that does not parse). The database's answer is not
//! cached, so it recovers as soon as the database does.

use crate::error::{json_response, EdgeError};
use crate::{clock, db, settings};
use serde_json::json;
use worker::{Env, Response};

pub async fn get(env: &Env) -> Result<Response, EdgeError> {
    if let Err(problem) = settings::check(env) {
        // Said in full here (and nowhere else): an operator must see which setting.
        return Ok(json_response(
            500,
            &json!({
                "status": "misconfigured",
                "error": edge_api::ApiError::misconfigured(problem).body()["error"],
                "version": settings::VERSION,
            }),
        )?);
    }
    let started = clock::now_millis();
    match round_trip(env).await {
        Ok(server_version) => Ok(json_response(
            200,
            &json!({
                "status": "ok",
                "version": settings::VERSION,
                "database": {
                    "ok": true,
                    "server_version": server_version,
                    "latency_ms": clock::now_millis().saturating_sub(started),
                },
            }),
        )?),
        Err(EdgeError::DatabaseUnavailable(reason)) => Ok(json_response(
            503,
            &json!({
                "status": "unavailable",
                "error": edge_api::ApiError::database_unavailable().body()["error"],
                "version": settings::VERSION,
                "database": { "ok": false, "error": reason },
            }),
        )?),
        Err(other) => Err(other),
    }
}

async fn round_trip(env: &Env) -> Result<String, EdgeError> {
    let client = db::connect(env).await?;
    let row = client.query_one("select current_setting('server_version')", &[]).await.map_err(db::unavailable)?;
    row.try_get::<_, String>(0).map_err(db::unavailable)
}
