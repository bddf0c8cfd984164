//! The event and poll rules the database holds for PostgREST as for the edge
//! (migrations 20261127172200 to 20261127172400): only the host checks people in, no
//! RSVP once an event is over, an event keeps its group, a new start is a new reminder,
//! the waitlist is joined at the back, a ban is not lifted by the banned, a closed poll
//! stays closed, and an account still goes with its votes. Each test rolls back.

use db_tests::{act_as, connect, json, sqlstate, ADA, BASIL, CLOVER, DILL, EVENT, GROUP, OPTION, POLL};

#[tokio::test]
async fn only_the_host_checks_in_and_nobody_rsvps_once_it_is_over() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, DILL).await;
    let self_check_in = "insert into public.event_participants (event_id, user_id, status)
                         values ($1::text::uuid, $2::text::uuid, 'checked_in')";
    assert_eq!(sqlstate(&client, self_check_in, &[&EVENT, &DILL]).await, "42501", "checking oneself in");
    act_as(&client, ADA).await;
    let promote_self = "update public.event_participants set status = 'checked_in'
                         where event_id = $1::text::uuid and user_id = $2::text::uuid";
    assert_eq!(sqlstate(&client, promote_self, &[&EVENT, &ADA]).await, "42501", "going to checked in by oneself");
    act_as(&client, BASIL).await;
    assert_eq!(client.execute(promote_self, &[&EVENT, &ADA]).await.expect("the host checks Ada in"), 1);

    client.batch_execute("reset role").await.unwrap();
    client
        .execute("update public.live_events set status = 'ended' where id = $1::text::uuid", &[&EVENT])
        .await
        .unwrap();
    act_as(&client, DILL).await;
    let going = "insert into public.event_participants (event_id, user_id) values ($1::text::uuid, $2::text::uuid)";
    assert_eq!(sqlstate(&client, going, &[&EVENT, &DILL]).await, "PT409", "an RSVP after the end");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn an_event_keeps_its_group_and_a_new_start_is_a_new_reminder() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    client
        .execute("update public.live_events set reminded_at = now() where id = $1::text::uuid", &[&EVENT])
        .await
        .unwrap();
    act_as(&client, BASIL).await;
    let regroup = "update public.live_events set group_id = null, visibility = 'public' where id = $1::text::uuid";
    assert_eq!(sqlstate(&client, regroup, &[&EVENT]).await, "42501", "the host moving the event out of its group");
    let reminder = "update public.live_events set reminded_at = null where id = $1::text::uuid";
    assert_eq!(sqlstate(&client, reminder, &[&EVENT]).await, "42501", "asking for the reminder again");
    client
        .execute(
            "update public.live_events set starts_at = starts_at + interval '1 hour' where id = $1::text::uuid",
            &[&EVENT],
        )
        .await
        .expect("the host moves the start");
    let reminded: Option<String> = client
        .query_one("select reminded_at::text from public.live_events where id = $1::text::uuid", &[&EVENT])
        .await
        .unwrap()
        .get(0);
    assert_eq!(reminded, None, "moved: reminded again before the new start");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn one_who_rsvped_long_ago_joins_the_waitlist_at_the_back() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    client.execute("update public.live_events set capacity = 1 where id = $1::text::uuid", &[&EVENT]).await.unwrap();
    act_as(&client, DILL).await;
    assert_eq!(json(&client, "select public.rsvp($1::text::uuid, 'going')", &[&EVENT]).await["status"], "waitlisted");
    // Clover said "interested" at seeding, long before Dill's RSVP.
    act_as(&client, CLOVER).await;
    assert_eq!(json(&client, "select public.rsvp($1::text::uuid, 'going')", &[&EVENT]).await["status"], "waitlisted");
    act_as(&client, ADA).await;
    client.execute("select public.rsvp($1::text::uuid, 'leave')", &[&EVENT]).await.expect("Ada leaves");
    act_as(&client, DILL).await;
    let dill = json(&client, "select public.describe_event($1::text::uuid)", &[&EVENT]).await;
    assert_eq!(dill["my_rsvp"], "going", "the first in line takes the place: {dill}");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn a_participant_may_withdraw_after_the_end_and_nobody_is_promoted_then() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    client.execute("update public.live_events set capacity = 1 where id = $1::text::uuid", &[&EVENT]).await.unwrap();
    act_as(&client, DILL).await;
    assert_eq!(json(&client, "select public.rsvp($1::text::uuid, 'going')", &[&EVENT]).await["status"], "waitlisted");
    client.batch_execute("reset role").await.unwrap();
    client
        .execute("update public.live_events set status = 'ended' where id = $1::text::uuid", &[&EVENT])
        .await
        .unwrap();
    act_as(&client, ADA).await;
    let withdraw = "delete from public.event_participants where event_id = $1::text::uuid and user_id = $2::text::uuid";
    assert_eq!(client.execute(withdraw, &[&EVENT, &ADA]).await.map_err(|e| e.to_string()), Ok(1));
    act_as(&client, DILL).await;
    let dill = json(&client, "select public.describe_event($1::text::uuid)", &[&EVENT]).await;
    assert_eq!(dill["my_rsvp"], "waitlisted", "an ended event promotes nobody: {dill}");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn a_banned_member_cannot_lift_their_own_ban() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, BASIL).await;
    client.execute("select public.ban_group_member($1::text::uuid, $2::text::uuid)", &[&GROUP, &DILL]).await.unwrap();
    act_as(&client, DILL).await;
    let leave = "delete from public.group_members where group_id = $1::text::uuid and user_id = $2::text::uuid";
    assert_eq!(client.execute(leave, &[&GROUP, &DILL]).await.unwrap(), 0, "the ban row is not theirs to delete");
    assert_eq!(sqlstate(&client, "select public.join_group($1::text::uuid)", &[&GROUP]).await, "PT403");
    act_as(&client, BASIL).await;
    let kick_owner = "select public.remove_group_member($1::text::uuid, $2::text::uuid)";
    assert_eq!(sqlstate(&client, kick_owner, &[&GROUP, &ADA]).await, "PT403", "the owner is not removed");
    client.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn a_closed_poll_stays_closed_and_a_voter_s_account_still_goes() {
    let client = connect().await;
    client.batch_execute("begin").await.unwrap();
    act_as(&client, CLOVER).await;
    assert_eq!(json(&client, "select public.close_poll($1::text::uuid)", &[&POLL]).await["status"], "closed");
    let reopen = "update public.community_polls set status = 'open' where id = $1::text::uuid";
    assert_eq!(sqlstate(&client, reopen, &[&POLL]).await, "PT409");
    let rename = "update public.poll_options set label = 'Brandywine (the winner)' where id = $1::text::uuid";
    assert_eq!(sqlstate(&client, rename, &[&OPTION]).await, "PT409", "renaming an option moves its votes");
    let remove = "delete from public.poll_options where id = $1::text::uuid";
    assert_eq!(sqlstate(&client, remove, &[&OPTION]).await, "PT409", "removing an option takes its votes");
    assert_eq!(sqlstate(&client, "select public.create_poll('No options?', null)", &[]).await, "PT400");
    act_as(&client, ADA).await;
    let retract = "delete from public.poll_votes where poll_id = $1::text::uuid and user_id = $2::text::uuid";
    assert_eq!(sqlstate(&client, retract, &[&POLL, &ADA]).await, "23514", "a vote of a closed poll stays");
    // As an account is deleted: by the service role, as no user.
    client.batch_execute("reset role").await.unwrap();
    client.execute("select set_config('request.jwt.claims', '{\"role\": \"service_role\"}', true)", &[]).await.unwrap();
    let gone = client.execute("delete from auth.users where id = $1::text::uuid", &[&BASIL]).await;
    assert_eq!(gone.map_err(|e| e.to_string()), Ok(1), "an account with a vote in a closed poll can be deleted");
    let poll_gone = client.execute("delete from public.community_polls where id = $1::text::uuid", &[&POLL]).await;
    assert_eq!(poll_gone.map_err(|e| e.to_string()), Ok(1), "and a closed poll can be deleted, votes and all");
    client.batch_execute("rollback").await.unwrap();
}
