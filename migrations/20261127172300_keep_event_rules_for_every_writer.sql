-- The event rules the edge keeps, kept for PostgREST too:
-- - hosts and group admins edit an event's title, description, times, capacity and
--   status only (not its host, group, visibility, or when it was reminded);
-- - a new start time is a new reminder (reminded_at is reset by the database);
-- - participants RSVP (going, interested) only while the event is scheduled or live,
--   and only the host checks anyone in;
-- - one who joins the waitlist joins it at the back, whenever they first RSVP'd.

revoke update on public.live_events from anon, authenticated;
grant update (title, description, starts_at, ends_at, capacity, status) on public.live_events to authenticated;

create or replace function private.check_event_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if new.host_id <> old.host_id and (select auth.uid()) is not null then
        raise exception 'an event keeps its host' using errcode = '42501';
    end if;
    if new.status <> old.status and not (
        (old.status = 'scheduled' and new.status in ('live', 'cancelled', 'ended'))
        or (old.status = 'live' and new.status in ('ended', 'cancelled'))) then
        raise exception 'an event that is % cannot become %', old.status, new.status using errcode = 'PT409';
    end if;
    if new.starts_at is distinct from old.starts_at then
        new.reminded_at := null;
    end if;
    return new;
end;
$$;

create or replace function public.update_event(event uuid, patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    current public.live_events := private.editable_event(event);
begin
    if current.status not in ('scheduled', 'live') then
        raise exception 'an event that is % is not edited', current.status using errcode = 'PT409';
    end if;
    update public.live_events e set
        title = case when patch ? 'title' then patch ->> 'title' else e.title end,
        description = case when patch ? 'description' then patch ->> 'description' else e.description end,
        starts_at = case when patch ? 'starts_at' then (patch ->> 'starts_at')::timestamptz else e.starts_at end,
        ends_at = case when patch ? 'ends_at' then (patch ->> 'ends_at')::timestamptz else e.ends_at end,
        capacity = case when patch ? 'capacity' then (patch ->> 'capacity')::integer else e.capacity end
     where e.id = event;
    return public.describe_event(event);
exception when check_violation then
    raise exception 'ends_at: after starts_at, and capacity above 0' using errcode = 'PT400';
end;
$$;

-- Runs after the capacity trigger (names order triggers), so it sees a going RSVP the
-- event had no room for as waitlisted.
create function private.check_rsvp() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    event record;
begin
    select e.status, e.host_id into event from public.live_events e where e.id = new.event_id;
    if me is not null and event.status not in ('scheduled', 'live')
       and not (tg_op = 'UPDATE' and new.status = old.status) then
        raise exception 'this event is %: RSVPs are closed', event.status using errcode = 'PT409';
    end if;
    if new.status = 'checked_in' and (tg_op = 'INSERT' or old.status <> 'checked_in')
       and me is not null and me <> event.host_id then
        raise exception 'only the host checks people in' using errcode = '42501';
    end if;
    if new.status = 'waitlisted' and (tg_op = 'INSERT' or old.status <> 'waitlisted') then
        new.created_at := clock_timestamp();  -- the back of the line (now() is the transaction's start)
    end if;
    return new;
end;
$$;
create trigger event_participants_zz_checked
    before insert or update on public.event_participants
    for each row execute function private.check_rsvp();
