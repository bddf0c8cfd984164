//! The `config` object of a `phx_join`.
//!
//! Clients written in other languages send booleans as strings ("true"), and older
//! clients omit whole sections, so every field has a default and parsing never fails.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JoinConfig {
    /// Deliver the sender's own broadcasts back to it.
    pub broadcast_self: bool,
    /// Answer each broadcast push with a reply.
    pub broadcast_ack: bool,
    /// The presence key (defaults to empty, which the client replaces by a random one).
    pub presence_key: String,
    pub presence_enabled: bool,
    /// Authorized by policy rather than open to every holder of a valid token.
    pub private: bool,
    /// `config.postgres_changes_replay.after`: the last change position the client saw;
    /// the channel first receives every later change its bindings match, then the live
    /// stream, with no gap and nothing twice.
    #[serde(default)]
    pub changes_after: Option<i64>,
    /// `config.broadcast.replay`: broadcasts from the database sent since a moment, first.
    #[serde(default)]
    pub broadcast_replay: Option<BroadcastReplay>,
}

/// Most broadcasts one replay sends, as Supabase allows.
pub const MAX_REPLAY: u32 = 25;

/// Supabase's broadcast replay: on a private channel, the latest `limit` broadcasts from
/// the database stored at or after `since_ms` (milliseconds since the epoch), oldest
/// first, before the live stream.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BroadcastReplay {
    pub since_ms: i64,
    pub limit: u32,
}

impl BroadcastReplay {
    /// Reads `config.broadcast.replay`: None when absent, an error naming what is wrong
    /// when it is malformed or asked of a public channel.
    pub fn from_join_payload(payload: &Map<String, Value>) -> Result<Option<BroadcastReplay>, String> {
        let config = payload.get("config").and_then(Value::as_object);
        let Some(replay) = config.and_then(|c| c.get("broadcast")).and_then(|b| b.get("replay")) else {
            return Ok(None);
        };
        let private = config.and_then(|c| c.get("private")).map(flag).unwrap_or(false);
        if !private {
            return Err("broadcast.replay works on private channels only".into());
        }
        let since_ms = replay.get("since").and_then(Value::as_i64).filter(|s| *s >= 0);
        let limit = match replay.get("limit") {
            None | Some(Value::Null) => Some(MAX_REPLAY),
            Some(v) => v.as_u64().filter(|l| (1..=u64::from(MAX_REPLAY)).contains(l)).map(|l| l as u32),
        };
        match (since_ms, limit) {
            (Some(since_ms), Some(limit)) => Ok(Some(BroadcastReplay { since_ms, limit })),
            _ => Err(format!(
                "broadcast.replay needs `since` (milliseconds since the epoch) and an optional `limit` from 1 to {MAX_REPLAY}"
            )),
        }
    }
}

impl JoinConfig {
    /// Reads `payload.config` of a join.
    pub fn from_join_payload(payload: &Map<String, Value>) -> JoinConfig {
        let config = payload.get("config").and_then(Value::as_object);
        let section = |name: &str| config.and_then(|c| c.get(name)).and_then(Value::as_object);
        let field = |section: Option<&Map<String, Value>>, name: &str| section.and_then(|s| s.get(name)).map(flag);
        let broadcast = section("broadcast");
        let presence = section("presence");
        JoinConfig {
            broadcast_self: field(broadcast, "self").unwrap_or(false),
            broadcast_ack: field(broadcast, "ack").unwrap_or(false),
            presence_key: presence
                .and_then(|p| p.get("key"))
                .map(|k| match k {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default(),
            presence_enabled: field(presence, "enabled").unwrap_or(false),
            private: config.and_then(|c| c.get("private")).map(flag).unwrap_or(false),
            changes_after: section("postgres_changes_replay").and_then(|r| r.get("after")).and_then(Value::as_i64),
            broadcast_replay: BroadcastReplay::from_join_payload(payload).ok().flatten(),
        }
    }
}

/// A boolean as clients send it: `true`, or the string "true" in any case. The one
/// parser of flags such as `private`, for joins and the REST broadcast alike.
pub fn flag(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> JoinConfig {
        JoinConfig::from_join_payload(v.as_object().unwrap())
    }

    #[test]
    fn the_realtime_js_default_config_parses() {
        let c = parse(
            json!({"config": {"broadcast": {"ack": false, "self": false}, "presence": {"key": "", "enabled": false}, "postgres_changes": [], "private": false}}),
        );
        assert_eq!(c, JoinConfig::default());
    }

    #[test]
    fn booleans_may_arrive_as_strings() {
        let c = parse(
            json!({"config": {"broadcast": {"ack": "true", "self": "TRUE"}, "presence": {"key": "u1", "enabled": "true"}, "private": "true"}}),
        );
        assert!(c.broadcast_ack && c.broadcast_self && c.presence_enabled && c.private);
        assert_eq!(c.presence_key, "u1");
    }

    #[test]
    fn missing_or_odd_sections_fall_back_to_defaults() {
        assert_eq!(parse(json!({})), JoinConfig::default());
        assert_eq!(parse(json!({"config": 5})), JoinConfig::default());
        assert_eq!(parse(json!({"config": {"broadcast": [], "private": 1}})), JoinConfig::default());
        assert_eq!(parse(json!({"config": {"presence": {"key": 42}}})).presence_key, "42");
    }

    #[test]
    fn broadcast_replay_is_read_on_private_channels_and_refused_when_malformed_or_public() {
        let replay = |config: Value| BroadcastReplay::from_join_payload(json!({"config": config}).as_object().unwrap());
        assert_eq!(replay(json!({"private": true})), Ok(None));
        assert_eq!(
            replay(json!({"private": true, "broadcast": {"replay": {"since": 1700000000000_i64}}})),
            Ok(Some(BroadcastReplay { since_ms: 1_700_000_000_000, limit: MAX_REPLAY }))
        );
        assert_eq!(
            replay(json!({"private": "true", "broadcast": {"replay": {"since": 5, "limit": 3}}})),
            Ok(Some(BroadcastReplay { since_ms: 5, limit: 3 }))
        );
        assert!(replay(json!({"broadcast": {"replay": {"since": 5}}})).unwrap_err().contains("private channels only"));
        for bad in [
            json!({}),
            json!({"since": -1}),
            json!({"since": "5"}),
            json!({"since": 5, "limit": 0}),
            json!({"since": 5, "limit": 26}),
            json!({"since": 5, "limit": 2.5}),
            json!(7),
        ] {
            let got = replay(json!({"private": true, "broadcast": {"replay": bad.clone()}}));
            assert!(got.as_ref().is_err_and(|e| e.contains("needs `since`")), "{bad}: {got:?}");
        }
        let c = parse(json!({"config": {"private": true, "broadcast": {"replay": {"since": 9, "limit": 2}}}}));
        assert_eq!(c.broadcast_replay, Some(BroadcastReplay { since_ms: 9, limit: 2 }));
    }
}
