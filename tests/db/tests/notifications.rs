//! Notifications the database creates itself, so that a write from anywhere produces
//! them: here, a new follower. Each test runs in a transaction it rolls back.

use db_tests::{connect, DILL, ELM};

async fn act_as(client: &tokio_postgres::Client, user: &str) {
    let claims = serde_json::json!({"sub": user, "role": "authenticated", "aud": "authenticated"}).to_string();
    client.execute("select set_config('request.jwt.claims', $1, true)", &[&claims]).await.expect("claims");
    client.batch_execute("set local role authenticated").await.expect("role");
}

#[tokio::test]
async fn a_follow_notifies_the_followee_alone_with_the_follower_named() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, ELM).await;
    client
        .execute("insert into public.follow_relationships (followee_id) values ($1::text::uuid)", &[&DILL])
        .await
        .expect("Elm follows Dill");
    let count = "select count(*) from public.live_notifications
                  where kind = 'follow' and actor_id = $1::text::uuid and recipient_id = $2::text::uuid
                    and data->>'follower_id' = $1 and title like '% followed you'";
    let as_follower: i64 = client.query_one(count, &[&ELM, &DILL]).await.unwrap().get(0);
    assert_eq!(as_follower, 0, "the follower cannot read the followee's notification");
    act_as(&client, DILL).await;
    let as_followee: i64 = client.query_one(count, &[&ELM, &DILL]).await.unwrap().get(0);
    assert_eq!(as_followee, 1, "the followee has exactly one, naming the follower");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn nobody_can_forge_a_follow_notification_or_call_the_trigger_function() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, ELM).await;
    let forged = client
        .execute(
            "insert into public.live_notifications (recipient_id, actor_id, kind, title)
             values ($1::text::uuid, $2::text::uuid, 'follow', 'Dill followed you')",
            &[&ELM, &DILL],
        )
        .await;
    assert_eq!(forged.unwrap_err().code().map(|c| c.code()), Some("42501"), "no direct inserts");
    client.batch_execute("rollback; begin").await.unwrap();
    act_as(&client, ELM).await;
    let called = client.execute("select private.notify_new_follower()", &[]).await;
    assert!(called.is_err(), "the trigger function is not callable");
    client.batch_execute("rollback").await.unwrap();
}
