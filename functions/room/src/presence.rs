//! Presence: who is in a room, as Phoenix presence frames describe it.
//!
//! Each socket tracks at most one meta under its channel's presence key. The state is
//! `{key: {"metas": [meta, ...]}}`; several sockets (several devices of one user) may
//! share a key, one meta each. Every meta carries a unique `phx_ref` and the verified
//! `user_id` of its socket, which overrides anything the client put there.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// One socket's tracked presence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    pub key: String,
    pub meta: Map<String, Value>,
}

impl Tracked {
    pub fn phx_ref(&self) -> Option<&str> {
        self.meta.get("phx_ref").and_then(Value::as_str)
    }
}

/// Builds the meta for a `track` payload.
pub fn meta(
    payload: &Map<String, Value>,
    phx_ref: String,
    user_id: Option<&str>,
    prev: Option<&Tracked>,
) -> Map<String, Value> {
    let mut meta = payload.clone();
    meta.remove("phx_ref_prev");
    meta.insert("phx_ref".into(), Value::String(phx_ref));
    meta.insert("user_id".into(), user_id.map_or(Value::Null, |u| Value::String(u.to_string())));
    if let Some(prev_ref) = prev.and_then(Tracked::phx_ref) {
        meta.insert("phx_ref_prev".into(), Value::String(prev_ref.to_string()));
    }
    meta
}

/// `{key: {"metas": [...]}}` for a set of tracked entries.
pub fn grouped<'a>(entries: impl IntoIterator<Item = &'a Tracked>) -> Map<String, Value> {
    let mut state = Map::new();
    for entry in entries {
        let slot = state.entry(entry.key.clone()).or_insert_with(|| json!({"metas": []}));
        if let Some(Value::Array(metas)) = slot.get_mut("metas") {
            metas.push(Value::Object(entry.meta.clone()));
        }
    }
    state
}

/// The payload of a `presence_diff`.
pub fn diff(joins: &[Tracked], leaves: &[Tracked]) -> Map<String, Value> {
    let mut payload = Map::new();
    payload.insert("joins".into(), Value::Object(grouped(joins)));
    payload.insert("leaves".into(), Value::Object(grouped(leaves)));
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(key: &str, r: &str) -> Tracked {
        Tracked { key: key.into(), meta: meta(&Map::new(), r.into(), Some("u1"), None) }
    }

    #[test]
    fn the_verified_user_id_overrides_the_client_one() {
        let payload = json!({"user_id": "someone-else", "status": "online"});
        let m = meta(payload.as_object().unwrap(), "r1".into(), Some("me"), None);
        assert_eq!(Value::Object(m), json!({"user_id": "me", "status": "online", "phx_ref": "r1"}));
    }

    #[test]
    fn a_retrack_points_back_at_the_previous_meta() {
        let old = tracked("k", "r1");
        let m = meta(&Map::new(), "r2".into(), Some("u1"), Some(&old));
        assert_eq!(m["phx_ref_prev"], "r1");
        assert_eq!(m["phx_ref"], "r2");
    }

    #[test]
    fn metas_of_one_key_are_grouped() {
        let state = grouped(&[tracked("ada", "1"), tracked("ada", "2"), tracked("basil", "3")]);
        assert_eq!(state["ada"]["metas"].as_array().unwrap().len(), 2);
        assert_eq!(state["basil"]["metas"][0]["phx_ref"], "3");
    }

    #[test]
    fn a_diff_has_joins_and_leaves() {
        let d = diff(&[tracked("a", "2")], &[tracked("a", "1")]);
        assert_eq!(d["joins"]["a"]["metas"][0]["phx_ref"], "2");
        assert_eq!(d["leaves"]["a"]["metas"][0]["phx_ref"], "1");
        assert_eq!(Value::Object(diff(&[], &[])), json!({"joins": {}, "leaves": {}}));
    }
}
