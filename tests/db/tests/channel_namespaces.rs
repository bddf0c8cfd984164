//! The edge refuses public joins to the names the channel-authorization policies own
//! (`realtime_protocol::topic::PRIVATE_NAMESPACES`). That list and the policies must
//! agree: a namespace the policies decide but the edge lets through as public would
//! reopen a side door; one the edge blocks but the policies leave open is a broken name.

use db_tests::connect;
use realtime_protocol::topic::PRIVATE_NAMESPACES;

const STRANGER: &str = "00000000-0000-4000-8000-00000000beef";

/// Private-only namespaces every signed-in user may read and only the database writes to
/// (`presence:<user_id>`: everyone may see a user's presence, nobody may forge it).
const READ_ONLY: &[&str] = &["presence"];

/// The SQL of everything the `realtime.messages` policies evaluate: their expressions and
/// the bodies of the functions they call in schemas `private` and `realtime`.
async fn policy_text() -> String {
    let client = connect().await;
    let rows = client
        .query(
            "select coalesce(qual, '') || ' ' || coalesce(with_check, '') from pg_policies
              where schemaname = 'realtime' and tablename = 'messages'
             union all
             select pg_get_functiondef(p.oid) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where n.nspname in ('private', 'realtime') and p.prokind = 'f'",
            &[],
        )
        .await
        .expect("policies and functions");
    rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join("\n")
}

/// Namespaces named in SQL as `'<ns>:%'` (like patterns) or `'^(a|b):'` (regexes).
fn named_namespaces(sql: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in sql.match_indices(":%'") {
        let start = sql[..i].rfind('\'').map_or(i, |q| q + 1);
        found.push(sql[start..i].to_string());
    }
    for (i, _) in sql.match_indices("^(") {
        if let Some(end) = sql[i..].find("):") {
            found.extend(sql[i + 2..i + end].split('|').map(str::to_string));
        }
    }
    found.retain(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    found.sort();
    found.dedup();
    found
}

#[tokio::test]
async fn every_namespace_the_policies_decide_is_private_only_at_the_edge() {
    let named = named_namespaces(&policy_text().await);
    assert!(named.iter().any(|n| n == "user"), "the extraction missed user:, which the policies own: {named:?}");
    let missing: Vec<_> = named.iter().filter(|n| !PRIVATE_NAMESPACES.contains(&n.as_str())).collect();
    assert!(missing.is_empty(), "policies decide {missing:?}, which the edge would let through as public channels");
}

#[tokio::test]
async fn every_private_only_namespace_is_closed_to_a_stranger_and_other_names_are_open() {
    let mut client = connect().await;
    let tx = client.transaction().await.expect("begin");
    let claims = serde_json::json!({"sub": STRANGER, "role": "authenticated", "aud": "authenticated"}).to_string();
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&claims]).await.expect("claims");
    tx.batch_execute("set local role authenticated").await.expect("role");
    let readable = |topic: String| {
        let tx = &tx;
        async move {
            tx.execute("select set_config('realtime.topic', $1, true)", &[&topic]).await.expect("topic");
            // The probe row the edge inserts; here a stranger's read of a topic nobody wrote.
            tx.query_one("select private.may_use_channel(realtime.topic())", &[])
                .await
                .expect("check")
                .get::<_, bool>(0)
        }
    };
    for namespace in PRIVATE_NAMESPACES {
        let topic = format!("{namespace}:00000000-0000-4000-8000-000000000001");
        if READ_ONLY.contains(namespace) {
            assert!(readable(topic.clone()).await, "{topic} should be readable by any signed-in user");
            tx.batch_execute("savepoint probe").await.expect("savepoint");
            let sent = tx
                .execute(
                    "insert into realtime.messages (topic, extension, event, payload, private)
                     values ($1, 'broadcast', 'forged', '{}'::jsonb, true)",
                    &[&topic],
                )
                .await;
            tx.batch_execute("rollback to savepoint probe").await.expect("rollback to savepoint");
            assert_eq!(
                sent.err().and_then(|e| e.code().map(|c| c.code().to_string())).as_deref(),
                Some("42501"),
                "a stranger sent on {topic}"
            );
            continue;
        }
        assert!(
            !readable(topic.clone()).await,
            "{topic} is open to a stranger, yet the edge treats it as private-only"
        );
    }
    for open in ["garden", "users:1", "events:tomatoes"] {
        assert!(readable(open.to_string()).await, "{open} should be an open channel");
    }
}
