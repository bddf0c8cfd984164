//! The group rules the database holds for writes from anywhere (migrations
//! 20261127170300 to 20261127170800): ranks, requests answered by moderators, bans that
//! keep someone out until lifted, ownership handed over, member_count under concurrent
//! joins, and the broadcasts and revocation signals membership changes raise.

use db_tests::{act_as, as_user, connect, json, sqlstate, ADA, BASIL, CLOVER, DILL, ELM, GROUP};
use futures_util::future::join_all;

#[tokio::test]
async fn a_request_is_answered_by_a_moderator_and_a_ban_keeps_someone_out_until_lifted() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, ELM).await;
    let asked = json(&client, "select public.join_group($1::text::uuid)", &[&GROUP]).await;
    assert_eq!(asked["status"], "pending", "the seeded group is private: {asked}");
    act_as(&client, DILL).await;
    let by_member = "select public.answer_join_request($1::text::uuid, $2::text::uuid, true)";
    assert_eq!(sqlstate(&client, by_member, &[&GROUP, &ELM]).await, "PT403", "a plain member cannot answer");
    act_as(&client, CLOVER).await;
    let approved = json(&client, by_member, &[&GROUP, &ELM]).await;
    assert_eq!(approved["status"], "active", "{approved}");
    let notified: i64 = client
        .query_one("select count(*) from public.live_notifications where kind = 'group_request_approved' and recipient_id = $1::text::uuid", &[&ELM])
        .await
        .unwrap()
        .get(0);
    assert_eq!(notified, 0, "the moderator cannot read Elm's notifications");
    act_as(&client, ELM).await;
    let notified: i64 = client
        .query_one("select count(*) from public.live_notifications where kind = 'group_request_approved'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(notified, 1, "the requester is told");

    act_as(&client, CLOVER).await;
    let banned = json(&client, "select public.ban_group_member($1::text::uuid, $2::text::uuid)", &[&GROUP, &ELM]).await;
    assert_eq!(banned["status"], "banned");
    assert_eq!(
        sqlstate(&client, "select public.ban_group_member($1::text::uuid, $2::text::uuid)", &[&GROUP, &BASIL]).await,
        "42501",
        "a moderator cannot ban an admin"
    );
    act_as(&client, ELM).await;
    assert_eq!(sqlstate(&client, "select public.join_group($1::text::uuid)", &[&GROUP]).await, "PT403");
    act_as(&client, CLOVER).await;
    client.execute("select public.unban_group_member($1::text::uuid, $2::text::uuid)", &[&GROUP, &ELM]).await.unwrap();
    act_as(&client, ELM).await;
    assert_eq!(json(&client, "select public.join_group($1::text::uuid)", &[&GROUP]).await["status"], "pending");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn roles_are_changed_by_admins_never_above_their_own_and_the_owner_hands_over_before_leaving() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    let set_role = "select public.set_group_member_role($1::text::uuid, $2::text::uuid, $3::text::public.group_role)";
    act_as(&client, CLOVER).await;
    assert_eq!(sqlstate(&client, set_role, &[&GROUP, &DILL, &"moderator"]).await, "PT403", "moderators do not");
    act_as(&client, BASIL).await;
    assert_eq!(json(&client, set_role, &[&GROUP, &DILL, &"admin"]).await["role"], "admin");
    assert_eq!(sqlstate(&client, set_role, &[&GROUP, &DILL, &"member"]).await, "42501", "not an equal's role");
    assert_eq!(sqlstate(&client, set_role, &[&GROUP, &CLOVER, &"owner"]).await, "42501", "never owner");

    act_as(&client, ADA).await;
    let leave = "select public.remove_group_member($1::text::uuid, $2::text::uuid)";
    assert_eq!(sqlstate(&client, leave, &[&GROUP, &ADA]).await, "PT409", "the owner hands over first");
    let transfer = "select public.transfer_group_ownership($1::text::uuid, $2::text::uuid)";
    act_as(&client, BASIL).await;
    assert_eq!(sqlstate(&client, transfer, &[&GROUP, &BASIL]).await, "PT403", "only the owner");
    act_as(&client, ADA).await;
    let moved = json(&client, transfer, &[&GROUP, &CLOVER]).await;
    assert_eq!((moved["owner_id"].as_str(), moved["my_role"].as_str()), (Some(CLOVER), Some("admin")), "{moved}");
    client.execute(leave, &[&GROUP, &ADA]).await.expect("the former owner may leave");
    act_as(&client, CLOVER).await;
    let roles = json(
        &client,
        "select jsonb_object_agg(user_id, role) from public.group_members where group_id = $1::text::uuid",
        &[&GROUP],
    )
    .await;
    assert_eq!(roles[CLOVER], "owner");
    assert!(roles.get(ADA).is_none(), "{roles}");
    assert_eq!(roles.as_object().map(|o| o.values().filter(|r| *r == "owner").count()), Some(1));
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn a_member_banned_or_removed_raises_revocation_signals_and_a_broadcast_to_the_group() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    let before: i64 = client.query_one("select coalesce(max(id), 0) from feed.changes", &[]).await.unwrap().get(0);
    act_as(&client, BASIL).await;
    client.execute("select public.ban_group_member($1::text::uuid, $2::text::uuid)", &[&GROUP, &DILL]).await.unwrap();
    client.batch_execute("reset role").await.unwrap();
    let signals = json(
        &client,
        "select jsonb_agg(record order by id) from feed.changes where id > $1 and schema_name = 'feed'",
        &[&before],
    )
    .await;
    let topics: Vec<&str> = signals.as_array().into_iter().flatten().filter_map(|s| s["topic"].as_str()).collect();
    assert!(topics.contains(&format!("group:{GROUP}").as_str()), "{signals}");
    assert!(signals.as_array().into_iter().flatten().all(|s| s["kind"] == "recheck" && s["user_id"] == DILL));
    let left = json(
        &client,
        "select payload from realtime.messages where topic = $1 and event = 'member_left'",
        &[&format!("group:{GROUP}")],
    )
    .await;
    assert_eq!((left["user_id"].as_str(), left["reason"].as_str()), (Some(DILL), Some("banned")), "{left}");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn forty_concurrent_joins_are_all_counted() {
    let admin = connect().await;
    let tag = format!("{:x}", std::process::id());
    let users: Vec<String> = (0..41).map(|i| format!("88888888-{tag:0>4.4}-4000-8000-{i:012}")).collect();
    for u in &users {
        admin
            .execute("insert into auth.users (id) values ($1::text::uuid) on conflict do nothing", &[u])
            .await
            .unwrap();
    }
    let owner = as_user(&users[0]).await;
    let made = json(&owner, "select public.create_group($1)", &[&format!("Counting {tag}")]).await;
    let group = made["id"].as_str().unwrap_or_default().to_string();
    let joins = users[1..].iter().map(|u| {
        let group = group.clone();
        async move { as_user(u).await.query_one("select public.join_group($1::text::uuid)", &[&group]).await }
    });
    let results = join_all(joins).await;
    let count: i32 = admin
        .query_one("select member_count from public.social_groups where id = $1::text::uuid", &[&group])
        .await
        .unwrap()
        .get(0);
    admin.execute("delete from public.social_groups where id = $1::text::uuid", &[&group]).await.unwrap();
    admin.execute("delete from auth.users where id = any($1::text[]::uuid[])", &[&users]).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{:?}", results.iter().find(|r| r.is_err()));
    assert_eq!(count, 41, "the owner and forty members");
}
