//! Live events: creating and editing one (the host, or the admins of its group),
//! starting, ending and cancelling it, RSVPs (going, interested, leave; past capacity,
//! going is waitlisted), and check-in by the host.
//!
//! The database has the last word (migrations 20261127171500 to 20261127171700: who may
//! change an event, status only forward, capacity and the waitlist under concurrency);
//! the checks here run first so a client gets an error naming the field.

use crate::polls::check_timestamp;
use crate::ApiError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// A title, in characters (`live_events.title`'s check), and the longest description.
pub const TITLE_CHARS: std::ops::RangeInclusive<usize> = 3..=140;
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// The largest capacity (a sanity bound, far above any room).
pub const MAX_CAPACITY: i32 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Anyone signed in who may see its group (or anyone, without a group).
    Public,
    /// The members of its group only.
    Group,
}

/// `POST /functions/v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    #[schemars(length(min = 3, max = 140))]
    pub title: String,
    #[serde(default)]
    #[schemars(length(max = MAX_DESCRIPTION_CHARS))]
    pub description: Option<String>,
    /// RFC 3339.
    #[schemars(extend("format" = "date-time"))]
    pub starts_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub ends_at: String,
    /// Going participants at most; the rest are waitlisted. None: no limit.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_CAPACITY))]
    pub capacity: Option<i32>,
    #[serde(default)]
    pub group_id: Option<Uuid>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
}

fn check_title(title: &str) -> Result<(), ApiError> {
    let chars = title.trim().chars().count();
    if !TITLE_CHARS.contains(&chars) || title.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "title",
            format!("{} to {} printable characters", TITLE_CHARS.start(), TITLE_CHARS.end()),
        ));
    }
    Ok(())
}

fn check_description(description: Option<&str>) -> Result<(), ApiError> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS || d.contains('\0') => Err(ApiError::invalid_field(
            "description",
            format!("at most {MAX_DESCRIPTION_CHARS} characters, without NUL"),
        )),
        _ => Ok(()),
    }
}

fn check_capacity(capacity: Option<i32>) -> Result<(), ApiError> {
    match capacity {
        Some(c) if !(1..=MAX_CAPACITY).contains(&c) => {
            Err(ApiError::invalid_field("capacity", format!("from 1 to {MAX_CAPACITY}, or null for no limit")))
        }
        _ => Ok(()),
    }
}

impl NewEvent {
    pub fn check(&self) -> Result<(), ApiError> {
        check_title(&self.title)?;
        check_description(self.description.as_deref())?;
        check_timestamp("starts_at", &self.starts_at)?;
        check_timestamp("ends_at", &self.ends_at)?;
        check_capacity(self.capacity)?;
        if self.visibility == Some(Visibility::Group) && self.group_id.is_none() {
            return Err(ApiError::invalid_field("visibility", "group needs a group_id"));
        }
        Ok(())
    }
}

/// `PATCH /functions/v1/events/<id>`: the fields present change (`description: null`
/// clears it, `capacity: null` lifts the limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 140))]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::body::present")]
    #[schemars(length(max = MAX_DESCRIPTION_CHARS))]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub starts_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub ends_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::body::present")]
    #[schemars(range(min = 1, max = MAX_CAPACITY))]
    pub capacity: Option<Option<i32>>,
}

impl EventPatch {
    pub fn check(&self) -> Result<(), ApiError> {
        if self == &(EventPatch { title: None, description: None, starts_at: None, ends_at: None, capacity: None }) {
            return Err(ApiError::invalid("title, description, starts_at, ends_at or capacity: nothing to change"));
        }
        if let Some(title) = &self.title {
            check_title(title)?;
        }
        if let Some(description) = &self.description {
            check_description(description.as_deref())?;
        }
        for (field, at) in [("starts_at", &self.starts_at), ("ends_at", &self.ends_at)] {
            if let Some(at) = at {
                check_timestamp(field, at)?;
            }
        }
        if let Some(capacity) = self.capacity {
            check_capacity(capacity)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RsvpChoice {
    /// Waitlisted when the event is full; promoted (and notified) when a place frees up.
    Going,
    Interested,
    /// Withdraws the RSVP.
    Leave,
}

impl RsvpChoice {
    pub fn as_str(&self) -> &'static str {
        match self {
            RsvpChoice::Going => "going",
            RsvpChoice::Interested => "interested",
            RsvpChoice::Leave => "leave",
        }
    }
}

/// `POST /functions/v1/events/<id>/rsvp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rsvp {
    pub status: RsvpChoice,
}

/// `POST /functions/v1/events/<id>/check-ins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    pub user_id: Uuid,
}

/// What `POST /functions/v1/events/<id>/<start|end|cancel>` makes of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusChange {
    Start,
    End,
    Cancel,
}

impl StatusChange {
    pub fn from_segment(segment: &str) -> Option<StatusChange> {
        match segment {
            "start" => Some(StatusChange::Start),
            "end" => Some(StatusChange::End),
            "cancel" => Some(StatusChange::Cancel),
            _ => None,
        }
    }

    /// The status it sets (`public.event_status`).
    pub fn status(&self) -> &'static str {
        match self {
            StatusChange::Start => "live",
            StatusChange::End => "ended",
            StatusChange::Cancel => "cancelled",
        }
    }
}

/// An event or user id from a path segment, or 400 naming it.
pub fn id_in_path(segment: &str, name: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(segment).map_err(|_| ApiError::invalid_field(name, "not a UUID"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::parse;

    fn event() -> NewEvent {
        NewEvent {
            title: "Seed swap".into(),
            description: None,
            starts_at: "2026-12-01T10:00:00Z".into(),
            ends_at: "2026-12-01T12:00:00Z".into(),
            capacity: Some(20),
            group_id: None,
            visibility: None,
        }
    }

    #[test]
    fn an_event_is_checked_field_by_field() {
        assert!(event().check().is_ok());
        assert!(NewEvent { title: "ab".into(), ..event() }.check().unwrap_err().message.starts_with("title:"));
        assert!(NewEvent { capacity: Some(0), ..event() }.check().unwrap_err().message.starts_with("capacity:"));
        assert!(NewEvent { starts_at: "noon".into(), ..event() }
            .check()
            .unwrap_err()
            .message
            .starts_with("starts_at:"));
        assert!(NewEvent { visibility: Some(Visibility::Group), ..event() }.check().is_err());
    }

    #[test]
    fn a_patch_tells_absent_from_null_and_must_change_something() {
        let lift: EventPatch = parse(br#"{"capacity": null}"#, MAX_REQUEST_BYTES).unwrap();
        assert_eq!(lift.capacity, Some(None));
        assert!(lift.check().is_ok());
        let empty: EventPatch = parse(b"{}", MAX_REQUEST_BYTES).unwrap();
        assert!(empty.check().is_err());
        assert!(parse::<Rsvp>(br#"{"status": "maybe"}"#, MAX_REQUEST_BYTES).is_err());
        assert_eq!(StatusChange::from_segment("start").map(|s| s.status()), Some("live"));
    }
}
