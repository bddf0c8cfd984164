//! Threads: opening a direct thread, creating a group thread, adding and removing
//! participants, leaving, muting, marking read, reading the history, and editing or
//! deleting a message.
//!
//! The database has the last word (migrations 20261127140000 to 20261127140300: the
//! participant limit, fixed direct pairs, ownership handed over when the owner leaves,
//! who may delete); the checks here run first so a client gets an error naming the field.

use crate::messages::{Attachment, NewMessage};
use crate::ApiError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest body of a thread request (a full participant list fits).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Most participants of a thread, the caller included (the product's users per channel;
/// the database's `conversation_participants_limit` trigger holds the same number).
pub const MAX_PARTICIPANTS: usize = 200;
/// Longest group thread title, in characters (`conversation_threads.title`'s check).
pub const MAX_TITLE_CHARS: usize = 120;
/// Most users one request may add to a thread.
pub const MAX_ADDED: usize = 100;
/// Messages per history page unless `limit` says otherwise, and the most it may ask for.
pub const DEFAULT_HISTORY_PAGE: u32 = 50;
pub const MAX_HISTORY_PAGE: u32 = 100;

/// `POST /functions/v1/threads/direct`: the caller's direct thread with `user_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectThread {
    pub user_id: Uuid,
}

impl DirectThread {
    pub fn check(&self, caller: &str) -> Result<(), ApiError> {
        if self.user_id.to_string() == caller {
            return Err(ApiError::invalid_field("user_id", "a direct thread is with someone else"));
        }
        Ok(())
    }
}

/// `POST /functions/v1/threads`: a group thread owned by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroupThread {
    #[serde(default)]
    #[schemars(length(min = 1, max = MAX_TITLE_CHARS))]
    pub title: Option<String>,
    #[serde(default)]
    #[schemars(length(max = MAX_PARTICIPANTS - 1))]
    pub participant_ids: Vec<Uuid>,
}

impl NewGroupThread {
    pub fn check(&self) -> Result<(), ApiError> {
        if let Some(title) = &self.title {
            let chars = title.trim().chars().count();
            if chars == 0 || chars > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
                return Err(ApiError::invalid_field("title", format!("1 to {MAX_TITLE_CHARS} printable characters")));
            }
        }
        if self.participant_ids.len() >= MAX_PARTICIPANTS {
            return Err(ApiError::invalid_field(
                "participant_ids",
                format!("at most {} besides you", MAX_PARTICIPANTS - 1),
            ));
        }
        Ok(())
    }
}

/// `POST /functions/v1/threads/<id>/participants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddParticipants {
    #[schemars(length(min = 1, max = MAX_ADDED))]
    pub user_ids: Vec<Uuid>,
}

impl AddParticipants {
    pub fn check(&self) -> Result<(), ApiError> {
        if self.user_ids.is_empty() || self.user_ids.len() > MAX_ADDED {
            return Err(ApiError::invalid_field("user_ids", format!("name 1 to {MAX_ADDED} users")));
        }
        Ok(())
    }
}

/// `POST /functions/v1/threads/<id>/mute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mute {
    pub muted: bool,
}

/// `POST /functions/v1/threads/<id>/read`: read up to `seq`, or everything without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MarkThreadRead")]
pub struct MarkRead {
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub seq: Option<i64>,
}

impl MarkRead {
    pub fn check(&self) -> Result<(), ApiError> {
        if self.seq.is_some_and(|s| s < 0) {
            return Err(ApiError::invalid_field("seq", "a sequence number, 0 or more"));
        }
        Ok(())
    }
}

/// `PATCH /functions/v1/messages/<id>`: a new body, new attachments, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub attachments: Option<Vec<Attachment>>,
}

impl EditMessage {
    /// The message rules of a send ([`NewMessage::check`]) for the fields it changes.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.body.is_none() && self.attachments.is_none() {
            return Err(ApiError::invalid("send the new body, the new attachments, or both"));
        }
        // A body left as it is counts as present; blanking both is a deletion, not an edit.
        let as_sent = NewMessage {
            body: self.body.clone().unwrap_or_else(|| "unchanged".into()),
            attachments: self.attachments.clone().unwrap_or_default(),
            reply_to: None,
            idempotency_key: None,
        };
        as_sent.check("")
    }
}

/// Which way a history page runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// `GET /functions/v1/threads/<id>/messages?before=&after=&limit=&order=`: messages with
/// a sequence number below `before` and above `after`, `limit` of them, newest first
/// unless `order=asc` (how a client catches up from the last sequence it has). A page's
/// `next` is the sequence number of its last message when there are more: the next
/// page's `before` (newest first) or `after` (oldest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub limit: u32,
    pub order: Order,
}

impl History {
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<History, ApiError> {
        let mut history = History { before: None, after: None, limit: DEFAULT_HISTORY_PAGE, order: Order::NewestFirst };
        let seq = |name: &str, value: &str| {
            value
                .parse::<i64>()
                .ok()
                .filter(|s| *s >= 0)
                .ok_or_else(|| ApiError::invalid_field(name, "a sequence number, 0 or more"))
        };
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            match key {
                "before" => history.before = Some(seq(key, value)?),
                "after" => history.after = Some(seq(key, value)?),
                "limit" => {
                    history.limit =
                        value.parse().ok().filter(|n| (1..=MAX_HISTORY_PAGE).contains(n)).ok_or_else(|| {
                            ApiError::invalid_field("limit", format!("a number from 1 to {MAX_HISTORY_PAGE}"))
                        })?
                }
                "order" => {
                    history.order = match value {
                        "desc" => Order::NewestFirst,
                        "asc" => Order::OldestFirst,
                        _ => return Err(ApiError::invalid_field("order", "asc or desc")),
                    }
                }
                other => return Err(ApiError::invalid_field(other, "not a parameter of this list")),
            }
        }
        Ok(history)
    }

    /// How many rows to fetch: one more than asked, to know whether a next page exists.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// A thread or message id from a path segment, or 404: a malformed id names nothing.
pub fn id_in_path(segment: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(segment).map_err(|_| ApiError::not_found("no such thread or message"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(query: &str) -> Result<History, ApiError> {
        History::parse(query.split('&').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('=')))
    }

    #[test]
    fn history_pages_newest_first_by_default_and_refuses_what_it_does_not_know() {
        let h = history("").unwrap();
        assert_eq!((h.before, h.after, h.limit, h.order), (None, None, DEFAULT_HISTORY_PAGE, Order::NewestFirst));
        let h = history("after=7&limit=2&order=asc").unwrap();
        assert_eq!((h.after, h.limit, h.order), (Some(7), 2, Order::OldestFirst));
        for bad in ["before=-1", "after=x", "limit=0", "limit=101", "order=up", "since=3"] {
            let e = history(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert!(e.message.starts_with(bad.split('=').next().unwrap_or_default()), "{bad}: {e:?}");
        }
    }

    #[test]
    fn thread_requests_name_the_field_they_refuse() {
        let me = Uuid::from_u128(1);
        assert!(DirectThread { user_id: me }.check(&me.to_string()).is_err_and(|e| e.message.starts_with("user_id:")));
        let long = NewGroupThread { title: Some("x".repeat(MAX_TITLE_CHARS + 1)), participant_ids: vec![] };
        assert!(long.check().is_err_and(|e| e.message.starts_with("title:")));
        let blank = NewGroupThread { title: Some("  ".into()), participant_ids: vec![] };
        assert!(blank.check().is_err_and(|e| e.message.starts_with("title:")));
        let crowd = NewGroupThread {
            title: None,
            participant_ids: (0..MAX_PARTICIPANTS as u128).map(Uuid::from_u128).collect(),
        };
        assert!(crowd.check().is_err_and(|e| e.message.starts_with("participant_ids:")));
        assert!(NewGroupThread { title: Some("Tomatoes".into()), participant_ids: vec![me] }.check().is_ok());
        assert!(AddParticipants { user_ids: vec![] }.check().is_err());
        assert!(MarkRead { seq: Some(-1) }.check().is_err_and(|e| e.message.starts_with("seq:")));
        let stray = br#"{"muted": true, "user_id": "00000000-0000-0000-0000-000000000001"}"#;
        assert!(crate::body::parse::<Mute>(stray, MAX_REQUEST_BYTES).is_err());
    }

    #[test]
    fn an_edit_changes_something_and_follows_the_message_rules() {
        assert!(EditMessage { body: None, attachments: None }.check().is_err());
        assert!(EditMessage { body: Some("better".into()), attachments: None }.check().is_ok());
        let too_long = EditMessage { body: Some("x".repeat(4001)), attachments: None };
        assert!(too_long.check().is_err_and(|e| e.message.starts_with("body:")));
        let blank = EditMessage { body: Some(" ".into()), attachments: Some(vec![]) };
        assert!(blank.check().is_err_and(|e| e.message.starts_with("body:")));
        assert!(id_in_path("nope").is_err_and(|e| e.status == 404));
    }
}
