//! The access matrix: every table, every operation, as anon, as a stranger (Elm), as a
//! member / participant / recipient, as an admin or owner where the role exists, and as
//! the service role. Allowed means rows returned or changed; refused means 42501 or
//! nothing returned or changed. The README's access table summarizes these rows.

use db_tests::Expect::{Allowed, Fails, Nothing, Refused, Rows};
use db_tests::Who::{Anon, Service, User};
use db_tests::*;

// conversation_threads
matrix! {
    threads_select_as_anon: Anon, format!("select * from public.conversation_threads where id = '{THREAD}'") => Nothing;
    threads_select_as_stranger: User(ELM), format!("select * from public.conversation_threads where id = '{THREAD}'") => Nothing;
    threads_select_as_participant: User(BASIL), format!("select * from public.conversation_threads where id = '{THREAD}'") => Rows(1);
    threads_select_as_service: Service, format!("select * from public.conversation_threads where id = '{THREAD}'") => Rows(1);
    threads_insert_group_as_user: User(ELM), format!("insert into public.conversation_threads (kind, title, created_by) values ('group', 'Herbs', '{ELM}')") => Rows(1);
    threads_insert_as_someone_else: User(ELM), format!("insert into public.conversation_threads (kind, title, created_by) values ('group', 'Herbs', '{ADA}')") => Refused;
    threads_insert_direct_by_hand: User(ELM), format!("insert into public.conversation_threads (kind, created_by, direct_pair) values ('direct', '{ELM}', '{ELM}:{ADA}')") => Refused;
    threads_insert_as_anon: Anon, "insert into public.conversation_threads (kind, title) values ('group', 'x')" => Refused;
    threads_update_as_stranger: User(ELM), format!("update public.conversation_threads set title = 'x' where id = '{THREAD}'") => Nothing;
    threads_update_direct_as_participant: User(BASIL), format!("update public.conversation_threads set title = 'x' where id = '{THREAD}'") => Nothing;
    threads_update_last_seq_column: User(ADA), format!("update public.conversation_threads set last_seq = 99 where id = '{THREAD}'") => Refused;
    threads_delete_as_participant: User(BASIL), format!("delete from public.conversation_threads where id = '{THREAD}'") => Nothing;
    threads_delete_as_creator: User(ADA), format!("delete from public.conversation_threads where id = '{THREAD}'") => Rows(1);
    threads_start_direct_via_function: User(ELM), format!("select public.start_direct_thread('{ADA}')") => Rows(1);
    threads_start_direct_with_oneself: User(ELM), format!("select public.start_direct_thread('{ELM}')") => Fails("22023");
}

// conversation_participants
matrix! {
    participants_select_as_anon: Anon, format!("select * from public.conversation_participants where thread_id = '{THREAD}'") => Nothing;
    participants_select_as_stranger: User(ELM), format!("select * from public.conversation_participants where thread_id = '{THREAD}'") => Nothing;
    participants_select_as_participant: User(BASIL), format!("select * from public.conversation_participants where thread_id = '{THREAD}'") => Rows(2);
    participants_select_as_service: Service, format!("select * from public.conversation_participants where thread_id = '{THREAD}'") => Rows(2);
    participants_insert_self_as_stranger: User(ELM), format!("insert into public.conversation_participants (thread_id, user_id) values ('{THREAD}', '{ELM}')") => Refused;
    participants_insert_third_into_direct: User(ADA), format!("insert into public.conversation_participants (thread_id, user_id) values ('{THREAD}', '{CLOVER}')") => Fails("23514");
    participants_update_own_read_position: User(BASIL), format!("update public.conversation_participants set last_read_seq = 2, muted = true where thread_id = '{THREAD}' and user_id = '{BASIL}'") => Rows(1);
    participants_update_someone_elses: User(BASIL), format!("update public.conversation_participants set muted = true where thread_id = '{THREAD}' and user_id = '{ADA}'") => Nothing;
    participants_update_role_column: User(BASIL), format!("update public.conversation_participants set role = 'owner' where user_id = '{BASIL}'") => Refused;
    participants_leave_direct: User(BASIL), format!("delete from public.conversation_participants where thread_id = '{THREAD}' and user_id = '{BASIL}'") => Fails("23514");
    participants_delete_as_stranger: User(ELM), format!("delete from public.conversation_participants where thread_id = '{THREAD}'") => Nothing;
}

// messages
matrix! {
    messages_select_as_anon: Anon, format!("select * from public.messages where thread_id = '{THREAD}'") => Nothing;
    messages_select_as_stranger: User(ELM), format!("select * from public.messages where thread_id = '{THREAD}'") => Nothing;
    messages_select_as_participant: User(BASIL), format!("select * from public.messages where thread_id = '{THREAD}'") => Rows(2);
    messages_select_as_service: Service, format!("select * from public.messages where thread_id = '{THREAD}'") => Rows(2);
    messages_insert_as_participant: User(BASIL), format!("insert into public.messages (thread_id, sender_id, body) values ('{THREAD}', '{BASIL}', 'Thanks!')") => Rows(1);
    messages_insert_as_another_sender: User(BASIL), format!("insert into public.messages (thread_id, sender_id, body) values ('{THREAD}', '{ADA}', 'forged')") => Refused;
    messages_insert_as_stranger: User(ELM), format!("insert into public.messages (thread_id, sender_id, body) values ('{THREAD}', '{ELM}', 'hi')") => Refused;
    messages_insert_as_anon: Anon, format!("insert into public.messages (thread_id, sender_id, body) values ('{THREAD}', '{ADA}', 'hi')") => Refused;
    messages_insert_untyped_attachment: User(BASIL), format!("insert into public.messages (thread_id, sender_id, body, attachments) values ('{THREAD}', '{BASIL}', 'x', '[{{\"kind\": \"exe\", \"url\": \"u\"}}]')") => Fails("23514");
    messages_insert_duplicate_idempotency_key: User(ADA), format!("insert into public.messages (thread_id, sender_id, body, idempotency_key) values ('{THREAD}', '{ADA}', 'again', 'seed-1')") => Fails("23505");
    messages_update_own: User(ADA), format!("update public.messages set body = 'edited' where id = '{MESSAGE}'") => Rows(1);
    messages_update_someone_elses: User(BASIL), format!("update public.messages set body = 'edited' where id = '{MESSAGE}'") => Nothing;
    messages_update_seq_column: User(ADA), format!("update public.messages set seq = 42 where id = '{MESSAGE}'") => Refused;
    messages_delete_as_sender: User(ADA), format!("delete from public.messages where id = '{MESSAGE}'") => Nothing;
    messages_delete_as_service: Service, format!("delete from public.messages where id = '{MESSAGE}'") => Rows(1);
}

// live_notifications
matrix! {
    notifications_select_as_anon: Anon, "select * from public.live_notifications" => Nothing;
    notifications_select_as_stranger: User(ELM), format!("select * from public.live_notifications where id = '{NOTIFICATION}'") => Nothing;
    notifications_select_as_actor: User(BASIL), format!("select * from public.live_notifications where id = '{NOTIFICATION}'") => Nothing;
    notifications_select_as_recipient: User(ADA), format!("select * from public.live_notifications where id = '{NOTIFICATION}'") => Rows(1);
    notifications_insert_directly: User(BASIL), format!("insert into public.live_notifications (recipient_id, kind, title) values ('{ADA}', 'system', 'x')") => Refused;
    notifications_insert_via_notify: User(BASIL), format!("select public.notify('{ADA}', 'mention', 'You were mentioned')") => Rows(1);
    notifications_notify_as_anon: Anon, format!("select public.notify('{ADA}', 'mention', 'x')") => Refused;
    notifications_insert_as_service: Service, format!("insert into public.live_notifications (recipient_id, kind, title) values ('{ADA}', 'system', 'Welcome')") => Rows(1);
    notifications_mark_read_as_recipient: User(ADA), format!("update public.live_notifications set read_at = now() where id = '{NOTIFICATION}'") => Rows(1);
    notifications_change_title_as_recipient: User(ADA), format!("update public.live_notifications set title = 'x' where id = '{NOTIFICATION}'") => Refused;
    notifications_mark_read_as_stranger: User(ELM), format!("update public.live_notifications set read_at = now() where id = '{NOTIFICATION}'") => Nothing;
    notifications_delete_as_recipient: User(ADA), format!("delete from public.live_notifications where id = '{NOTIFICATION}'") => Refused;
}

// user_presence
matrix! {
    presence_select_as_anon: Anon, "select * from public.user_presence" => Nothing;
    presence_select_as_user: User(ELM), "select * from public.user_presence" => Allowed;
    presence_insert_own: User(ELM), format!("insert into public.user_presence (user_id, status) values ('{ELM}', 'busy')") => Refused;
    presence_insert_for_someone_else: User(ELM), format!("insert into public.user_presence (user_id, status) values ('{BASIL}', 'busy')") => Refused;
    presence_update_own: User(ADA), format!("update public.user_presence set status = 'away' where user_id = '{ADA}'") => Refused;
    presence_update_someone_elses: User(ELM), format!("update public.user_presence set status = 'offline' where user_id = '{ADA}'") => Refused;
    presence_delete_someone_elses: User(ELM), format!("delete from public.user_presence where user_id = '{ADA}'") => Refused;
    presence_delete_own: User(ADA), format!("delete from public.user_presence where user_id = '{ADA}'") => Refused;
    presence_set_by_choice: User(ADA), "select public.set_presence('busy')" => Rows(1);
    presence_recorded_by_a_user: User(ADA), format!("select public.record_connectivity('{ADA}', true, now())") => Refused;
}

// follow_relationships
matrix! {
    follows_select_as_anon: Anon, "select * from public.follow_relationships" => Nothing;
    follows_select_as_user: User(ELM), "select * from public.follow_relationships" => Allowed;
    follows_insert_as_self: User(ELM), format!("insert into public.follow_relationships (follower_id, followee_id) values ('{ELM}', '{ADA}')") => Rows(1);
    follows_insert_for_someone_else: User(ELM), format!("insert into public.follow_relationships (follower_id, followee_id) values ('{DILL}', '{ADA}')") => Refused;
    follows_insert_self_follow: User(ELM), format!("insert into public.follow_relationships (follower_id, followee_id) values ('{ELM}', '{ELM}')") => Fails("23514");
    follows_update: User(BASIL), format!("update public.follow_relationships set followee_id = '{DILL}' where follower_id = '{BASIL}'") => Refused;
    follows_delete_own: User(BASIL), format!("delete from public.follow_relationships where follower_id = '{BASIL}'") => Rows(1);
    follows_delete_someone_elses: User(ELM), format!("delete from public.follow_relationships where follower_id = '{BASIL}'") => Nothing;
}

// social_groups (the seeded group is private)
matrix! {
    groups_select_private_as_anon: Anon, format!("select * from public.social_groups where id = '{GROUP}'") => Nothing;
    groups_select_private_as_stranger: User(ELM), format!("select * from public.social_groups where id = '{GROUP}'") => Nothing;
    groups_select_private_as_member: User(DILL), format!("select * from public.social_groups where id = '{GROUP}'") => Rows(1);
    groups_insert_as_owner: User(ELM), format!("insert into public.social_groups (name, owner_id) values ('Chilli Heads', '{ELM}')") => Rows(1);
    groups_insert_for_someone_else: User(ELM), format!("insert into public.social_groups (name, owner_id) values ('Chilli Heads', '{ADA}')") => Refused;
    groups_update_as_member: User(DILL), format!("update public.social_groups set description = 'x' where id = '{GROUP}'") => Nothing;
    groups_update_as_moderator: User(CLOVER), format!("update public.social_groups set description = 'x' where id = '{GROUP}'") => Nothing;
    groups_update_as_admin: User(BASIL), format!("update public.social_groups set description = 'x' where id = '{GROUP}'") => Rows(1);
    groups_update_member_count: User(ADA), format!("update public.social_groups set member_count = 1000 where id = '{GROUP}'") => Refused;
    groups_delete_as_admin: User(BASIL), format!("delete from public.social_groups where id = '{GROUP}'") => Nothing;
    groups_delete_as_owner: User(ADA), format!("delete from public.social_groups where id = '{GROUP}'") => Rows(1);
}

// group_members
matrix! {
    members_select_as_anon: Anon, format!("select * from public.group_members where group_id = '{GROUP}'") => Nothing;
    members_select_as_stranger: User(ELM), format!("select * from public.group_members where group_id = '{GROUP}'") => Nothing;
    members_select_as_member: User(DILL), format!("select * from public.group_members where group_id = '{GROUP}'") => Rows(4);
    members_join_private_group_as_stranger: User(ELM), format!("insert into public.group_members (group_id, user_id) values ('{GROUP}', '{ELM}')") => Rows(1);
    members_add_someone_as_member: User(DILL), format!("insert into public.group_members (group_id, user_id) values ('{GROUP}', '{ELM}')") => Refused;
    members_add_someone_as_admin: User(BASIL), format!("insert into public.group_members (group_id, user_id) values ('{GROUP}', '{ELM}')") => Rows(1);
    members_promote_as_member: User(DILL), format!("update public.group_members set role = 'admin' where group_id = '{GROUP}' and user_id = '{DILL}'") => Nothing;
    members_promote_as_moderator: User(CLOVER), format!("update public.group_members set role = 'admin' where group_id = '{GROUP}' and user_id = '{DILL}'") => Refused;
    members_promote_to_admin_as_admin: User(BASIL), format!("update public.group_members set role = 'admin' where group_id = '{GROUP}' and user_id = '{DILL}'") => Rows(1);
    members_promote_to_owner_as_admin: User(BASIL), format!("update public.group_members set role = 'owner' where group_id = '{GROUP}' and user_id = '{DILL}'") => Refused;
    members_demote_self_as_moderator: User(CLOVER), format!("update public.group_members set role = 'member' where group_id = '{GROUP}' and user_id = '{CLOVER}'") => Refused;
    members_ban_member_as_moderator: User(CLOVER), format!("update public.group_members set status = 'banned' where group_id = '{GROUP}' and user_id = '{DILL}'") => Rows(1);
    members_ban_admin_as_moderator: User(CLOVER), format!("update public.group_members set status = 'banned' where group_id = '{GROUP}' and user_id = '{BASIL}'") => Refused;
    members_remove_member_as_moderator: User(CLOVER), format!("delete from public.group_members where group_id = '{GROUP}' and user_id = '{DILL}'") => Rows(1);
    members_remove_admin_as_moderator: User(CLOVER), format!("delete from public.group_members where group_id = '{GROUP}' and user_id = '{BASIL}'") => Refused;
    members_ban_as_admin: User(BASIL), format!("update public.group_members set status = 'banned' where group_id = '{GROUP}' and user_id = '{DILL}'") => Rows(1);
    members_demote_owner_as_admin: User(BASIL), format!("update public.group_members set role = 'member' where group_id = '{GROUP}' and user_id = '{ADA}'") => Refused;
    members_leave: User(DILL), format!("delete from public.group_members where group_id = '{GROUP}' and user_id = '{DILL}'") => Rows(1);
    members_remove_as_member: User(DILL), format!("delete from public.group_members where group_id = '{GROUP}' and user_id = '{CLOVER}'") => Nothing;
    members_remove_as_admin: User(BASIL), format!("delete from public.group_members where group_id = '{GROUP}' and user_id = '{DILL}'") => Rows(1);
    members_remove_owner_as_admin: User(BASIL), format!("delete from public.group_members where group_id = '{GROUP}' and user_id = '{ADA}'") => Nothing;
}

// live_events (the seeded event belongs to the private group)
matrix! {
    events_select_as_anon: Anon, format!("select * from public.live_events where id = '{EVENT}'") => Nothing;
    events_select_as_stranger: User(ELM), format!("select * from public.live_events where id = '{EVENT}'") => Nothing;
    events_select_as_member: User(DILL), format!("select * from public.live_events where id = '{EVENT}'") => Rows(1);
    events_insert_public: User(ELM), format!("insert into public.live_events (host_id, title, starts_at, ends_at) values ('{ELM}', 'Compost clinic', now() + interval '1 day', now() + interval '2 days')") => Rows(1);
    events_insert_in_a_group_not_joined: User(ELM), format!("insert into public.live_events (host_id, group_id, title, starts_at, ends_at) values ('{ELM}', '{GROUP}', 'Crash', now() + interval '1 day', now() + interval '2 days')") => Refused;
    events_insert_ending_before_start: User(ELM), format!("insert into public.live_events (host_id, title, starts_at, ends_at) values ('{ELM}', 'Backwards', now() + interval '2 days', now() + interval '1 day')") => Fails("23514");
    events_update_as_member: User(DILL), format!("update public.live_events set title = 'Mine now' where id = '{EVENT}'") => Nothing;
    events_update_as_host: User(BASIL), format!("update public.live_events set status = 'live' where id = '{EVENT}'") => Rows(1);
    events_delete_as_member: User(DILL), format!("delete from public.live_events where id = '{EVENT}'") => Nothing;
    events_delete_as_host: User(BASIL), format!("delete from public.live_events where id = '{EVENT}'") => Rows(1);
}

// event_participants
matrix! {
    rsvps_select_as_stranger: User(ELM), format!("select * from public.event_participants where event_id = '{EVENT}'") => Nothing;
    rsvps_select_as_member: User(DILL), format!("select * from public.event_participants where event_id = '{EVENT}'") => Rows(2);
    rsvps_insert_as_member: User(DILL), format!("insert into public.event_participants (event_id, user_id) values ('{EVENT}', '{DILL}')") => Rows(1);
    rsvps_insert_as_stranger: User(ELM), format!("insert into public.event_participants (event_id, user_id) values ('{EVENT}', '{ELM}')") => Refused;
    rsvps_insert_for_someone_else: User(DILL), format!("insert into public.event_participants (event_id, user_id) values ('{EVENT}', '{BASIL}')") => Refused;
    rsvps_update_own: User(CLOVER), format!("update public.event_participants set status = 'going' where event_id = '{EVENT}' and user_id = '{CLOVER}'") => Rows(1);
    rsvps_check_in_as_host: User(BASIL), format!("update public.event_participants set status = 'checked_in' where event_id = '{EVENT}' and user_id = '{ADA}'") => Rows(1);
    rsvps_update_someone_elses: User(DILL), format!("update public.event_participants set status = 'interested' where event_id = '{EVENT}' and user_id = '{ADA}'") => Nothing;
    rsvps_delete_own: User(ADA), format!("delete from public.event_participants where event_id = '{EVENT}' and user_id = '{ADA}'") => Rows(1);
    rsvps_delete_someone_elses: User(BASIL), format!("delete from public.event_participants where event_id = '{EVENT}' and user_id = '{ADA}'") => Nothing;
}

// community_polls, poll_options, poll_votes (the seeded poll is in the private group)
matrix! {
    polls_select_as_stranger: User(ELM), format!("select * from public.community_polls where id = '{POLL}'") => Nothing;
    polls_select_as_member: User(DILL), format!("select * from public.community_polls where id = '{POLL}'") => Rows(1);
    polls_insert_in_own_group: User(DILL), format!("insert into public.community_polls (author_id, group_id, question) values ('{DILL}', '{GROUP}', 'Peat or coir?')") => Rows(1);
    polls_insert_in_a_group_not_joined: User(ELM), format!("insert into public.community_polls (author_id, group_id, question) values ('{ELM}', '{GROUP}', 'Peat or coir?')") => Refused;
    polls_update_as_author: User(CLOVER), format!("update public.community_polls set status = 'closed' where id = '{POLL}'") => Rows(1);
    polls_update_as_member: User(DILL), format!("update public.community_polls set status = 'closed' where id = '{POLL}'") => Nothing;
    polls_delete_as_member: User(DILL), format!("delete from public.community_polls where id = '{POLL}'") => Nothing;
    polls_delete_as_author: User(CLOVER), format!("delete from public.community_polls where id = '{POLL}'") => Rows(1);
    options_select_as_stranger: User(ELM), format!("select * from public.poll_options where poll_id = '{POLL}'") => Nothing;
    options_select_as_member: User(DILL), format!("select * from public.poll_options where poll_id = '{POLL}'") => Rows(3);
    options_insert_as_member: User(DILL), format!("insert into public.poll_options (poll_id, label, position) values ('{POLL}', 'San Marzano', 3)") => Refused;
    options_insert_as_author: User(CLOVER), format!("insert into public.poll_options (poll_id, label, position) values ('{POLL}', 'San Marzano', 3)") => Rows(1);
    options_update_as_member: User(DILL), format!("update public.poll_options set label = 'x' where poll_id = '{POLL}'") => Nothing;
    options_delete_as_author: User(CLOVER), format!("delete from public.poll_options where id = '{OPTION}'") => Rows(1);
    votes_select_others_as_author: User(CLOVER), format!("select * from public.poll_votes where poll_id = '{POLL}'") => Nothing;
    votes_select_own: User(ADA), format!("select * from public.poll_votes where poll_id = '{POLL}'") => Rows(1);
    votes_select_all_as_service: Service, format!("select * from public.poll_votes where poll_id = '{POLL}'") => Rows(2);
    votes_insert_as_member: User(DILL), format!("insert into public.poll_votes (poll_id, option_id, user_id) values ('{POLL}', '{OPTION}', '{DILL}')") => Rows(1);
    votes_insert_second_on_single_choice: User(ADA), format!("insert into public.poll_votes (poll_id, option_id, user_id) values ('{POLL}', '{OPTION}', '{ADA}')") => Fails("23505");
    votes_insert_as_stranger: User(ELM), format!("insert into public.poll_votes (poll_id, option_id, user_id) values ('{POLL}', '{OPTION}', '{ELM}')") => Refused;
    votes_insert_for_someone_else: User(DILL), format!("insert into public.poll_votes (poll_id, option_id, user_id) values ('{POLL}', '{OPTION}', '{CLOVER}')") => Refused;
    votes_update_own: User(ADA), format!("update public.poll_votes set option_id = '{OPTION}' where user_id = '{ADA}'") => Refused;
    votes_delete_own: User(ADA), format!("delete from public.poll_votes where user_id = '{ADA}' and poll_id = '{POLL}'") => Rows(1);
    votes_delete_someone_elses: User(ADA), format!("delete from public.poll_votes where user_id = '{BASIL}'") => Nothing;
    tallies_as_member: User(DILL), format!("select * from public.poll_results('{POLL}') where votes > 0") => Rows(2);
    tallies_as_stranger: User(ELM), format!("select * from public.poll_results('{POLL}')") => Nothing;
    tallies_as_anon: Anon, format!("select * from public.poll_results('{POLL}')") => Refused;
}

// profiles
matrix! {
    profiles_select_as_anon: Anon, "select * from public.profiles" => Nothing;
    profiles_select_as_user: User(ELM), "select * from public.profiles" => Allowed;
    profiles_update_own: User(ADA), format!("update public.profiles set display_name = 'Ada G.' where id = '{ADA}'") => Rows(1);
    profiles_update_someone_elses: User(ELM), format!("update public.profiles set display_name = 'x' where id = '{ADA}'") => Nothing;
    profiles_insert_for_someone_else: User(ELM), format!("insert into public.profiles (id, username) values ('{DILL}', 'imposter')") => Refused;
    profiles_delete_own: User(ADA), format!("delete from public.profiles where id = '{ADA}'") => Nothing;
}
