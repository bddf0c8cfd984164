-- Live events as the edge (`/functions/v1/events`) and PostgREST (`rpc(...)`) run them:
-- create, edit and change status (the host, or the admins of the event's group), RSVP
-- (going, interested, or leave), and check-in by the host. Counts come from
-- `private.event_live_state`, the same the event's live channel sends. Refusals carry
-- PostgREST's status codes (`PT4xx`).
--
-- Status moves one way: scheduled -> live (started) -> ended; scheduled or live ->
-- cancelled. RSVPs are taken while an event is scheduled or live.

alter table public.live_events add column reminded_at timestamptz;
comment on column public.live_events.reminded_at is
    'When participants were reminded that it starts soon (private.run_due_jobs); null until then.';
create index live_events_due_idx on public.live_events (status, starts_at, ends_at) where status in ('scheduled', 'live');
create index event_participants_waitlist_idx on public.event_participants (event_id, status, created_at);

drop policy "Hosts can edit their events" on public.live_events;
create policy "Hosts and the admins of the event's group can edit it"
    on public.live_events for update to authenticated
    using (host_id = (select auth.uid()) or (group_id is not null and private.is_group_admin(group_id)))
    with check (host_id = (select auth.uid()) or (group_id is not null and private.is_group_admin(group_id)));

-- Only the host and the group's admins move an event's status, and only forward.
create function private.check_event_change() returns trigger
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
    return new;
end;
$$;
create trigger live_events_checked
    before update on public.live_events
    for each row execute function private.check_event_change();

create function private.event_live_state(event uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
    select jsonb_build_object(
        'event_id', e.id, 'status', e.status, 'capacity', e.capacity,
        'starts_at', e.starts_at, 'ends_at', e.ends_at,
        'going', count(p.user_id) filter (where p.status = 'going'),
        'interested', count(p.user_id) filter (where p.status = 'interested'),
        'waitlisted', count(p.user_id) filter (where p.status = 'waitlisted'),
        'checked_in', count(p.user_id) filter (where p.status = 'checked_in'))
      from public.live_events e
      left join public.event_participants p on p.event_id = e.id
     where e.id = event
     group by e.id
$$;
revoke execute on function private.event_live_state(uuid) from public, anon, authenticated;

-- The event with its counts and the caller's RSVP, if the caller may see it.
create function public.describe_event(event uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
    select jsonb_build_object(
        'id', e.id, 'host_id', e.host_id, 'group_id', e.group_id, 'title', e.title,
        'description', e.description, 'visibility', e.visibility, 'created_at', e.created_at,
        'my_rsvp', (select p.status from public.event_participants p
                     where p.event_id = e.id and p.user_id = (select auth.uid())))
           || (private.event_live_state(e.id) - 'event_id')
      from public.live_events e
     where e.id = event and private.can_see_event(e.id)
$$;
revoke execute on function public.describe_event(uuid) from public, anon;
grant execute on function public.describe_event(uuid) to authenticated, service_role;

create function public.create_event(title text, starts_at timestamptz, ends_at timestamptz,
                                    description text default null, capacity integer default null,
                                    group_id uuid default null,
                                    visibility public.event_visibility default 'public') returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    made uuid := gen_random_uuid();
begin
    if ends_at <= starts_at then
        raise exception 'ends_at: after starts_at' using errcode = 'PT400';
    end if;
    if group_id is not null and not private.is_group_member(group_id) then
        raise exception 'group_id: only members host events in a group' using errcode = 'PT403';
    end if;
    insert into public.live_events (id, title, description, starts_at, ends_at, capacity, group_id, visibility)
    values (made, title, description, starts_at, ends_at, capacity, group_id, coalesce(visibility, 'public'));
    return public.describe_event(made);
end;
$$;

create function private.editable_event(event uuid) returns public.live_events
language plpgsql stable
set search_path = ''
as $$
declare
    found_event public.live_events;
begin
    select * into found_event from public.live_events e where e.id = event;
    if not found then
        raise exception 'no such event, or you may not see it' using errcode = 'PT404';
    end if;
    if found_event.host_id <> (select auth.uid())
       and not (found_event.group_id is not null and private.is_group_admin(found_event.group_id)) then
        raise exception 'only the host and the admins of its group change an event' using errcode = 'PT403';
    end if;
    return found_event;
end;
$$;

-- Changes the keys present in `patch` (title, description, starts_at, ends_at, capacity).
create function public.update_event(event uuid, patch jsonb) returns jsonb
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
        capacity = case when patch ? 'capacity' then (patch ->> 'capacity')::integer else e.capacity end,
        -- A new start is a new reminder.
        reminded_at = case when patch ? 'starts_at' then null else e.reminded_at end
     where e.id = event;
    return public.describe_event(event);
exception when check_violation then
    raise exception 'ends_at: after starts_at, and capacity above 0' using errcode = 'PT400';
end;
$$;

-- start (live), end (ended), cancel (cancelled).
create function public.set_event_status(event uuid, new_status public.event_status) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    current public.live_events := private.editable_event(event);
begin
    if current.status <> new_status then
        update public.live_events e set status = new_status where e.id = event;
    end if;
    return public.describe_event(event);
end;
$$;

-- The caller's RSVP: going (waitlisted when the event is full), interested, or none
-- (leave). Answers the caller's RSVP as it now is.
create function public.rsvp(event uuid, choice text) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    current public.live_events;
    now_status public.rsvp_status;
begin
    select * into current from public.live_events e where e.id = event;
    if not found then
        raise exception 'no such event, or you may not see it' using errcode = 'PT404';
    end if;
    if current.status not in ('scheduled', 'live') then
        raise exception 'this event is %: RSVPs are closed', current.status using errcode = 'PT409';
    end if;
    if choice = 'leave' then
        delete from public.event_participants p where p.event_id = event and p.user_id = me;
    elsif choice in ('going', 'interested') then
        insert into public.event_participants (event_id, user_id, status)
        values (event, me, choice::public.rsvp_status)
        on conflict (event_id, user_id) do update
            set status = excluded.status
            where public.event_participants.status not in ('checked_in')
              and not (public.event_participants.status = 'waitlisted' and excluded.status = 'going');
    else
        raise exception 'status: going, interested or leave' using errcode = 'PT400';
    end if;
    select p.status into now_status from public.event_participants p where p.event_id = event and p.user_id = me;
    return jsonb_build_object('event_id', event, 'user_id', me, 'status', now_status);
end;
$$;

-- The host checks a going participant in.
create function public.check_in(event uuid, participant uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    current public.live_events;
    now_status public.rsvp_status;
begin
    select * into current from public.live_events e where e.id = event;
    if not found then
        raise exception 'no such event, or you may not see it' using errcode = 'PT404';
    end if;
    if current.host_id <> (select auth.uid()) then
        raise exception 'only the host checks people in' using errcode = 'PT403';
    end if;
    update public.event_participants p set status = 'checked_in'
     where p.event_id = event and p.user_id = participant and p.status in ('going', 'checked_in')
    returning p.status into now_status;
    if not found then
        raise exception 'only a going participant is checked in' using errcode = 'PT409';
    end if;
    return jsonb_build_object('event_id', event, 'user_id', participant, 'status', now_status);
end;
$$;
