//! Lists newest first, a page at a time, by an opaque cursor: a page asks for `limit`
//! items `before` the cursor the previous page gave out as `next` (null on the last
//! page). The one rule for every list endpoint (follows, notifications).

use crate::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

/// Items per page unless `limit` says otherwise, and the most it may ask for.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 100;

/// Where the next page starts: strictly older than this item (its time in microseconds
/// since the epoch, then its id, which breaks ties).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub micros: i64,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}_{}", self.micros, self.id.simple())
    }

    pub fn decode(text: &str) -> Result<Cursor, ApiError> {
        let bad = || ApiError::invalid_field("before", "not a cursor this API gave out (use `next` of a page)");
        let (micros, id) = text.split_once('_').ok_or_else(bad)?;
        Ok(Cursor { micros: micros.parse().map_err(|_| bad())?, id: Uuid::parse_str(id).map_err(|_| bad())? })
    }
}

/// One page's request: how many, and from where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub limit: u32,
    pub before: Option<Cursor>,
}

impl Page {
    /// How many rows to fetch: one more than asked, to know whether a next page exists.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// The page's answer from up to [`Page::fetch`] rows, each an item and its cursor.
    pub fn answer(&self, rows: Vec<(Value, Cursor)>) -> Value {
        let more = rows.len() > self.limit as usize;
        let mut items = Vec::with_capacity(rows.len());
        let mut last = None;
        for (item, cursor) in rows.into_iter().take(self.limit as usize) {
            items.push(item);
            last = Some(cursor);
        }
        let next = last.filter(|_| more).map(|c| c.encode());
        json!({ "items": items, "next": next })
    }
}

/// A list's keyset in SQL, so the cursor's encoding (microseconds since the epoch, then
/// the id) is written once for every list: `at` and `id` are the row's time and id
/// columns; the statement takes the cursor as `$2` (microseconds, null on the first page)
/// and `$3` (the id, as text), and the row count ([`Page::fetch`]) as `$4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset<'a> {
    pub at: &'a str,
    pub id: &'a str,
}

impl Keyset<'_> {
    /// The select-list column a row's [`Cursor::micros`] is read from.
    pub fn cursor_column(&self) -> String {
        format!("(extract(epoch from {}) * 1000000)::bigint", self.at)
    }

    /// The condition that keeps the rows after the cursor (all of them without one).
    pub fn after_cursor(&self) -> String {
        format!(
            "($2::bigint is null or ({}, {}) < (timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::text::uuid))",
            self.at, self.id
        )
    }

    /// Newest first, one more row than the page.
    pub fn order_and_limit(&self) -> String {
        format!("order by {} desc, {} desc limit $4::bigint", self.at, self.id)
    }
}

impl Page {
    /// `$2` and `$3` of a [`Keyset`] statement.
    pub fn cursor_params(&self) -> (Option<i64>, Option<String>) {
        (self.before.map(|c| c.micros), self.before.map(|c| c.id.to_string()))
    }
}

/// A list's query string: `limit` (1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`]),
/// `before`, and the boolean `flags` the endpoint knows (`true` or `false`); anything
/// else is refused by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub page: Page,
    /// The flags given as `true`.
    pub set: Vec<&'static str>,
}

impl ListQuery {
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
        flags: &[&'static str],
    ) -> Result<ListQuery, ApiError> {
        let mut query = ListQuery { page: Page { limit: DEFAULT_PAGE, before: None }, set: Vec::new() };
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            match key {
                "limit" => {
                    query.page.limit =
                        value.parse().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| {
                            ApiError::invalid_field("limit", format!("a number from 1 to {MAX_PAGE}"))
                        })?;
                }
                "before" => query.page.before = Some(Cursor::decode(value)?),
                other => match flags.iter().find(|f| **f == other) {
                    Some(flag) => match value {
                        "true" => query.set.push(flag),
                        "false" => {}
                        _ => return Err(ApiError::invalid_field(flag, "true or false")),
                    },
                    None => {
                        let known = ["limit", "before"].iter().chain(flags).copied().collect::<Vec<_>>().join(", ");
                        return Err(ApiError::invalid_field(other, format!("unknown query parameter ({known})")));
                    }
                },
            }
        }
        Ok(query)
    }

    pub fn has(&self, flag: &str) -> bool {
        self.set.contains(&flag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip_and_garbage_is_refused_by_name() {
        let c = Cursor { micros: 1_796_000_000_123_456, id: Uuid::from_u128(7) };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for bad in ["", "12", "x_00000000000000000000000000000007", "12_nope", "12_"] {
            let e = Cursor::decode(bad).unwrap_err();
            assert!(e.status == 400 && e.message.starts_with("before:"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn a_query_defaults_bounds_its_limit_knows_its_flags_and_names_what_is_wrong() {
        let none: [(&str, &str); 0] = [];
        let q = ListQuery::parse(none, &[]).unwrap();
        assert_eq!(q.page, Page { limit: DEFAULT_PAGE, before: None });
        assert_eq!(ListQuery::parse([("limit", "100")], &[]).map(|q| q.page.limit), Ok(100));
        let q = ListQuery::parse([("unread", "true")], &["unread"]).unwrap();
        assert!(q.has("unread"));
        assert!(!ListQuery::parse([("unread", "false")], &["unread"]).unwrap().has("unread"));
        for (k, v) in [("limit", "0"), ("limit", "101"), ("limit", "-1"), ("offset", "5"), ("unread", "yes")] {
            let e = ListQuery::parse([(k, v)], &["unread"]).unwrap_err();
            assert!(e.message.starts_with(&format!("{k}:")), "{k}={v}: {e:?}");
        }
        assert!(ListQuery::parse([("unread", "true")], &[]).is_err(), "a flag another list knows");
    }

    #[test]
    fn a_page_says_next_only_when_there_is_more() {
        let page = Page { limit: 2, before: None };
        let row = |n: u128| (json!(n), Cursor { micros: n as i64, id: Uuid::from_u128(n) });
        let full = page.answer(vec![row(3), row(2), row(1)]);
        assert_eq!(full["items"], json!([3, 2]));
        assert_eq!(full["next"], json!(Cursor { micros: 2, id: Uuid::from_u128(2) }.encode()));
        let last = page.answer(vec![row(3), row(2)]);
        assert_eq!(last["next"], Value::Null, "exactly a page: no next");
        assert_eq!(page.answer(vec![])["items"], json!([]));
    }
}
