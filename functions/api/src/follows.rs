//! Follows: following and unfollowing a user, the lists of a user's followers and of
//! whom they follow (newest first, paged by an opaque cursor), and the two counts.

use crate::ApiError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest body `POST /functions/v1/follows` accepts (it holds one user id).
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Items per page unless `limit` says otherwise, and the most it may ask for.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 100;

/// `POST /functions/v1/follows`: follow `user_id` as the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Where the next page starts: strictly older than this follow (its time in microseconds
/// since the epoch, then the listed user's id, which breaks ties).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub micros: i64,
    pub user_id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}_{}", self.micros, self.user_id.simple())
    }

    pub fn decode(text: &str) -> Result<Cursor, ApiError> {
        let bad = || ApiError::invalid_field("before", "not a cursor this API gave out (use `next` of a page)");
        let (micros, user) = text.split_once('_').ok_or_else(bad)?;
        Ok(Cursor { micros: micros.parse().map_err(|_| bad())?, user_id: Uuid::parse_str(user).map_err(|_| bad())? })
    }
}

/// One page's request: how many, and from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub limit: u32,
    pub before: Option<Cursor>,
}

impl Page {
    /// From a URL's query: `limit` (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]) and
    /// `before` (the `next` of the previous page). Other parameters are refused by name.
    pub fn from_query<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Page, ApiError> {
        let mut page = Page { limit: DEFAULT_PAGE, before: None };
        for (key, value) in pairs {
            match key.as_ref() {
                "limit" => {
                    page.limit =
                        value.as_ref().parse().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| {
                            ApiError::invalid_field("limit", format!("a number from 1 to {MAX_PAGE}"))
                        })?;
                }
                "before" => page.before = Some(Cursor::decode(value.as_ref())?),
                other => return Err(ApiError::invalid_field(other, "unknown query parameter (limit, before)")),
            }
        }
        Ok(page)
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
    fn a_cursor_survives_its_round_trip_and_garbage_is_refused_by_name() {
        let c = Cursor { micros: 1_796_000_000_123_456, user_id: Uuid::from_u128(7) };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for bad in ["", "12", "x_00000000000000000000000000000007", "12_nope", "12_"] {
            let e = Cursor::decode(bad).unwrap_err();
            assert!(e.status == 400 && e.message.starts_with("before:"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn a_page_defaults_bounds_its_limit_and_names_what_is_wrong() {
        let none: [(&str, &str); 0] = [];
        assert_eq!(Page::from_query(none), Ok(Page { limit: DEFAULT_PAGE, before: None }));
        assert_eq!(Page::from_query([("limit", "100")]).map(|p| p.limit), Ok(100));
        for (k, v, field) in
            [("limit", "0", "limit"), ("limit", "101", "limit"), ("limit", "-1", "limit"), ("offset", "5", "offset")]
        {
            let e = Page::from_query([(k, v)]).unwrap_err();
            assert!(e.message.starts_with(&format!("{field}:")), "{k}={v}: {e:?}");
        }
    }

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
