//! Sending messages: `POST /functions/v1/messages` (one) and `POST
//! /functions/v1/messages/batch` (up to [`MAX_BATCH`] for one thread, as the product
//! spec's client batches them). Both are the same operation: a batch of one is a send.
//!
//! The database has the last word (its checks and policies run on every write, from
//! anywhere); the checks here run first so a client gets an error naming the field
//! rather than a constraint name, and so a batch can say which message is wrong.

use crate::ApiError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most messages in one batch.
pub const MAX_BATCH: usize = 10;
/// Longest body, in characters (`messages.body`'s check constraint).
pub const MAX_BODY_CHARS: usize = 4000;
/// Most attachments per message, and their JSON size (`messages.attachments`' checks).
pub const MAX_ATTACHMENTS: usize = 10;
pub const MAX_ATTACHMENTS_BYTES: usize = 16 * 1024;
/// Largest attachment a message may describe (`private.attachments_are_valid`).
pub const MAX_ATTACHMENT_BYTES: u64 = 100 * 1024 * 1024;
/// Longest idempotency key (`messages.idempotency_key`'s check constraint).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 64;
/// Largest request body: a full batch of full messages fits with room to spare.
pub const MAX_REQUEST_BYTES: usize = 512 * 1024;

/// One message to send, as the client writes it. The sender is the caller (never a
/// field), the sequence and timestamps are the database's. Serialized, it is one item of
/// `public.send_messages`' batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// A message of the same thread this one answers.
    #[serde(default)]
    pub reply_to: Option<Uuid>,
    /// Chosen by the client, unique per sender: a retry with the same key answers the
    /// message the first attempt stored, and nothing is stored or delivered twice.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// Metadata of a file kept in object storage; the bytes never pass through here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub kind: AttachmentKind,
    pub url: String,
    /// The file's size, at most 100 MiB: required, as the database's check
    /// (`private.attachments_are_valid`) requires it, and what a client shows before
    /// downloading. (Limits of an attachment are checked per message, so a batch refuses
    /// only the message that breaks one; they are not schema constraints.)
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentKind {
    Image,
    Video,
    Audio,
    File,
}

/// `POST /functions/v1/messages`: one message and its thread. Any other field (a
/// `sender_id`, say) is refused: the sender is always the caller.
// The fields are spelled out rather than a flattened `NewMessage`: serde cannot refuse
// unknown fields through a flatten.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub thread_id: Uuid,
    #[serde(default)]
    #[schemars(length(max = MAX_BODY_CHARS))]
    pub body: String,
    #[serde(default)]
    #[schemars(length(max = MAX_ATTACHMENTS))]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub reply_to: Option<Uuid>,
    #[serde(default)]
    #[schemars(length(min = 1, max = MAX_IDEMPOTENCY_KEY_CHARS))]
    pub idempotency_key: Option<String>,
}

/// `POST /functions/v1/messages/batch`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBatch {
    pub thread_id: Uuid,
    /// Each message is checked on its own: one over a limit (a body past 4000
    /// characters, an empty one, a bad key) is refused in its entry of `results`, and
    /// the others are stored.
    #[schemars(length(min = 1, max = MAX_BATCH))]
    pub messages: Vec<NewMessage>,
}

impl SendMessage {
    /// The same send as a batch of one.
    pub fn into_batch(self) -> SendBatch {
        let SendMessage { thread_id, body, attachments, reply_to, idempotency_key } = self;
        SendBatch { thread_id, messages: vec![NewMessage { body, attachments, reply_to, idempotency_key }] }
    }
}

impl SendBatch {
    /// Refuses the whole request when it is not a batch at all (empty or too long); each
    /// message is then checked on its own ([`SendBatch::check_messages`]).
    pub fn check_shape(&self) -> Result<(), ApiError> {
        if self.messages.is_empty() || self.messages.len() > MAX_BATCH {
            return Err(ApiError::invalid_field("messages", format!("send 1 to {MAX_BATCH} messages")));
        }
        Ok(())
    }

    /// Checks each message on its own (`path_of(i)`: message `i`'s path in the request):
    /// its fields, and that no earlier stored message of the batch has its idempotency
    /// key. A repeated key is that message's refusal, not the batch's: the others are
    /// stored; a message refused on its own checks holds no key, so it leaves its key to
    /// the next one. One answer per message, in order.
    pub fn check_messages(&self, path_of: impl Fn(usize) -> String) -> Vec<Result<&NewMessage, ApiError>> {
        let mut keys: Vec<&str> = Vec::new();
        let mut checked = Vec::with_capacity(self.messages.len());
        for (i, message) in self.messages.iter().enumerate() {
            let at = path_of(i);
            let verdict = message.check(&at).and_then(|()| match message.idempotency_key.as_deref() {
                Some(key) if keys.contains(&key) => Err(ApiError::invalid_field(
                    &format!("{at}idempotency_key"),
                    "used by an earlier message of the same batch",
                )),
                Some(key) => {
                    keys.push(key);
                    Ok(message)
                }
                None => Ok(message),
            });
            checked.push(verdict);
        }
        checked
    }
}

impl NewMessage {
    /// Checks one message; `at` is its path in the request (`""` for a single send,
    /// `messages[2].` in a batch) so the error names the field.
    pub fn check(&self, at: &str) -> Result<(), ApiError> {
        let field = |name: &str| format!("{at}{name}");
        if self.body.chars().count() > MAX_BODY_CHARS {
            return Err(ApiError::invalid_field(&field("body"), format!("at most {MAX_BODY_CHARS} characters")));
        }
        if self.body.contains('\0') {
            return Err(ApiError::invalid_field(&field("body"), "contains a NUL character"));
        }
        if self.body.trim().is_empty() && self.attachments.is_empty() {
            return Err(ApiError::invalid_field(&field("body"), "a message needs a body or an attachment"));
        }
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(ApiError::invalid_field(&field("attachments"), format!("at most {MAX_ATTACHMENTS}")));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            a.check(&field(&format!("attachments[{i}].")))?;
        }
        if attachments_json(&self.attachments).len() > MAX_ATTACHMENTS_BYTES {
            return Err(ApiError::invalid_field(
                &field("attachments"),
                format!("at most {MAX_ATTACHMENTS_BYTES} bytes of metadata"),
            ));
        }
        if let Some(key) = &self.idempotency_key {
            let chars = key.chars().count();
            if chars == 0 || chars > MAX_IDEMPOTENCY_KEY_CHARS || key.chars().any(char::is_control) {
                return Err(ApiError::invalid_field(
                    &field("idempotency_key"),
                    format!("1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters"),
                ));
            }
        }
        Ok(())
    }
}

impl Attachment {
    fn check(&self, at: &str) -> Result<(), ApiError> {
        let url_ok = (self.url.starts_with("https://") || self.url.starts_with("http://"))
            && self.url.len() <= 2048
            && !self.url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !url_ok {
            return Err(ApiError::invalid_field(&format!("{at}url"), "an http(s) URL of at most 2048 bytes"));
        }
        if self.bytes > MAX_ATTACHMENT_BYTES {
            return Err(ApiError::invalid_field(&format!("{at}bytes"), format!("at most {MAX_ATTACHMENT_BYTES}")));
        }
        // Control characters never reach the database: jsonb cannot hold a NUL at all.
        let bad_mime =
            |m: &String| m.len() > 255 || !m.contains('/') || m.chars().any(|c| c.is_whitespace() || c.is_control());
        if self.mime.as_ref().is_some_and(bad_mime) {
            return Err(ApiError::invalid_field(&format!("{at}mime"), "a media type such as image/jpeg"));
        }
        if self
            .name
            .as_ref()
            .is_some_and(|n| n.is_empty() || n.chars().count() > 255 || n.chars().any(char::is_control))
        {
            return Err(ApiError::invalid_field(&format!("{at}name"), "1 to 255 printable characters"));
        }
        Ok(())
    }
}

/// The attachments as the database stores them (`messages.attachments`, jsonb).
pub fn attachments_json(attachments: &[Attachment]) -> String {
    serde_json::to_string(attachments).unwrap_or_else(|_| "[]".into())
}

/// What one message of a send came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stored now (201).
    Created(serde_json::Value),
    /// A retry: the message the first attempt with this idempotency key stored (200).
    Existing(serde_json::Value),
    /// Refused, and why; the other messages of the batch are unaffected.
    Refused(ApiError),
}

impl Outcome {
    /// One answer of the database's `public.send_messages` (migration 20261127100100).
    pub fn from_answer(answer: &serde_json::Value) -> Outcome {
        let error = answer["error"].as_str().unwrap_or("refused");
        match (answer["status"].as_u64(), answer["sqlstate"].as_str()) {
            (Some(201), _) => Outcome::Created(answer["message"].clone()),
            (Some(200), _) => Outcome::Existing(answer["message"].clone()),
            (Some(409), _) => Outcome::Refused(ApiError::conflict(error)),
            (_, Some(sqlstate)) => Outcome::Refused(ApiError::from_sqlstate(sqlstate, error)),
            _ => Outcome::Refused(ApiError::internal()),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Outcome::Created(_) => 201,
            Outcome::Existing(_) => 200,
            Outcome::Refused(e) => e.status,
        }
    }

    /// One entry of a batch's `results`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Outcome::Created(m) | Outcome::Existing(m) => serde_json::json!({"status": self.status(), "message": m}),
            Outcome::Refused(e) => {
                let mut body = e.body();
                body["status"] = self.status().into();
                body
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::parse;

    fn message(json: &str) -> NewMessage {
        parse(json.as_bytes(), MAX_REQUEST_BYTES).expect("parses")
    }

    #[test]
    fn a_plain_message_passes() {
        assert_eq!(message(r#"{"body": "hello", "idempotency_key": "k1"}"#).check(""), Ok(()));
    }

    #[test]
    fn the_sender_cannot_be_chosen_by_the_client() {
        let e = parse::<SendMessage>(
            br#"{"thread_id": "aaaaaaaa-0000-4000-8000-000000000001", "body": "x", "sender_id": "x"}"#,
            MAX_REQUEST_BYTES,
        )
        .unwrap_err();
        assert!(e.message.contains("unknown field `sender_id`"), "{}", e.message);
    }

    #[test]
    fn bad_ids_are_refused_by_field() {
        let e = parse::<SendMessage>(br#"{"thread_id": "nope", "body": "x"}"#, MAX_REQUEST_BYTES).unwrap_err();
        assert!(e.message.starts_with("thread_id:"), "{}", e.message);
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            (format!(r#"{{"body": "{}"}}"#, "x".repeat(MAX_BODY_CHARS + 1)), "m.body:"),
            (r#"{"body": "   "}"#.to_string(), "m.body:"),
            (r#"{"body": "a\u0000b"}"#.to_string(), "m.body:"),
            (r#"{"body": "x", "idempotency_key": ""}"#.to_string(), "m.idempotency_key:"),
            (format!(r#"{{"body": "x", "idempotency_key": "{}"}}"#, "k".repeat(65)), "m.idempotency_key:"),
            (
                r#"{"attachments": [{"kind": "image", "url": "ftp://x", "bytes": 1}]}"#.to_string(),
                "m.attachments[0].url:",
            ),
            (
                r#"{"attachments": [{"kind": "file", "url": "https://x/y", "bytes": 999999999999}]}"#.to_string(),
                "m.attachments[0].bytes:",
            ),
            (
                r#"{"attachments": [{"kind": "file", "url": "https://x/y", "bytes": 1, "mime": "jpeg"}]}"#.to_string(),
                "m.attachments[0].mime:",
            ),
            (
                r#"{"attachments": [{"kind": "file", "url": "https://x/y", "bytes": 1, "mime": "image/\u0000png"}]}"#
                    .to_string(),
                "m.attachments[0].mime:",
            ),
            (
                r#"{"attachments": [{"kind": "file", "url": "https://x/y", "bytes": 1, "name": "a\u0001b"}]}"#
                    .to_string(),
                "m.attachments[0].name:",
            ),
        ];
        for (json, field) in cases {
            let e = message(&json).check("m.").unwrap_err();
            assert!(e.message.starts_with(field), "{json}: {}", e.message);
            assert_eq!(e.status, 400);
        }
        let eleven = format!(
            r#"{{"attachments": [{}]}}"#,
            [r#"{"kind": "file", "url": "https://x/y", "bytes": 1}"#; 11].join(",")
        );
        assert!(message(&eleven).check("").unwrap_err().message.starts_with("attachments:"));
    }

    #[test]
    fn an_attachment_alone_is_a_message_and_an_unknown_kind_is_refused() {
        let m = message(
            r#"{"attachments": [{"kind": "image", "url": "https://cdn.example/a.jpg", "bytes": 10, "mime": "image/jpeg", "name": "a.jpg"}]}"#,
        );
        assert_eq!(m.check(""), Ok(()));
        assert_eq!(
            attachments_json(&m.attachments),
            r#"[{"kind":"image","url":"https://cdn.example/a.jpg","bytes":10,"mime":"image/jpeg","name":"a.jpg"}]"#
        );
        let e =
            parse::<NewMessage>(br#"{"attachments": [{"kind": "sticker", "url": "https://x/y", "bytes": 1}]}"#, 4096)
                .unwrap_err();
        assert!(e.message.starts_with("attachments[0].kind:"), "{}", e.message);
    }

    #[test]
    fn a_batch_has_one_to_ten_messages_and_a_repeated_key_is_that_message_s_refusal() {
        let batch = |n: usize, key: &str| SendBatch {
            thread_id: Uuid::nil(),
            messages: (0..n)
                .map(|_| NewMessage {
                    body: "x".into(),
                    attachments: vec![],
                    reply_to: None,
                    idempotency_key: Some(key.into()),
                })
                .collect(),
        };
        assert!(batch(0, "k").check_shape().is_err());
        assert!(batch(MAX_BATCH + 1, "k").check_shape().is_err());
        let path = |i: usize| format!("messages[{i}].");
        let same = batch(3, "same");
        assert_eq!(same.check_shape(), Ok(()), "a repeated key does not sink the batch");
        let checked = same.check_messages(path);
        assert!(checked[0].is_ok(), "the first use of a key is the message's own");
        let e = checked[2].as_ref().unwrap_err();
        assert!(e.message.starts_with("messages[2].idempotency_key:"), "{}", e.message);
        let mut ok = batch(2, "a");
        ok.messages[1].idempotency_key = None;
        assert!(ok.check_messages(path).iter().all(Result::is_ok));
        let mut after_refused = batch(2, "k");
        after_refused.messages[0].body = String::new();
        let checked = after_refused.check_messages(path);
        assert!(checked[0].is_err(), "an empty message is refused");
        assert!(checked[1].is_ok(), "so its key is free for the next one");
    }

    #[test]
    fn the_database_s_answers_become_outcomes() {
        use serde_json::json;
        let m = json!({"id": "x", "seq": 3});
        assert_eq!(Outcome::from_answer(&json!({"status": 201, "message": m})), Outcome::Created(m.clone()));
        assert_eq!(Outcome::from_answer(&json!({"status": 200, "message": m})), Outcome::Existing(m));
        let reused = Outcome::from_answer(&json!({"status": 409, "sqlstate": "23505", "error": "another thread"}));
        assert_eq!(reused.status(), 409);
        let refused =
            Outcome::from_answer(&json!({"sqlstate": "42501", "error": "new row violates row-level security"}));
        assert_eq!(refused, Outcome::Refused(ApiError::forbidden("not allowed")));
        assert_eq!(Outcome::from_answer(&json!({"what": 1})).status(), 500);
    }

    #[test]
    fn a_refused_message_in_a_batch_reports_its_status_and_error() {
        let r = Outcome::Refused(ApiError::forbidden("not allowed")).to_json();
        assert_eq!(r, serde_json::json!({"status": 403, "error": {"code": "forbidden", "message": "not allowed"}}));
    }
}
