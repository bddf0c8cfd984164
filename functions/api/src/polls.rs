//! Community polls: asking one (2 to 10 options, single or multiple choice, anonymous or
//! not, an optional closing time, for everyone, one group or one thread), voting (a vote
//! replaces the caller's previous one), retracting, closing, the results, and who voted
//! for an option (never for an anonymous poll).
//!
//! The database has the last word (migrations 20261127171000 to 20261127171200: who may
//! see a poll, no vote after it closed, one vote per user in a single-choice poll); the
//! checks here run first so a client gets an error naming the field.

use crate::ApiError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest body of a poll request.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
pub const MIN_OPTIONS: usize = 2;
pub const MAX_OPTIONS: usize = 10;
/// A question and an option label, in characters (the tables' checks).
pub const QUESTION_CHARS: std::ops::RangeInclusive<usize> = 3..=300;
pub const LABEL_CHARS: std::ops::RangeInclusive<usize> = 1..=120;

/// `POST /functions/v1/polls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPoll {
    #[schemars(length(min = 3, max = 300))]
    pub question: String,
    /// The choices, in order.
    #[schemars(length(min = 2, max = 10))]
    pub options: Vec<String>,
    #[serde(default)]
    pub multiple_choice: bool,
    /// Who voted for what is never shown, nor delivered, to anyone.
    #[serde(default)]
    pub anonymous: bool,
    /// RFC 3339; the poll closes by itself then.
    #[serde(default)]
    #[schemars(extend("format" = "date-time"))]
    pub closes_at: Option<String>,
    /// A poll for one group's members (or for one thread's participants); neither: for
    /// every signed-in user.
    #[serde(default)]
    pub group_id: Option<Uuid>,
    #[serde(default)]
    pub thread_id: Option<Uuid>,
}

fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

impl NewPoll {
    pub fn check(&self) -> Result<(), ApiError> {
        let chars = self.question.trim().chars().count();
        if !QUESTION_CHARS.contains(&chars) || !printable(&self.question) {
            return Err(ApiError::invalid_field(
                "question",
                format!("{} to {} printable characters", QUESTION_CHARS.start(), QUESTION_CHARS.end()),
            ));
        }
        if !(MIN_OPTIONS..=MAX_OPTIONS).contains(&self.options.len()) {
            return Err(ApiError::invalid_field("options", format!("from {MIN_OPTIONS} to {MAX_OPTIONS}")));
        }
        for (i, label) in self.options.iter().enumerate() {
            let chars = label.trim().chars().count();
            if !LABEL_CHARS.contains(&chars) || !printable(label) {
                return Err(ApiError::invalid_field(
                    &format!("options[{i}]"),
                    format!("{} to {} printable characters", LABEL_CHARS.start(), LABEL_CHARS.end()),
                ));
            }
        }
        if self.group_id.is_some() && self.thread_id.is_some() {
            return Err(ApiError::invalid_field("thread_id", "a poll belongs to a group or a thread, not both"));
        }
        if let Some(at) = &self.closes_at {
            check_timestamp("closes_at", at)?;
        }
        Ok(())
    }
}

/// An RFC 3339 timestamp's shape (`2026-11-27T10:00:00Z`, offset or `Z` required); the
/// database reads its value.
pub fn check_timestamp(field: &str, text: &str) -> Result<(), ApiError> {
    let bad = || ApiError::invalid_field(field, "an RFC 3339 time with its offset, as 2026-11-27T10:00:00Z");
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && b.len() <= 35
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    // Sliced only once known to be ASCII and long enough: never a panic on input.
    if !shape || !text.is_ascii() || !(text.ends_with(['Z', 'z']) || text[19..].contains(['+', '-'])) {
        return Err(bad());
    }
    Ok(())
}

/// `POST /functions/v1/polls/<id>/votes`: the caller's choice (one option in a
/// single-choice poll).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    #[schemars(length(min = 1, max = 10))]
    pub option_ids: Vec<Uuid>,
}

impl Vote {
    pub fn check(&self) -> Result<(), ApiError> {
        if self.option_ids.is_empty() || self.option_ids.len() > MAX_OPTIONS {
            return Err(ApiError::invalid_field("option_ids", format!("from 1 to {MAX_OPTIONS} options")));
        }
        Ok(())
    }
}

/// A poll or option id from a path segment, or 400 naming it.
pub fn id_in_path(segment: &str, name: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(segment).map_err(|_| ApiError::invalid_field(name, "not a UUID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll() -> NewPoll {
        NewPoll {
            question: "Best tomato?".into(),
            options: vec!["Roma".into(), "Cherry".into()],
            multiple_choice: false,
            anonymous: true,
            closes_at: Some("2026-12-01T10:00:00Z".into()),
            group_id: None,
            thread_id: None,
        }
    }

    #[test]
    fn a_poll_has_two_to_ten_printable_options_and_a_zoned_closing_time() {
        assert!(poll().check().is_ok());
        let one = NewPoll { options: vec!["Roma".into()], ..poll() };
        assert!(one.check().unwrap_err().message.starts_with("options:"));
        let blank = NewPoll { options: vec!["Roma".into(), " ".into()], ..poll() };
        assert!(blank.check().unwrap_err().message.starts_with("options[1]:"));
        let eleven = NewPoll { options: (0..11).map(|i| i.to_string()).collect(), ..poll() };
        assert!(eleven.check().is_err());
        for at in ["2026-12-01", "2026-12-01T10:00:00", "tomorrow", "2026-12-01T10:00:00é", "2026-12-01T10:00:00ééééé"]
        {
            let bad = NewPoll { closes_at: Some(at.into()), ..poll() };
            assert!(bad.check().is_err(), "{at}");
        }
        let offset = NewPoll { closes_at: Some("2026-12-01T10:00:00.5+01:00".into()), ..poll() };
        assert!(offset.check().is_ok());
        let both = NewPoll { group_id: Some(Uuid::from_u128(1)), thread_id: Some(Uuid::from_u128(2)), ..poll() };
        assert!(both.check().is_err());
    }

    #[test]
    fn a_vote_names_one_to_ten_options() {
        assert!(Vote { option_ids: vec![] }.check().is_err());
        assert!(Vote { option_ids: vec![Uuid::from_u128(1)] }.check().is_ok());
    }
}
