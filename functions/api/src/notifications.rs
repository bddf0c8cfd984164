//! Notifications: a user's list (newest first, optionally unread only), marking some or
//! all read, and the unread count. They are created by the database (triggers and
//! `public.notify`), never through these endpoints.

use crate::ApiError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest body `POST /functions/v1/notifications/read` accepts.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Most ids one "mark read" may name.
pub const MAX_IDS: usize = 100;

/// `POST /functions/v1/notifications/read`: `{"ids": [...]}` or `{"all": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MarkNotificationsRead")]
pub struct MarkRead {
    #[serde(default)]
    #[schemars(length(min = 1, max = MAX_IDS))]
    pub ids: Option<Vec<Uuid>>,
    #[serde(default)]
    pub all: Option<bool>,
}

/// Which notifications a "mark read" is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Marked {
    Ids(Vec<Uuid>),
    All,
}

impl MarkRead {
    /// Exactly one of `ids` (1 to [`MAX_IDS`]) or `all: true`.
    pub fn target(self) -> Result<Marked, ApiError> {
        match (self.ids, self.all) {
            (Some(ids), None | Some(false)) if ids.is_empty() => {
                Err(ApiError::invalid_field("ids", "name at least one"))
            }
            (Some(ids), None | Some(false)) if ids.len() > MAX_IDS => {
                Err(ApiError::invalid_field("ids", format!("at most {MAX_IDS} at once; or send {{\"all\": true}}")))
            }
            (Some(ids), None | Some(false)) => Ok(Marked::Ids(ids)),
            (None, Some(true)) => Ok(Marked::All),
            (Some(_), Some(true)) => Err(ApiError::invalid("send either ids or all, not both")),
            (None, _) => Err(ApiError::invalid("send the ids to mark read, or {\"all\": true}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Marked, ApiError> {
        crate::body::parse::<MarkRead>(body.as_bytes(), MAX_REQUEST_BYTES)?.target()
    }

    #[test]
    fn mark_read_names_ids_or_all_and_nothing_else() {
        let id = Uuid::from_u128(9);
        assert_eq!(parse(&format!(r#"{{"ids": ["{id}"]}}"#)), Ok(Marked::Ids(vec![id])));
        assert_eq!(parse(r#"{"all": true}"#), Ok(Marked::All));
        for bad in [
            r#"{}"#,
            r#"{"all": false}"#,
            r#"{"ids": []}"#,
            r#"{"ids": ["x"]}"#,
            r#"{"all": true, "ids": []}"#,
            r#"{"read": true}"#,
        ] {
            assert!(parse(bad).is_err_and(|e| e.status == 400), "{bad}");
        }
        let many: Vec<String> = (0..=MAX_IDS).map(|i| format!("\"{}\"", Uuid::from_u128(i as u128))).collect();
        let e = parse(&format!(r#"{{"ids": [{}]}}"#, many.join(","))).unwrap_err();
        assert!(e.message.starts_with("ids:"), "{e:?}");
    }
}
