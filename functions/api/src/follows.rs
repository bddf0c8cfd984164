//! Follows: following and unfollowing a user, the lists of a user's followers and of
//! whom they follow (newest first, paged by [`crate::paging`]), and the two counts.

use crate::ApiError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest body `POST /functions/v1/follows` accepts (it holds one user id).
pub const MAX_REQUEST_BYTES: usize = 1024;

/// `POST /functions/v1/follows`: follow `user_id` as the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowRequest {
    pub user_id: Uuid,
}

impl FollowRequest {
    /// What the database would refuse anyway, said with the field's name.
    pub fn check(&self, caller: &str) -> Result<(), ApiError> {
        if self.user_id.to_string() == caller {
            return Err(ApiError::invalid_field("user_id", "you cannot follow yourself"));
        }
        Ok(())
    }
}

/// Which list: who follows the user, or whom the user follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Followers,
    Following,
}

impl Direction {
    /// The last path segment naming the list.
    pub fn from_segment(segment: &str) -> Option<Direction> {
        match segment {
            "followers" => Some(Direction::Followers),
            "following" => Some(Direction::Following),
            _ => None,
        }
    }
}

/// A user id from a path segment, or 400 naming the parameter.
pub fn user_id_in_path(segment: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(segment).map_err(|_| ApiError::invalid_field("user_id", "not a UUID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_follows_themselves_and_unknown_fields_are_refused() {
        let me = Uuid::from_u128(1);
        let e = FollowRequest { user_id: me }.check(&me.to_string()).unwrap_err();
        assert!(e.message.starts_with("user_id:"), "{e:?}");
        assert!(FollowRequest { user_id: Uuid::from_u128(2) }.check(&me.to_string()).is_ok());
        let body = format!(r#"{{"user_id": "{me}", "follower_id": "{me}"}}"#);
        assert!(crate::body::parse::<FollowRequest>(body.as_bytes(), MAX_REQUEST_BYTES).is_err());
    }
}
