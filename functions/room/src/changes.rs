//! `postgres_changes`: the bindings a join asks for, their filters, which bindings a
//! database change matches, and the delivery frame's payload, as realtime-js expects them
//! (PROTOCOL.md, "Postgres changes").
//!
//! Platform-free and tested natively; the room object hosts it (`room_object`: bindings at
//! join, deliveries from the feed).

use serde_json::{json, Map, Value};

/// Most values an `in` filter may list.
pub const MAX_IN_VALUES: usize = 100;

/// Which operations a binding wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeEvent {
    All,
    Insert,
    Update,
    Delete,
}

impl ChangeEvent {
    fn parse(raw: &str) -> Option<ChangeEvent> {
        match raw {
            "*" => Some(ChangeEvent::All),
            "INSERT" => Some(ChangeEvent::Insert),
            "UPDATE" => Some(ChangeEvent::Update),
            "DELETE" => Some(ChangeEvent::Delete),
            _ => None,
        }
    }

    fn includes(self, op: Op) -> bool {
        matches!(
            (self, op),
            (ChangeEvent::All, _)
                | (ChangeEvent::Insert, Op::Insert)
                | (ChangeEvent::Update, Op::Update)
                | (ChangeEvent::Delete, Op::Delete)
        )
    }
}

/// The operation of one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    pub fn parse(raw: &str) -> Option<Op> {
        match raw {
            "INSERT" => Some(Op::Insert),
            "UPDATE" => Some(Op::Update),
            "DELETE" => Some(Op::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "INSERT",
            Op::Update => "UPDATE",
            Op::Delete => "DELETE",
        }
    }
}

/// A filter's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
}

/// `column=op.value`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: String,
    pub cmp: Cmp,
    /// One value, or the list of an `in`; compared as the row's value is typed.
    pub values: Vec<String>,
}

/// Why a binding cannot be served; `Display` is the `system` message Supabase sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("Error parsing `filter` params: {0}")]
    Filter(String),
    #[error(
        "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [event: {event}, schema: {schema}, table: {table}, filters: [{filter}]]"
    )]
    Unavailable { event: String, schema: String, table: String, filter: String },
}

impl Filter {
    /// Parses PostgREST-style `column=op.value` (`in.(a,b,c)` for lists).
    pub fn parse(raw: &str) -> Result<Filter, BindingError> {
        let bad = |why: &str| BindingError::Filter(format!("{why} in {raw:?}"));
        let (column, rest) = raw.split_once('=').ok_or_else(|| bad("expected column=operator.value"))?;
        let column = column.trim();
        if column.is_empty() || !column.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("the column must be a plain column name"));
        }
        let (op, value) = rest.split_once('.').ok_or_else(|| bad("expected operator.value after ="))?;
        let cmp = match op {
            "eq" => Cmp::Eq,
            "neq" => Cmp::Neq,
            "lt" => Cmp::Lt,
            "lte" => Cmp::Lte,
            "gt" => Cmp::Gt,
            "gte" => Cmp::Gte,
            "in" => Cmp::In,
            other => return Err(bad(&format!("unsupported operator {other:?} (eq, neq, lt, lte, gt, gte, in)"))),
        };
        let values = if cmp == Cmp::In {
            let list = value
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(|| bad("in takes a list in parentheses, in.(a,b)"))?;
            let values: Vec<String> =
                list.split(',').map(|v| v.trim().trim_matches('"').to_string()).filter(|v| !v.is_empty()).collect();
            if values.is_empty() || values.len() > MAX_IN_VALUES {
                return Err(bad(&format!("in takes 1 to {MAX_IN_VALUES} values")));
            }
            values
        } else {
            vec![value.to_string()]
        };
        Ok(Filter { column: column.to_string(), cmp, values })
    }

    /// Whether `row` passes. A missing column never does (a DELETE's old row of a table
    /// without REPLICA IDENTITY FULL holds only its primary key).
    pub fn passes(&self, row: &Map<String, Value>) -> bool {
        let Some(value) = row.get(&self.column) else { return false };
        let order = |wanted: &str| compare(value, wanted);
        match self.cmp {
            Cmp::Eq => order(&self.values[0]) == Some(std::cmp::Ordering::Equal),
            Cmp::Neq => order(&self.values[0]).is_some_and(|o| o != std::cmp::Ordering::Equal),
            Cmp::Lt => order(&self.values[0]) == Some(std::cmp::Ordering::Less),
            Cmp::Lte => order(&self.values[0]).is_some_and(|o| o != std::cmp::Ordering::Greater),
            Cmp::Gt => order(&self.values[0]) == Some(std::cmp::Ordering::Greater),
            Cmp::Gte => order(&self.values[0]).is_some_and(|o| o != std::cmp::Ordering::Less),
            Cmp::In => self.values.iter().any(|v| order(v) == Some(std::cmp::Ordering::Equal)),
        }
    }
}

/// Compares a row's JSON value with a filter's text the way the column is typed: numbers
/// numerically, booleans as booleans, text (uuids, timestamps in ISO form) as text. Null
/// compares with nothing, as in SQL.
fn compare(value: &Value, wanted: &str) -> Option<std::cmp::Ordering> {
    match value {
        Value::Number(n) => n.as_f64()?.partial_cmp(&wanted.parse::<f64>().ok()?),
        Value::Bool(b) => Some(b.cmp(&wanted.parse::<bool>().ok()?)),
        Value::String(s) => Some(s.as_str().cmp(wanted)),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// One binding of a joined channel.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "StoredBinding", into = "StoredBinding")]
pub struct Binding {
    /// Echoed in the join reply and carried by every delivery it matches.
    pub id: u32,
    /// What it asks for; None when it cannot be served (its `system` error was sent), so
    /// it matches nothing but is still echoed, keeping the client's bindings in step.
    pub rule: Option<Rule>,
    /// The binding as the client sent it, echoed verbatim (with `id`) in the join reply:
    /// realtime-js matches bindings by position and drops the channel on any difference.
    pub requested: Map<String, Value>,
}

/// What a servable binding asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub event: ChangeEvent,
    pub schema: String,
    /// None: every table of the schema.
    pub table: Option<String>,
    pub filter: Option<Filter>,
}

/// What a socket's attachment keeps of a binding: the rule is parsed again on wake-up.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredBinding {
    id: u32,
    requested: Map<String, Value>,
    served: bool,
}

impl From<StoredBinding> for Binding {
    fn from(stored: StoredBinding) -> Binding {
        let rule = if stored.served { Rule::parse(&stored.requested).ok() } else { None };
        Binding { id: stored.id, rule, requested: stored.requested }
    }
}

impl From<Binding> for StoredBinding {
    fn from(b: Binding) -> StoredBinding {
        StoredBinding { id: b.id, served: b.rule.is_some(), requested: b.requested }
    }
}

/// A change, as the feed delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub position: i64,
    pub schema: String,
    pub table: String,
    pub op: Op,
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub commit_timestamp: String,
    pub record: Option<Map<String, Value>>,
    pub old_record: Option<Map<String, Value>>,
}

impl Change {
    /// Whether a subscriber's right to the row must be checked before this is delivered.
    /// Always, but for a DELETE known by one opaque id (a message, a group, an event): it is
    /// delivered, key only, to every matching binding, as on Supabase, since the policies of
    /// a deleted group, event or poll look the row itself up and would show its deletion to
    /// nobody. A DELETE whose key names a relationship (several columns: who is in which
    /// group or thread, who follows whom) is checked against the table's select policies on
    /// its old row: the key alone says more than nothing. A DELETE's `old_record` is its key
    /// (`feed_object::as_change` in the edge).
    pub fn needs_row_check(&self) -> bool {
        self.op != Op::Delete || self.old_record.as_ref().is_none_or(|key| key.len() > 1)
    }
}

impl Rule {
    fn parse(object: &Map<String, Value>) -> Result<Rule, BindingError> {
        let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_string);
        let event_raw = text("event").unwrap_or_else(|| "*".into());
        let schema = text("schema").unwrap_or_else(|| "public".into());
        let table = text("table").filter(|t| t != "*");
        let filter_raw = text("filter").filter(|f| !f.is_empty());
        let unavailable = || BindingError::Unavailable {
            event: event_raw.clone(),
            schema: schema.clone(),
            table: table.clone().unwrap_or_else(|| "*".into()),
            filter: filter_raw.clone().unwrap_or_default(),
        };
        let event = ChangeEvent::parse(&event_raw).ok_or_else(unavailable)?;
        let filter = filter_raw.as_deref().map(Filter::parse).transpose()?;
        if filter.is_some() && table.is_none() {
            return Err(unavailable());
        }
        Ok(Rule { event, schema, table, filter })
    }

    /// The error to report when this rule names a table or column the feed does not
    /// publish (decided by the host, which knows the schema).
    pub fn unavailable(&self, requested: &Map<String, Value>) -> BindingError {
        let text = |name: &str| requested.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
        BindingError::Unavailable {
            event: requested.get("event").and_then(Value::as_str).unwrap_or("*").to_string(),
            schema: self.schema.clone(),
            table: self.table.clone().unwrap_or_else(|| "*".into()),
            filter: text("filter"),
        }
    }
}

impl Binding {
    /// Parses the `postgres_changes` list of a join's config: every binding gets an id
    /// (1, 2, ...) and is echoed; those that cannot be served come back as errors too, with
    /// their position, for a `system` message each.
    pub fn parse_all(requested: &[Value]) -> (Vec<Binding>, Vec<(usize, BindingError)>) {
        let mut bindings = Vec::new();
        let mut errors = Vec::new();
        for (i, raw) in requested.iter().enumerate() {
            let object = raw.as_object().cloned().unwrap_or_default();
            let rule = match Rule::parse(&object) {
                Ok(rule) => Some(rule),
                Err(e) => {
                    errors.push((i, e));
                    None
                }
            };
            bindings.push(Binding { id: i as u32 + 1, rule, requested: object });
        }
        (bindings, errors)
    }

    /// For each of `changes` some of `bindings` want: its index and those bindings' ids
    /// (what a delivery's `ids` carries), in order.
    pub fn matches_in(bindings: &[Binding], changes: &[Change]) -> Vec<(usize, Vec<u32>)> {
        changes
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let ids: Vec<u32> = bindings.iter().filter(|b| b.matches(c)).map(|b| b.id).collect();
                (!ids.is_empty()).then_some((i, ids))
            })
            .collect()
    }

    /// Whether `change` is one this binding wants. The filter is tested on the new row,
    /// or on the old row for a DELETE (which the edge gives as the key only: a filter on
    /// another column then never passes, as on Supabase, where DELETEs cannot be filtered).
    pub fn matches(&self, change: &Change) -> bool {
        let Some(rule) = &self.rule else { return false };
        if !rule.event.includes(change.op) || rule.schema != change.schema {
            return false;
        }
        if rule.table.as_deref().is_some_and(|t| t != change.table) {
            return false;
        }
        let row = if change.op == Op::Delete { change.old_record.as_ref() } else { change.record.as_ref() };
        match (&rule.filter, row) {
            (None, _) => true,
            (Some(filter), Some(row)) => filter.passes(row),
            (Some(_), None) => false,
        }
    }

    /// The join reply's `postgres_changes`: each binding as requested, plus its `id`.
    pub fn echo(bindings: &[Binding]) -> Value {
        Value::Array(
            bindings
                .iter()
                .map(|b| {
                    let mut echoed = b.requested.clone();
                    echoed.insert("id".into(), json!(b.id));
                    Value::Object(echoed)
                })
                .collect(),
        )
    }
}

/// The payload of a `postgres_changes` push for the bindings `ids`. `columns` are the
/// table's `(name, pg_type.typname)` in column order.
pub fn delivery(ids: &[u32], change: &Change, columns: &[(String, String)]) -> Map<String, Value> {
    let columns: Vec<Value> = columns.iter().map(|(name, kind)| json!({"name": name, "type": kind})).collect();
    let mut data = Map::new();
    data.insert("schema".into(), json!(change.schema));
    data.insert("table".into(), json!(change.table));
    data.insert("commit_timestamp".into(), json!(change.commit_timestamp));
    data.insert("type".into(), json!(change.op.as_str()));
    data.insert("columns".into(), Value::Array(columns));
    data.insert("record".into(), change.record.clone().map_or(json!({}), Value::Object));
    data.insert("old_record".into(), change.old_record.clone().map_or(json!({}), Value::Object));
    data.insert("errors".into(), Value::Null);
    // Where the change stands in the feed: a reconnecting client passes the last one it saw
    // as `config.postgres_changes_replay.after` to receive what it missed.
    data.insert("position".into(), json!(change.position));
    let mut payload = Map::new();
    payload.insert("ids".into(), json!(ids));
    payload.insert("data".into(), Value::Object(data));
    payload
}

/// Most bindings a room's [`Interests`] keep; past it they give way to the tables they
/// name (the room still matches each change against its own channels).
pub const MAX_INTERESTS: usize = 100;

/// What a room listens to, as the change feed keeps it: the bindings of the channels that
/// joined there (each as the JSON the client sent), or whole tables (`schema.table`,
/// `schema.*`). The feed sends a room only the changes these want, with the same
/// [`Binding::matches`] the room applies to each channel.
#[derive(Debug)]
pub struct Interests(Vec<Interest>);

#[derive(Debug)]
enum Interest {
    Binding(Binding),
    Table(String),
}

impl Interests {
    /// Parses a room's interests as stored; one that does not parse as a binding is read
    /// as a table name.
    pub fn parse(stored: &[String]) -> Interests {
        Interests(
            stored
                .iter()
                .flat_map(|interest| match serde_json::from_str::<Value>(interest) {
                    Ok(requested) if requested.is_object() => {
                        Binding::parse_all(&[requested]).0.into_iter().map(Interest::Binding).collect()
                    }
                    _ => vec![Interest::Table(interest.clone())],
                })
                .collect(),
        )
    }

    /// Whether one of these bindings matches `change`, or it is in a whole table listened to.
    pub fn want(&self, change: &Change) -> bool {
        self.0.iter().any(|interest| match interest {
            Interest::Binding(b) => b.matches(change),
            Interest::Table(t) => {
                *t == format!("{}.{}", change.schema, change.table) || *t == format!("{}.*", change.schema)
            }
        })
    }

    /// Adds `new` to `stored`, once each; past [`MAX_INTERESTS`], bindings become the
    /// tables they name, so a room's entry cannot grow without bound.
    pub fn add(stored: &mut Vec<String>, new: Vec<String>) {
        for interest in new {
            if !stored.contains(&interest) {
                stored.push(interest);
            }
        }
        if stored.len() <= MAX_INTERESTS {
            return;
        }
        let mut tables: Vec<String> = stored
            .iter()
            .map(|i| match serde_json::from_str::<Value>(i) {
                Ok(b) if b.is_object() => {
                    let schema = b["schema"].as_str().unwrap_or("public");
                    format!("{schema}.{}", b["table"].as_str().unwrap_or("*"))
                }
                _ => i.clone(),
            })
            .collect();
        tables.sort();
        tables.dedup();
        *stored = tables;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn change(op: Op, record: Option<Value>, old: Option<Value>) -> Change {
        Change {
            position: 7,
            schema: "public".into(),
            table: "messages".into(),
            op,
            commit_timestamp: "2026-11-26T20:00:00.000Z".into(),
            record: record.map(row),
            old_record: old.map(row),
        }
    }

    #[test]
    fn every_operator_parses_and_compares_as_the_column_is_typed() {
        let r = row(json!({"thread_id": "abc", "seq": 5, "pinned": true, "body": null}));
        let passes = |f: &str| Filter::parse(f).unwrap().passes(&r);
        assert!(passes("thread_id=eq.abc") && !passes("thread_id=eq.abd"));
        assert!(passes("thread_id=neq.abd") && !passes("thread_id=neq.abc"));
        assert!(passes("seq=lt.10") && !passes("seq=lt.5") && passes("seq=lte.5"));
        assert!(passes("seq=gt.4.5") && !passes("seq=gt.5") && passes("seq=gte.5"));
        assert!(!passes("seq=eq.05.1") && passes("seq=eq.5.0"), "numbers compare numerically");
        assert!(passes("seq=in.(1,5,9)") && !passes("seq=in.(1,9)"));
        assert!(passes("thread_id=in.(\"abc\", x)"));
        assert!(passes("pinned=eq.true") && !passes("pinned=eq.false"));
        assert!(!passes("body=eq.null") && !passes("body=neq.x"), "null compares with nothing");
        assert!(!passes("missing=eq.1"), "a column the row lacks never passes");
        assert!(!passes("seq=eq.five"), "a value that is not a number never equals a number");
    }

    #[test]
    fn malformed_filters_say_what_is_wrong() {
        for bad in ["thread_id", "thread_id=abc", "thread_id=like.a%", "a b=eq.1", "=eq.1", "x=in.1,2", "x=in.()"] {
            let e = Filter::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("Error parsing `filter` params: "), "{bad}: {e}");
        }
        let too_many = format!("x=in.({})", (0..101).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
        assert!(Filter::parse(&too_many).is_err());
        let enough = format!("x=in.({})", (0..100).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
        assert_eq!(Filter::parse(&enough).unwrap().values.len(), 100);
    }

    #[test]
    fn bindings_are_echoed_verbatim_with_ids_and_bad_ones_are_reported_by_position() {
        let requested = vec![
            json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": "thread_id=eq.abc"}),
            json!({"event": "*", "schema": "public", "table": "messages", "filter": "thread_id=like.x"}),
            json!({"event": "TRUNCATE", "schema": "public", "table": "messages"}),
            json!({"event": "*", "schema": "public"}),
        ];
        let (bindings, errors) = Binding::parse_all(&requested);
        assert_eq!(
            bindings.iter().map(|b| (b.id, b.rule.is_some())).collect::<Vec<_>>(),
            vec![(1, true), (2, false), (3, false), (4, true)]
        );
        assert_eq!(errors.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1, 2]);
        assert!(errors[1].1.to_string().starts_with("Unable to subscribe to changes with given parameters."));
        // Every binding is echoed, the broken ones too: realtime-js pairs them by position.
        assert_eq!(
            Binding::echo(&bindings),
            json!([
                {"event": "INSERT", "schema": "public", "table": "messages", "filter": "thread_id=eq.abc", "id": 1},
                {"event": "*", "schema": "public", "table": "messages", "filter": "thread_id=like.x", "id": 2},
                {"event": "TRUNCATE", "schema": "public", "table": "messages", "id": 3},
                {"event": "*", "schema": "public", "id": 4}
            ])
        );
        let stored: Vec<Binding> = serde_json::from_value(serde_json::to_value(&bindings).unwrap()).unwrap();
        assert_eq!(stored, bindings, "a binding survives the socket's attachment");
    }

    #[test]
    fn a_binding_matches_by_event_schema_table_and_filter_and_deletes_by_the_old_row() {
        let (b, _) = Binding::parse_all(&[
            json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": "thread_id=eq.t1"}),
            json!({"event": "*", "schema": "public", "table": "messages"}),
            json!({"event": "DELETE", "schema": "public", "table": "messages", "filter": "id=eq.m1"}),
            json!({"event": "*", "schema": "public", "table": "live_notifications"}),
        ]);
        let insert = change(Op::Insert, Some(json!({"id": "m1", "thread_id": "t1"})), None);
        let elsewhere = change(Op::Insert, Some(json!({"id": "m2", "thread_id": "t2"})), None);
        let delete = change(Op::Delete, None, Some(json!({"id": "m1"})));
        let ids = |c: &Change| b.iter().filter(|b| b.matches(c)).map(|b| b.id).collect::<Vec<_>>();
        assert_eq!(ids(&insert), vec![1, 2]);
        assert_eq!(ids(&elsewhere), vec![2]);
        assert_eq!(ids(&delete), vec![2, 3]);
        let notification = Change { table: "profiles".into(), ..insert.clone() };
        assert_eq!(
            Binding::matches_in(&b[..1], &[elsewhere, notification, insert.clone(), delete.clone()]),
            vec![(2, vec![1])],
            "only changes some binding wants, by index"
        );
        assert!(insert.needs_row_check());
        assert!(!delete.needs_row_check(), "a DELETE known by one id goes key-only to every matching binding");
        let left = change(Op::Delete, None, Some(json!({"group_id": "g1", "user_id": "u1"})));
        assert!(left.needs_row_check(), "a relationship's key is checked against the policies");
    }

    #[test]
    fn a_delivery_has_the_shape_realtime_js_reads() {
        let c = change(Op::Update, Some(json!({"id": "m1", "body": "new"})), Some(json!({"id": "m1", "body": "old"})));
        let columns = vec![("id".to_string(), "uuid".to_string()), ("body".to_string(), "text".to_string())];
        assert_eq!(
            Value::Object(delivery(&[1, 2], &c, &columns)),
            json!({"ids": [1, 2], "data": {
                "schema": "public", "table": "messages", "commit_timestamp": "2026-11-26T20:00:00.000Z",
                "type": "UPDATE", "columns": [{"name": "id", "type": "uuid"}, {"name": "body", "type": "text"}],
                "record": {"id": "m1", "body": "new"}, "old_record": {"id": "m1", "body": "old"}, "errors": null,
                "position": 7
            }})
        );
    }

    #[test]
    fn a_room_s_interests_want_what_its_bindings_match_and_collapse_to_tables_past_the_cap() {
        let binding = |thread: &str| {
            json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{thread}")})
                .to_string()
        };
        let mut stored = vec!["realtime.messages".to_string()];
        Interests::add(&mut stored, vec![binding("t1"), binding("t1")]);
        assert_eq!(stored.len(), 2, "once each");
        let interests = Interests::parse(&stored);
        let mine = change(Op::Insert, Some(json!({"id": "m1", "thread_id": "t1"})), None);
        let other = change(Op::Insert, Some(json!({"id": "m2", "thread_id": "t2"})), None);
        let update = change(Op::Update, Some(json!({"id": "m1", "thread_id": "t1"})), None);
        assert!(interests.want(&mine));
        assert!(!interests.want(&other), "another conversation's message is not sent to this room");
        assert!(!interests.want(&update), "nor an event no binding asked for");
        assert!(Interests::parse(&["public.*".into()]).want(&other), "a whole schema");

        for n in 0..MAX_INTERESTS {
            Interests::add(&mut stored, vec![binding(&format!("t{n}"))]);
        }
        assert_eq!(stored, vec!["public.messages".to_string(), "realtime.messages".to_string()]);
        assert!(Interests::parse(&stored).want(&other), "past the cap, the whole table");
    }
}
