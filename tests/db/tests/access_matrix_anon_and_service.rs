//! The access matrix, continued: every table and every operation as anon (refused: 42501,
//! or nothing returned or changed; reads are always the latter) and as the service role (allowed: it bypasses RLS, as Supabase's does).

use db_tests::Expect::{Allowed, Denied, Nothing, Refused};
use db_tests::Who::{Anon, Service};
use db_tests::*;

/// For one table: a row filter, an insert, and an update of one column.
macro_rules! both_roles {
    ($($table:ident: $filter:expr, $insert:expr, $set:expr;)*) => {
        $(
            mod $table {
                use super::*;
                fn filter() -> String { $filter }
                matrix! {
                    select_as_anon: Anon, format!("select * from public.{} where {}", stringify!($table), filter()) => Nothing;
                    insert_as_anon: Anon, $insert => Refused;
                    update_as_anon: Anon, format!("update public.{} set {} where {}", stringify!($table), $set, filter()) => Denied;
                    delete_as_anon: Anon, format!("delete from public.{} where {}", stringify!($table), filter()) => Denied;
                    select_as_service: Service, format!("select * from public.{} where {}", stringify!($table), filter()) => Allowed;
                    insert_as_service: Service, $insert => Allowed;
                    update_as_service: Service, format!("update public.{} set {} where {}", stringify!($table), $set, filter()) => Allowed;
                    delete_as_service: Service, format!("delete from public.{} where {}", stringify!($table), filter()) => Allowed;
                }
            }
        )*
    };
}

both_roles! {
    profiles: format!("id = '{ADA}'"),
        format!("insert into public.profiles (id, username) values ('{ELM}', 'elm') returning id"),
        "display_name = 'x'";
    conversation_threads: format!("id = '{THREAD}'"),
        format!("insert into public.conversation_threads (kind, title, created_by) values ('group', 'Herbs', '{ELM}') returning id"),
        "title = title";
    conversation_participants: format!("thread_id = '{THREAD}'"),
        format!("with t as (insert into public.conversation_threads (kind, title, created_by) values ('group', 'x', '{ELM}') returning id)
                 insert into public.conversation_participants (thread_id, user_id) select id, '{ELM}' from t returning user_id"),
        "muted = true";
    messages: format!("id = '{MESSAGE}'"),
        format!("insert into public.messages (thread_id, sender_id, body) values ('{THREAD}', '{ADA}', 'hi') returning id"),
        "body = 'edited'";
    live_notifications: format!("id = '{NOTIFICATION}'"),
        format!("insert into public.live_notifications (recipient_id, kind, title) values ('{ADA}', 'system', 'x') returning id"),
        "read_at = now()";
    user_presence: format!("user_id = '{ADA}'"),
        format!("insert into public.user_presence (user_id) values ('{ELM}') returning user_id"),
        "status = 'away'";
    follow_relationships: format!("follower_id = '{BASIL}'"),
        format!("insert into public.follow_relationships (follower_id, followee_id) values ('{ELM}', '{ADA}') returning follower_id"),
        "created_at = now()";
    social_groups: format!("id = '{GROUP}'"),
        format!("insert into public.social_groups (name, owner_id) values ('Seed Savers', '{ELM}') returning id"),
        "description = 'x'";
    group_members: format!("group_id = '{GROUP}' and user_id = '{DILL}'"),
        format!("insert into public.group_members (group_id, user_id) values ('{GROUP}', '{ELM}') returning user_id"),
        "status = 'banned'";
    live_events: format!("id = '{EVENT}'"),
        format!("insert into public.live_events (host_id, title, starts_at, ends_at) values ('{ELM}', 'Mulch day', now(), now() + interval '1 hour') returning id"),
        "status = 'live'";
    event_participants: format!("event_id = '{EVENT}' and user_id = '{ADA}'"),
        format!("insert into public.event_participants (event_id, user_id) values ('{EVENT}', '{DILL}') returning user_id"),
        "status = 'interested'";
    community_polls: format!("id = '{POLL}'"),
        format!("insert into public.community_polls (author_id, question) values ('{ELM}', 'Slugs: beer traps?') returning id"),
        "status = 'closed'";
    poll_options: format!("id = '{OPTION}'"),
        format!("insert into public.poll_options (poll_id, label, position) values ('{POLL}', 'Roma', 7) returning id"),
        "label = 'Roma'";
    poll_votes: format!("poll_id = '{POLL}' and user_id = '{ADA}'"),
        format!("insert into public.poll_votes (poll_id, option_id, user_id) values ('{POLL}', '{OPTION}', '{DILL}') returning user_id"),
        "created_at = now()";
}
