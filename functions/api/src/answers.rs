//! What the endpoints answer, as types. The Worker builds an answer (often straight from
//! the database's JSON) and passes it through [`conform`] into the endpoint's type
//! before it leaves, so an answer always has the shape the OpenAPI document
//! ([`crate::openapi`]) generates from these same types; one that does not fit is a 500
//! and a log line, never a silently different document.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::ApiError;

/// `value` as a `T`, serialized again: the answer exactly as documented.
pub fn conform<T: DeserializeOwned + Serialize>(value: Value) -> Result<Value, ApiError> {
    let typed: T = serde_json::from_value(value).map_err(|_| ApiError::internal())?;
    serde_json::to_value(typed).map_err(|_| ApiError::internal())
}

/// Every error: `{"error": {"code", "message"}}` ([`ApiError::body`]).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `invalid_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `rate_limited`, `database_unavailable`, …
    pub code: String,
    /// For people; a 400 names the field first (`body: at most 4000 characters`).
    pub message: String,
}

/// One page of a list, newest first; `next` is the `before` of the next page, null on
/// the last.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A stored message (`public.messages`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    pub id: Uuid,
    pub thread_id: Uuid,
    pub sender_id: Uuid,
    /// The thread's sequence number: history pages by it, and it survives a deletion.
    pub seq: i64,
    /// Empty for a tombstone.
    pub body: String,
    /// `{kind, url, bytes?, mime?, name?}` each, as sent.
    pub attachments: Vec<Value>,
    pub reply_to: Option<Uuid>,
    /// Participants the body mentions as `@username`.
    pub mentions: Vec<Uuid>,
    pub idempotency_key: Option<String>,
    pub created_at: String,
    pub edited_at: Option<String>,
    /// Set on a tombstone.
    pub deleted_at: Option<String>,
}

/// One message of a batch: `{status: 201|200, message}` or `{status, error}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BatchResult {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BatchResults {
    pub results: Vec<BatchResult>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ThreadKind {
    Direct,
    Group,
}

/// A thread as its participant sees it (`public.my_threads`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Thread {
    pub id: Uuid,
    pub kind: ThreadKind,
    pub title: Option<String>,
    pub owner_id: Uuid,
    pub last_seq: i64,
    pub last_message_at: Option<String>,
    pub created_at: String,
    /// The last message's time, or the thread's creation: what the list is ordered by.
    pub active_at: String,
    pub last_read_seq: i64,
    pub muted: bool,
    pub joined_at: String,
    /// Messages of others after `last_read_seq`, tombstones excluded.
    pub unread: i64,
    pub participant_count: i64,
}

/// A thread with its participants (`public.describe_thread`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ThreadDetails {
    #[serde(flatten)]
    pub thread: Thread,
    pub participants: Vec<Participant>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Participant {
    pub user_id: Uuid,
    /// `owner` or `member`.
    pub role: String,
    pub joined_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ThreadUnread {
    pub thread_id: Uuid,
    pub unread: i64,
}

/// The caller's unread messages: in total, and per thread that has any.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UnreadMessages {
    pub total: i64,
    pub threads: Vec<ThreadUnread>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReadMark {
    pub thread_id: Uuid,
    pub last_read_seq: i64,
    pub unread: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MuteState {
    pub thread_id: Uuid,
    pub muted: bool,
}

/// A page of history; `next` is the last sequence number of the page when there are
/// more: the next page's `before` (or `after` when the order is ascending).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HistoryPage {
    pub items: Vec<Message>,
    pub next: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Follow {
    pub follower_id: Uuid,
    pub followee_id: Uuid,
    pub created_at: String,
}

/// A user in a follower or following list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FollowListEntry {
    pub user_id: Uuid,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub followed_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FollowCounts {
    pub user_id: Uuid,
    pub followers: i64,
    pub following: i64,
}

/// One of the caller's notifications (`public.live_notifications`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    pub id: Uuid,
    /// `follow`, `message`, `mention`, …
    pub kind: String,
    pub actor_id: Option<Uuid>,
    pub title: String,
    pub body: Option<String>,
    /// What the notification is about, by kind (`thread_id`, `message_id`, …).
    pub data: Value,
    pub read_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UnreadNotifications {
    pub unread: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MarkedRead {
    /// How many of the caller's unread notifications this marked.
    pub marked: i64,
    /// How many are left unread.
    pub unread: i64,
}

/// What others see of a user.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UserPresence {
    pub user_id: Uuid,
    /// `online`, `away`, `busy` or `offline` (an invisible user is offline).
    pub status: String,
    pub activity: Option<String>,
    pub last_seen_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PresenceList {
    pub items: Vec<UserPresence>,
}

/// The caller's own presence: what they chose, whether a socket of theirs is connected,
/// and what others see.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OwnPresence {
    pub user_id: Uuid,
    pub chosen: String,
    pub connected: bool,
    pub status: String,
    pub activity: Option<String>,
    pub last_seen_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_that_fits_its_type_leaves_as_it_came_and_one_that_does_not_is_internal() {
        let id = Uuid::from_u128(7).to_string();
        let mark = json!({"thread_id": id, "last_read_seq": 3, "unread": 0});
        assert_eq!(conform::<ReadMark>(mark.clone()), Ok(mark));
        let e = conform::<ReadMark>(json!({"thread_id": "x"})).unwrap_err();
        assert_eq!(e.status, 500);
    }

    #[test]
    fn the_error_body_is_the_documented_shape() {
        let body = ApiError::not_found("no such thread").body();
        assert_eq!(conform::<ErrorBody>(body.clone()), Ok(body));
    }
}

/// A group (`private.group_json`), with the caller's own membership if any.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub topic_tags: Vec<String>,
    pub privacy: crate::groups::Privacy,
    pub owner_id: Uuid,
    /// Active members, kept by the database under concurrency.
    pub member_count: i64,
    pub created_at: String,
    pub my_role: Option<crate::groups::Role>,
    /// `active`, `pending` (asked to join) or `banned`; null when not a member.
    pub my_status: Option<String>,
}

/// A membership (`private.member_json`): role and status, with the member's profile.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GroupMember {
    pub group_id: Uuid,
    pub user_id: Uuid,
    pub role: crate::groups::Role,
    /// `active`, `pending` or `banned`; null for a request just denied.
    pub status: Option<String>,
    pub joined_at: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

/// One option of a poll with its count; `percent` of all votes cast, one decimal.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PollOption {
    pub id: Uuid,
    pub label: String,
    pub position: i64,
    pub votes: i64,
    pub percent: f64,
}

/// A poll with its results (`public.describe_poll`); the same counts its live channel
/// `poll:<id>` sends as `poll_tally`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Poll {
    pub id: Uuid,
    pub author_id: Uuid,
    pub group_id: Option<Uuid>,
    pub thread_id: Option<Uuid>,
    pub question: String,
    pub multiple_choice: bool,
    pub anonymous: bool,
    pub closes_at: Option<String>,
    pub created_at: String,
    /// `open` or `closed`.
    pub status: String,
    pub total_votes: i64,
    /// Distinct users who voted.
    pub voters: i64,
    pub options: Vec<PollOption>,
    /// The options the caller voted for.
    pub my_votes: Vec<Uuid>,
}

/// Who voted for an option (polls that are not anonymous only).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Voter {
    pub user_id: Uuid,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub voted_at: String,
}

/// An event with its counts (`public.describe_event`); the same counts its live channel
/// `event:<id>` sends as `event_state` (with `present`, who is on the channel now).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub id: Uuid,
    pub host_id: Uuid,
    pub group_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub visibility: crate::events::Visibility,
    pub created_at: String,
    /// `scheduled`, `live`, `ended` or `cancelled`.
    pub status: String,
    pub capacity: Option<i64>,
    pub starts_at: String,
    pub ends_at: String,
    pub going: i64,
    pub interested: i64,
    pub waitlisted: i64,
    pub checked_in: i64,
    /// The caller's RSVP: `going`, `interested`, `waitlisted`, `checked_in`, or null.
    pub my_rsvp: Option<String>,
}

/// One participant's RSVP after a change; `status` null once withdrawn.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RsvpState {
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub status: Option<String>,
}
