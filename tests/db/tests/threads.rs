//! The thread rules the database holds for writes from anywhere (migrations
//! 20261127140000 to 20261127140300): group threads made and described as the caller, a
//! departing owner's thread handed over, direct pairs fixed but still deletable with the
//! thread, who may delete a message, read marks and unread counts, the participant
//! limit. Each test runs in a transaction it rolls back.

use db_tests::{act_as, connect, json, sqlstate, ADA, BASIL, CLOVER, DILL, ELM, THREAD};
use serde_json::Value;
use tokio_postgres::Client;

/// A group thread Ada creates with Basil and Clover, as Ada; its id.
async fn herb_thread(client: &Client) -> String {
    act_as(client, ADA).await;
    let made =
        json(client, "select public.create_group_thread('Herbs', array[$1, $2]::text[]::uuid[])", &[&BASIL, &CLOVER])
            .await;
    assert_eq!(made["owner_id"], ADA);
    assert_eq!(made["participant_count"], 3, "{made}");
    made["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_group_thread_is_described_to_its_participants_only() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    let thread = herb_thread(&client).await;
    act_as(&client, BASIL).await;
    let seen = json(&client, "select public.describe_thread($1::text::uuid)", &[&thread]).await;
    let roles: Vec<&str> =
        seen["participants"].as_array().into_iter().flatten().filter_map(|p| p["role"].as_str()).collect();
    assert_eq!(roles.iter().filter(|r| **r == "owner").count(), 1, "{seen}");
    assert_eq!((seen["kind"].as_str(), seen["unread"].as_i64()), (Some("group"), Some(0)));
    act_as(&client, ELM).await;
    assert_eq!(json(&client, "select public.describe_thread($1::text::uuid)", &[&thread]).await, Value::Null);
    let listed: i64 = client.query_one("select count(*) from public.my_threads", &[]).await.unwrap().get(0);
    assert_eq!(listed, 0, "the stranger's list is empty");
    assert_eq!(
        sqlstate(
            &client,
            "select public.add_thread_participants($1::text::uuid, array[$2]::text[]::uuid[])",
            &[&thread, &ELM]
        )
        .await,
        "42501",
        "a stranger cannot add themselves"
    );
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn a_departing_owner_hands_the_thread_over_and_the_last_one_out_deletes_it() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    let thread = herb_thread(&client).await;
    let leave = "delete from public.conversation_participants where thread_id = $1::text::uuid and user_id = (select auth.uid())";
    client.execute(leave, &[&thread]).await.expect("Ada leaves");
    act_as(&client, CLOVER).await;
    let now = json(&client, "select public.describe_thread($1::text::uuid)", &[&thread]).await;
    let heir = now["owner_id"].as_str().unwrap_or_default().to_string();
    assert!(heir == BASIL || heir == CLOVER, "{now}");
    let owners: Vec<&Value> =
        now["participants"].as_array().into_iter().flatten().filter(|p| p["role"] == "owner").collect();
    assert_eq!(owners.len(), 1, "{now}");
    assert_eq!(owners[0]["user_id"], heir.as_str());
    act_as(&client, ADA).await;
    assert_eq!(
        sqlstate(
            &client,
            "select public.add_thread_participants($1::text::uuid, array[$2]::text[]::uuid[])",
            &[&thread, &ADA]
        )
        .await,
        "42501",
        "the former owner cannot come back on their own"
    );
    for who in [BASIL, CLOVER] {
        act_as(&client, who).await;
        client.execute(leave, &[&thread]).await.expect("leaving");
    }
    client.batch_execute("reset role").await.unwrap();
    let left: i64 = client
        .query_one("select count(*) from public.conversation_threads where id = $1::text::uuid", &[&thread])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the last one out deleted the thread");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn a_direct_pair_is_fixed_but_goes_with_its_thread() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, ADA).await;
    let remove =
        "delete from public.conversation_participants where thread_id = $1::text::uuid and user_id = $2::text::uuid";
    assert_eq!(sqlstate(&client, remove, &[&THREAD, &BASIL]).await, "23514", "the starter removing the other");
    client.batch_execute("rollback; begin").await.unwrap();
    act_as(&client, ADA).await;
    let deleted = client
        .execute("delete from public.conversation_threads where id = $1::text::uuid", &[&THREAD])
        .await
        .expect("the creator deletes the direct thread, participants and all");
    assert_eq!(deleted, 1);
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn the_sender_or_a_group_owner_may_delete_a_message_leaving_a_tombstone() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    let thread = herb_thread(&client).await;
    act_as(&client, BASIL).await;
    let sent =
        json(&client, "select public.send_messages($1::text::uuid, '[{\"body\": \"basil here\"}]')", &[&thread]).await;
    let id = sent[0]["message"]["id"].as_str().unwrap_or_default().to_string();
    act_as(&client, CLOVER).await;
    assert_eq!(
        sqlstate(&client, "select public.delete_message($1::text::uuid)", &[&id]).await,
        "42501",
        "another member"
    );
    act_as(&client, ELM).await;
    assert_eq!(sqlstate(&client, "select public.delete_message($1::text::uuid)", &[&id]).await, "P0002", "a stranger");
    act_as(&client, ADA).await;
    let tomb = json(&client, "select public.delete_message($1::text::uuid)", &[&id]).await;
    assert_eq!((tomb["body"].as_str(), tomb["seq"].as_i64()), (Some(""), Some(1)));
    assert!(tomb["deleted_at"].is_string(), "{tomb}");
    act_as(&client, BASIL).await;
    let again = json(&client, "select public.delete_message($1::text::uuid)", &[&id]).await;
    assert_eq!(again["deleted_at"], tomb["deleted_at"], "deleting a tombstone answers it unchanged");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn read_marks_move_forward_only_and_unread_skips_ones_own_and_deleted_messages() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    let thread = herb_thread(&client).await;
    let batch = r#"[{"body": "one"}, {"body": "two"}, {"body": "three"}]"#;
    json(&client, "select public.send_messages($1::text::uuid, $2::text::jsonb)", &[&thread, &batch]).await;
    act_as(&client, BASIL).await;
    json(&client, "select public.send_messages($1::text::uuid, '[{\"body\": \"mine\"}]')", &[&thread]).await;
    let unread = "select unread from public.my_threads where id = $1::text::uuid";
    let count: i64 = client.query_one(unread, &[&thread]).await.unwrap().get(0);
    assert_eq!(count, 3, "Ada's three, not Basil's own");
    act_as(&client, ADA).await;
    json(
        &client,
        "select public.delete_message(id) from public.messages where thread_id = $1::text::uuid and seq = 3",
        &[&thread],
    )
    .await;
    act_as(&client, BASIL).await;
    let count: i64 = client.query_one(unread, &[&thread]).await.unwrap().get(0);
    assert_eq!(count, 2, "a tombstone is not unread");
    let marked = json(&client, "select public.mark_thread_read($1::text::uuid, 1)", &[&thread]).await;
    assert_eq!((marked["last_read_seq"].as_i64(), marked["unread"].as_i64()), (Some(1), Some(1)));
    let back = json(&client, "select public.mark_thread_read($1::text::uuid, 0)", &[&thread]).await;
    assert_eq!(back["last_read_seq"], 1, "never back");
    let past = json(&client, "select public.mark_thread_read($1::text::uuid, 99)", &[&thread]).await;
    assert_eq!(past["last_read_seq"], 4, "never past the last message");
    assert_eq!(sqlstate(&client, "select public.mark_thread_read($1::text::uuid, -1)", &[&thread]).await, "22023");
    act_as(&client, DILL).await;
    assert_eq!(json(&client, "select public.mark_thread_read($1::text::uuid)", &[&thread]).await, Value::Null);
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn a_thread_holds_at_most_two_hundred_participants() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    client
        .execute("insert into auth.users (id) select gen_random_uuid() from generate_series(1, 200)", &[])
        .await
        .unwrap();
    let thread = herb_thread(&client).await;
    client.batch_execute("reset role").await.unwrap();
    let fill = "insert into public.conversation_participants (thread_id, user_id)
                select $1::text::uuid, u.id from auth.users u
                 where not exists (select 1 from public.conversation_participants p
                                    where p.thread_id = $1::text::uuid and p.user_id = u.id)
                 limit $2";
    client.execute(fill, &[&thread, &197i64]).await.expect("up to 200");
    assert_eq!(sqlstate(&client, fill, &[&thread, &1i64]).await, "23514", "the 201st");
    act_as(&client, ADA).await;
    let again = "select public.add_thread_participants($1::text::uuid, array[$2]::text[]::uuid[])";
    let full = json(&client, again, &[&thread, &BASIL]).await;
    assert_eq!(full["participant_count"], 200, "adding someone already in a full thread changes nothing");
    act_as(&client, BASIL).await;
    assert_eq!(
        sqlstate(&client, again, &[&thread, &ELM]).await,
        "42501",
        "a member who may not add is refused as such, not told the thread is full"
    );
    client.batch_execute("rollback").await.unwrap();
}

/// Two leavers at once: the participant the thread would pass to leaves first (not yet
/// committed), then the owner. Without the thread's row lock taken before a removal, the
/// owner's handover picks the heir who is on the way out, and the thread ends up owned
/// by someone who left, with nobody in it as owner.
#[tokio::test]
async fn an_owner_and_their_heir_leaving_at_once_leave_the_thread_to_the_one_who_stays() {
    let setup = connect().await;
    act_as_committed(&setup, ADA).await;
    let made = json(&setup, "select public.create_group_thread('Race', array[$1]::text[]::uuid[])", &[&BASIL]).await;
    let thread = made["id"].as_str().unwrap_or_default().to_string();
    setup.batch_execute("commit").await.unwrap();
    // Clover joins last: the heir is Basil.
    setup
        .execute(
            "insert into public.conversation_participants (thread_id, user_id, joined_at)
             values ($1::text::uuid, $2::text::uuid, now() + interval '1 second')",
            &[&thread, &CLOVER],
        )
        .await
        .expect("Clover joins");
    let leave = "delete from public.conversation_participants where thread_id = $1::text::uuid and user_id = (select auth.uid())";
    let heir = connect().await;
    heir.batch_execute("begin").await.unwrap();
    act_as(&heir, BASIL).await;
    heir.execute(leave, &[&thread]).await.expect("Basil leaves");
    let owner_leaves = {
        let thread = thread.clone();
        tokio::spawn(async move {
            let owner = connect().await;
            owner.batch_execute("begin").await.unwrap();
            act_as(&owner, ADA).await;
            owner.execute(leave, &[&thread]).await.expect("Ada leaves");
            owner.batch_execute("commit").await.unwrap();
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    heir.batch_execute("commit").await.unwrap();
    owner_leaves.await.expect("the owner's transaction");
    let row = setup
        .query_one(
            "select t.created_by::text, (select array_agg(p.user_id::text || ':' || p.role) from public.conversation_participants p
                                          where p.thread_id = t.id)
               from public.conversation_threads t where t.id = $1::text::uuid",
            &[&thread],
        )
        .await
        .expect("the thread is still there");
    assert_eq!(row.get::<_, String>(0), CLOVER, "the one who stays owns it");
    assert_eq!(row.get::<_, Vec<String>>(1), vec![format!("{CLOVER}:owner")]);
    setup.execute("delete from public.conversation_threads where id = $1::text::uuid", &[&thread]).await.unwrap();
}

/// `act_as` in a transaction of its own that the caller commits.
async fn act_as_committed(client: &Client, user: &str) {
    client.batch_execute("begin").await.unwrap();
    act_as(client, user).await;
}
