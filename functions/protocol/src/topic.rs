//! A channel topic, parsed once where it enters (a join, a REST broadcast, a direct
//! socket's URL) and passed on as a [`Topic`].
//!
//! Two rules live here and nowhere else:
//! - what a valid topic is: `realtime:<name>` (the prefix may be omitted), a non-empty
//!   name of at most [`MAX_TOPIC_BYTES`] bytes without control characters (Postgres text
//!   cannot hold a NUL, and the binary framing has one-byte lengths);
//! - which names belong to the channel-authorization policies ([`PRIVATE_NAMESPACES`]):
//!   those may only be joined as private channels, so a client that forgets
//!   `private: true` is refused instead of landing in a public side room.
//!
//! Rooms are named by [`Topic::room_name`], which keeps a name's private and public
//! channels in separate rooms: nothing said on one can reach the other.

use crate::reason::JoinError;

/// The namespaces (`<namespace>:<rest>`) whose access the policies on
/// `realtime.messages` decide. `tests/db` checks this list against the policies of the
/// migrations, so a migration that claims a namespace fails the tests until it is added.
pub const PRIVATE_NAMESPACES: &[&str] = &["conversation", "group", "user", "presence", "event", "poll"];

/// Longest channel name, in bytes (a binary frame's topic field holds 255).
pub const MAX_TOPIC_BYTES: usize = 255 - crate::TOPIC_PREFIX.len();

/// A valid channel topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// `realtime:<name>`, as frames carry it.
    full: String,
}

impl Topic {
    /// Parses a topic as a client wrote it, with or without the `realtime:` prefix.
    pub fn parse(raw: &str) -> Result<Topic, JoinError> {
        let name = raw.strip_prefix(crate::TOPIC_PREFIX).unwrap_or(raw);
        if name.is_empty() {
            return Err(JoinError::TopicNameRequired);
        }
        if name.len() > MAX_TOPIC_BYTES || name.chars().any(char::is_control) {
            return Err(JoinError::InvalidTopic);
        }
        Ok(Topic { full: format!("{}{name}", crate::TOPIC_PREFIX) })
    }

    /// `realtime:<name>`.
    pub fn full(&self) -> &str {
        &self.full
    }

    /// The channel name, without `realtime:` (what `realtime.topic()` returns).
    pub fn name(&self) -> &str {
        &self.full[crate::TOPIC_PREFIX.len()..]
    }

    /// Whether the channel-authorization policies own this name. Compared loosely (case,
    /// surrounding spaces) so that `User:<id>` or ` user:<id>` is refused as public too:
    /// it is almost certainly a mistyped private channel.
    pub fn requires_private(&self) -> bool {
        let Some((namespace, _)) = self.name().split_once(':') else {
            return false;
        };
        let namespace = namespace.trim();
        PRIVATE_NAMESPACES.iter().any(|owned| owned.eq_ignore_ascii_case(namespace))
    }

    /// Checks that a channel of this topic may be opened with this privacy.
    pub fn check_privacy(&self, private: bool) -> Result<(), JoinError> {
        if !private && self.requires_private() {
            return Err(JoinError::PrivateOnly(self.name().to_string()));
        }
        Ok(())
    }

    /// The name of the room (Durable Object) holding this topic's channels of one privacy.
    pub fn room_name(&self, private: bool) -> String {
        format!("{}:{}", if private { "private" } else { "public" }, self.full)
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_optional_and_always_present_after_parsing() {
        assert_eq!(Topic::parse("room:1").unwrap().full(), "realtime:room:1");
        assert_eq!(Topic::parse("realtime:room:1").unwrap().name(), "room:1");
    }

    #[test]
    fn empty_long_and_control_character_names_are_refused() {
        assert_eq!(Topic::parse("realtime:"), Err(JoinError::TopicNameRequired));
        assert_eq!(Topic::parse(""), Err(JoinError::TopicNameRequired));
        assert_eq!(Topic::parse("user:\u{0}x"), Err(JoinError::InvalidTopic));
        assert_eq!(Topic::parse("a\nb"), Err(JoinError::InvalidTopic));
        assert_eq!(Topic::parse(&"x".repeat(MAX_TOPIC_BYTES + 1)), Err(JoinError::InvalidTopic));
        assert!(Topic::parse(&"x".repeat(MAX_TOPIC_BYTES)).is_ok());
    }

    #[test]
    fn policy_namespaces_are_private_only_whatever_their_case_or_spacing() {
        for name in ["user:1", "User:1", " user:1", "USER :1", "conversation:9", "group:x", "Group:", "presence:1"] {
            let t = Topic::parse(name).unwrap();
            assert!(t.requires_private(), "{name}");
            assert!(matches!(t.check_privacy(false), Err(JoinError::PrivateOnly(_))), "{name}");
            assert_eq!(t.check_privacy(true), Ok(()), "{name}");
        }
    }

    #[test]
    fn other_names_may_be_public_including_look_alikes_which_get_rooms_of_their_own() {
        for name in ["garden", "users:1", "user", "userx:1", "ｕser:1", "events:1", "user-1"] {
            let t = Topic::parse(name).unwrap();
            assert_eq!(t.check_privacy(false), Ok(()), "{name}");
        }
        let lookalike = Topic::parse("ｕser:1").unwrap();
        let real = Topic::parse("user:1").unwrap();
        assert_ne!(lookalike.room_name(false), real.room_name(true));
    }

    #[test]
    fn a_name_s_private_and_public_channels_live_in_different_rooms() {
        let t = Topic::parse("garden").unwrap();
        assert_ne!(t.room_name(true), t.room_name(false));
        assert_eq!(t.room_name(true), "private:realtime:garden");
    }
}
