//! Groups: creating and editing one, discovering public groups, joining (or asking to),
//! answering requests, roles, removing, banning, handing ownership over, and the paged
//! member lists.
//!
//! The database has the last word (migrations 20261127170300 to 20261127170800: who may
//! act on whom, a ban that keeps someone out, one owner); the checks here run first so a
//! client gets an error naming the field.

use crate::paging::{Page, DEFAULT_PAGE, MAX_PAGE};
use crate::ApiError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest body of a group request.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// A group's name, in characters (`social_groups.name`'s check).
pub const NAME_CHARS: std::ops::RangeInclusive<usize> = 3..=80;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Most topic tags of a group, and the longest tag.
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_CHARS: usize = 40;
/// Longest search text of discovery.
pub const MAX_QUERY_CHARS: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Privacy {
    /// Seen by every signed-in user; joining is immediate.
    Public,
    /// Seen by its members; joining is a request a moderator answers.
    Private,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Moderator,
    Member,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Moderator => "moderator",
            Role::Member => "member",
        }
    }
}

/// `POST /functions/v1/groups`: a group the caller owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    #[schemars(length(min = 3, max = 80))]
    pub name: String,
    #[serde(default)]
    #[schemars(length(max = MAX_DESCRIPTION_CHARS))]
    pub description: Option<String>,
    #[serde(default)]
    #[schemars(length(max = MAX_TAGS))]
    pub topic_tags: Vec<String>,
    #[serde(default)]
    pub privacy: Option<Privacy>,
}

impl NewGroup {
    pub fn check(&self) -> Result<(), ApiError> {
        check_name(&self.name)?;
        check_description(self.description.as_deref())?;
        check_tags(&self.topic_tags)
    }
}

/// `PATCH /functions/v1/groups/<id>`: the fields present change (`description: null`
/// clears it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 80))]
    pub name: Option<String>,
    /// Absent: unchanged; null: cleared.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::body::present")]
    #[schemars(length(max = MAX_DESCRIPTION_CHARS))]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_TAGS))]
    pub topic_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<Privacy>,
}

impl GroupPatch {
    pub fn check(&self) -> Result<(), ApiError> {
        if self.name.is_none() && self.description.is_none() && self.topic_tags.is_none() && self.privacy.is_none() {
            return Err(ApiError::invalid("name, description, topic_tags or privacy: nothing to change"));
        }
        if let Some(name) = &self.name {
            check_name(name)?;
        }
        if let Some(description) = &self.description {
            check_description(description.as_deref())?;
        }
        if let Some(tags) = &self.topic_tags {
            check_tags(tags)?;
        }
        Ok(())
    }
}

fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let chars = name.trim().chars().count();
    if !NAME_CHARS.contains(&chars) || chars != name.chars().count() || !printable(name) {
        return Err(ApiError::invalid_field(
            "name",
            format!("{} to {} printable characters, no surrounding spaces", NAME_CHARS.start(), NAME_CHARS.end()),
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

fn check_tags(tags: &[String]) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::invalid_field("topic_tags", format!("at most {MAX_TAGS}")));
    }
    for (i, tag) in tags.iter().enumerate() {
        let chars = tag.chars().count();
        if chars == 0 || chars > MAX_TAG_CHARS || !printable(tag) || tag.trim() != tag {
            return Err(ApiError::invalid_field(
                &format!("topic_tags[{i}]"),
                format!("1 to {MAX_TAG_CHARS} printable characters, no surrounding spaces"),
            ));
        }
    }
    Ok(())
}

/// `PATCH /functions/v1/groups/<id>/members/<user_id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    pub role: Role,
}

impl SetRole {
    pub fn check(&self) -> Result<(), ApiError> {
        if self.role == Role::Owner {
            return Err(ApiError::invalid_field("role", "ownership is handed over with POST …/owner"));
        }
        Ok(())
    }
}

/// `POST /functions/v1/groups/<id>/bans` and `POST /functions/v1/groups/<id>/owner`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRef {
    pub user_id: Uuid,
}

/// `GET /functions/v1/groups?q=&tag=&limit=&cursor=`: public groups, most members and
/// most recently active first. The cursor is the `next` of the previous page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discover {
    /// Part of the name, or a whole tag (case-insensitive).
    pub q: Option<String>,
    pub tag: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// How deep discovery pages: a ranked list past this is a search, not a browse.
pub const MAX_DISCOVER_OFFSET: u32 = 10_000;

impl Discover {
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Discover, ApiError> {
        let mut d = Discover { q: None, tag: None, limit: DEFAULT_PAGE, offset: 0 };
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            let text = |field: &str| -> Result<String, ApiError> {
                if value.chars().count() > MAX_QUERY_CHARS || !printable(value) {
                    return Err(ApiError::invalid_field(
                        field,
                        format!("at most {MAX_QUERY_CHARS} printable characters"),
                    ));
                }
                Ok(value.trim().to_string())
            };
            match key {
                "q" => d.q = Some(text("q")?).filter(|q| !q.is_empty()),
                "tag" => d.tag = Some(text("tag")?).filter(|t| !t.is_empty()),
                "limit" => {
                    d.limit =
                        value.parse().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| {
                            ApiError::invalid_field("limit", format!("a number from 1 to {MAX_PAGE}"))
                        })?;
                }
                "cursor" => {
                    d.offset = value.parse().ok().filter(|n| *n <= MAX_DISCOVER_OFFSET).ok_or_else(|| {
                        ApiError::invalid_field("cursor", "not a cursor this API gave out (use `next` of a page)")
                    })?;
                }
                other => {
                    return Err(ApiError::invalid_field(other, "unknown query parameter (q, tag, limit, cursor)"));
                }
            }
        }
        Ok(d)
    }

    /// The `next` of a page that found `found` rows when asked for `limit + 1`.
    pub fn next(&self, found: usize) -> Option<String> {
        (found > self.limit as usize).then(|| (self.offset + self.limit).to_string())
    }
}

/// Which members a list shows: the active ones, or (moderators and above) the pending
/// requests or the bans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberStatus {
    Active,
    Pending,
    Banned,
}

impl MemberStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            MemberStatus::Active => "active",
            MemberStatus::Pending => "pending",
            MemberStatus::Banned => "banned",
        }
    }

    /// From the list's flags (`pending=true`, `banned=true`; not both).
    pub fn from_flags(pending: bool, banned: bool) -> Result<MemberStatus, ApiError> {
        match (pending, banned) {
            (false, false) => Ok(MemberStatus::Active),
            (true, false) => Ok(MemberStatus::Pending),
            (false, true) => Ok(MemberStatus::Banned),
            (true, true) => Err(ApiError::invalid_field("banned", "pending or banned, not both")),
        }
    }
}

/// A member list's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberList {
    pub status: MemberStatus,
    pub page: Page,
}

/// A group or user id from a path segment, or 400 naming it.
pub fn id_in_path(segment: &str, name: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(segment).map_err(|_| ApiError::invalid_field(name, "not a UUID"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::parse;

    #[test]
    fn a_new_group_is_checked_field_by_field() {
        let ok = NewGroup {
            name: "Tomato growers".into(),
            description: None,
            topic_tags: vec!["tomatoes".into()],
            privacy: None,
        };
        assert!(ok.check().is_ok());
        let short = NewGroup { name: "ab".into(), ..ok.clone() };
        assert!(short.check().unwrap_err().message.starts_with("name:"));
        let spaced = NewGroup { name: " Tomatoes ".into(), ..ok.clone() };
        assert!(spaced.check().is_err());
        let tags = NewGroup { topic_tags: vec!["a".into(), "".into()], ..ok.clone() };
        assert!(tags.check().unwrap_err().message.starts_with("topic_tags[1]:"));
        let many = NewGroup { topic_tags: (0..11).map(|i| i.to_string()).collect(), ..ok };
        assert!(many.check().is_err());
        assert!(parse::<NewGroup>(br#"{"name": "Herbs", "owner_id": "x"}"#, MAX_REQUEST_BYTES).is_err());
    }

    #[test]
    fn a_patch_tells_absent_from_null_and_must_change_something() {
        let clear: GroupPatch = parse(br#"{"description": null}"#, MAX_REQUEST_BYTES).unwrap();
        assert_eq!(clear.description, Some(None));
        assert!(clear.check().is_ok());
        let empty: GroupPatch = parse(b"{}", MAX_REQUEST_BYTES).unwrap();
        assert!(empty.check().is_err());
        assert!(SetRole { role: Role::Owner }.check().is_err());
    }

    #[test]
    fn discovery_pages_by_offset_and_refuses_unknown_parameters() {
        let d = Discover::parse([("q", "tom"), ("limit", "2"), ("cursor", "4")]).unwrap();
        assert_eq!((d.q.as_deref(), d.limit, d.offset), (Some("tom"), 2, 4));
        assert_eq!(d.next(3), Some("6".into()));
        assert_eq!(d.next(2), None);
        assert!(Discover::parse([("cursor", "-1")]).is_err());
        assert!(Discover::parse([("sort", "x")]).unwrap_err().message.starts_with("sort:"));
        assert!(MemberStatus::from_flags(true, true).is_err());
    }
}
