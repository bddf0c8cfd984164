//! Global presence through the edge: reading the status of up to [`MAX_USERS`] users at
//! once, and choosing how one appears. Whether a user is connected is the system's
//! (the `room` crate's `global_presence`, kept by the user's
//! object); what others see is the database's `user_presence` row.

use crate::ApiError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most users one presence read may name.
pub const MAX_USERS: usize = 200;
/// Largest body `POST /functions/v1/presence` accepts.
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Longest activity text, in characters (`user_presence.activity`'s check).
pub const MAX_ACTIVITY_CHARS: usize = 120;

/// How a user chooses to appear; invisible looks offline to everyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Chosen {
    Online,
    Away,
    Busy,
    Invisible,
}

impl Chosen {
    pub fn as_str(self) -> &'static str {
        match self {
            Chosen::Online => "online",
            Chosen::Away => "away",
            Chosen::Busy => "busy",
            Chosen::Invisible => "invisible",
        }
    }
}

/// `POST /functions/v1/presence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPresence {
    pub status: Chosen,
    #[serde(default)]
    #[schemars(length(max = MAX_ACTIVITY_CHARS))]
    pub activity: Option<String>,
}

impl SetPresence {
    pub fn check(&self) -> Result<(), ApiError> {
        if let Some(activity) = &self.activity {
            if activity.chars().count() > MAX_ACTIVITY_CHARS || activity.chars().any(char::is_control) {
                return Err(ApiError::invalid_field(
                    "activity",
                    format!("at most {MAX_ACTIVITY_CHARS} printable characters"),
                ));
            }
        }
        Ok(())
    }
}

/// `GET /functions/v1/presence?user_ids=<id>,<id>,…`: 1 to [`MAX_USERS`] distinct ids,
/// comma-separated (the parameter may also repeat).
pub fn user_ids<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Vec<Uuid>, ApiError> {
    let mut ids: Vec<Uuid> = Vec::new();
    for (key, value) in pairs {
        if key.as_ref() != "user_ids" {
            return Err(ApiError::invalid_field(key.as_ref(), "not a parameter of this endpoint"));
        }
        for part in value.as_ref().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let id = Uuid::parse_str(part).map_err(|_| ApiError::invalid_field("user_ids", "a list of user UUIDs"))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    if ids.is_empty() || ids.len() > MAX_USERS {
        return Err(ApiError::invalid_field("user_ids", format!("name 1 to {MAX_USERS} users")));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_read_names_one_to_two_hundred_users() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert_eq!(user_ids([("user_ids", format!("{a},{b},{a}"))]), Ok(vec![a, b]));
        assert_eq!(user_ids([("user_ids", a.to_string()), ("user_ids", b.to_string())]), Ok(vec![a, b]));
        let many: Vec<String> = (0..=MAX_USERS as u128).map(|i| Uuid::from_u128(i).to_string()).collect();
        for bad in [String::new(), "nope".into(), many.join(",")] {
            let e = user_ids([("user_ids", bad.clone())]).unwrap_err();
            assert!(e.message.starts_with("user_ids:"), "{bad}: {e:?}");
        }
        assert!(user_ids([("ids", a.to_string())]).is_err());
    }

    #[test]
    fn a_choice_is_one_of_four_and_the_activity_is_short() {
        let parse = |body: &str| crate::body::parse::<SetPresence>(body.as_bytes(), MAX_REQUEST_BYTES);
        assert_eq!(parse(r#"{"status": "invisible"}"#).map(|s| s.status), Ok(Chosen::Invisible));
        assert!(parse(r#"{"status": "offline"}"#).is_err(), "offline is the system's to say");
        assert!(parse(r#"{"status": "away", "user_id": "x"}"#).is_err());
        let long = SetPresence { status: Chosen::Busy, activity: Some("x".repeat(MAX_ACTIVITY_CHARS + 1)) };
        assert!(long.check().is_err_and(|e| e.message.starts_with("activity:")));
    }
}
