-- More changes that take private channels away, each signalled to the rooms concerned
-- (`feed.signal` 'recheck'; a null user means "ask again about everyone there"):
-- - a participant removed from a thread also loses the channels of the thread's open
--   polls;
-- - a group turned private takes its events' and open polls' channels from non-members.
-- And timed work written anywhere reaches the scheduler: a poll's closing time or an
-- event's times, set or moved, signal it ('schedule'), which the feed forwards (while it
-- runs, that is while anyone subscribes; the edge wakes it directly besides).

create or replace function feed.signal(topic text, kind text, user_id uuid default null) returns void
language plpgsql security definer
set search_path = ''
as $$
begin
    if kind not in ('recheck', 'tally', 'schedule') then
        raise exception 'unknown signal kind %', kind using errcode = '22023';
    end if;
    insert into feed.changes (schema_name, table_name, op, pk, record)
    values ('feed', 'signals', 'INSERT', '{}'::jsonb,
            jsonb_build_object('topic', topic, 'kind', kind, 'user_id', user_id, 'private', true));
end
$$;

create or replace function private.revoke_conversation_channel() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    perform feed.signal('conversation:' || old.thread_id, 'recheck', old.user_id);
    perform feed.signal('poll:' || p.id, 'recheck', old.user_id)
       from public.community_polls p where p.thread_id = old.thread_id and p.status = 'open';
    return null;
end;
$$;

create function private.recheck_group_turned_private() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    perform feed.signal('event:' || e.id, 'recheck', null)
       from public.live_events e where e.group_id = new.id and e.status in ('scheduled', 'live');
    perform feed.signal('poll:' || p.id, 'recheck', null)
       from public.community_polls p where p.group_id = new.id and p.status = 'open';
    return null;
end;
$$;
revoke execute on function private.recheck_group_turned_private() from public, anon, authenticated;

create trigger social_groups_recheck_private
    after update of privacy on public.social_groups
    for each row when (old.privacy = 'public' and new.privacy = 'private')
    execute function private.recheck_group_turned_private();

create function private.signal_schedule() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    perform feed.signal('scheduler', 'schedule');
    return null;
end;
$$;
revoke execute on function private.signal_schedule() from public, anon, authenticated;

create trigger community_polls_schedule
    after insert or update of closes_at on public.community_polls
    for each row when (new.closes_at is not null)
    execute function private.signal_schedule();
create trigger live_events_schedule
    after insert or update of starts_at, ends_at on public.live_events
    for each row execute function private.signal_schedule();
