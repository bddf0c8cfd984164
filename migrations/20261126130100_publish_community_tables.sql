-- Publishes the community tables to the change feed (feed.capture, 20261126130000): every
-- committed insert, update and delete reaches realtime subscribers, whoever wrote it.
-- An anonymous poll's votes are never published row by row (who voted for what is the
-- secret); their tallies are published as broadcasts instead.
--
-- REPLICA IDENTITY FULL on the tables whose UPDATE consumers need the old values (an
-- edited message, a notification marked read, a member's role or status, an RSVP's
-- status, a poll closing): their old_record carries the whole old row. Elsewhere it
-- carries the primary key, as Supabase does.

alter table public.messages replica identity full;
alter table public.live_notifications replica identity full;
alter table public.group_members replica identity full;
alter table public.event_participants replica identity full;
alter table public.community_polls replica identity full;

do $$
declare
    published text[] := array[
        'profiles', 'conversation_threads', 'conversation_participants', 'messages',
        'live_notifications', 'user_presence', 'follow_relationships', 'social_groups',
        'group_members', 'live_events', 'event_participants', 'community_polls', 'poll_options'
    ];
    t text;
begin
    foreach t in array published loop
        execute format(
            'create trigger capture_changes after insert or update or delete on public.%I
                 for each row execute function feed.capture()', t);
    end loop;
end
$$;

-- Unknown polls count as anonymous: when a poll is deleted its votes go with it, and a
-- vote whose poll is already gone must not be published either.
create function private.poll_is_anonymous(poll uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
    select coalesce((select p.anonymous from public.community_polls p where p.id = poll), true)
$$;

create trigger capture_inserts after insert on public.poll_votes
    for each row when (not private.poll_is_anonymous(new.poll_id))
    execute function feed.capture();
create trigger capture_updates after update on public.poll_votes
    for each row when (not private.poll_is_anonymous(new.poll_id))
    execute function feed.capture();
create trigger capture_deletes after delete on public.poll_votes
    for each row when (not private.poll_is_anonymous(old.poll_id))
    execute function feed.capture();
