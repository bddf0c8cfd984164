-- Global presence. The system knows whether a user is connected (the user's Durable
-- Object, from the sockets the gateways report: a socket anywhere, with a grace period
-- so a quick reconnect does not flap); the user chooses how they appear (online, away,
-- busy, or invisible). `user_presence.status` is what everyone else sees: offline while
-- not connected, and offline for an invisible user, whose activity and last_seen_at then
-- stay as they were, so nothing moves while they hide.
--
-- Users no longer write `user_presence` directly (they could claim to be online while
-- offline): they choose through `public.set_presence`, and the system records
-- connections through `public.record_connectivity` (service role only). Each change of
-- a row is broadcast from the database on the private topic `presence:<user_id>` (event
-- `presence`, the row as payload), which every signed-in user may read, as the table's
-- select policy lets them, and nobody may send to.

create table private.presence_state (
    user_id uuid primary key references auth.users (id) on delete cascade,
    connected boolean not null default false,
    chosen text not null default 'online' check (chosen in ('online', 'away', 'busy', 'invisible'))
);
comment on table private.presence_state is
    'Whether each user is connected (the system''s) and how they chose to appear (the user''s).';
alter table private.presence_state enable row level security;
revoke all on private.presence_state from public, anon, authenticated;

-- Rows written before this migration: what a user chose (away, busy) is kept as their
-- choice, and nobody is known to be connected until a socket says so.
insert into private.presence_state (user_id, connected, chosen)
select p.user_id, false, case p.status when 'away' then 'away' when 'busy' then 'busy' else 'online' end
  from public.user_presence p
on conflict (user_id) do nothing;
update public.user_presence set status = 'offline' where status <> 'offline';

revoke insert, update, delete on public.user_presence from anon, authenticated;
drop policy "Users can set their own status" on public.user_presence;
drop policy "Users can update their own status" on public.user_presence;
drop policy "Users can clear their own status" on public.user_presence;

-- What others see of a user in this state.
create function private.shown_status(connected boolean, chosen text) returns public.presence_status
language sql immutable
set search_path = ''
as $$
    select case
        when not connected or chosen = 'invisible' then 'offline'::public.presence_status
        when chosen = 'away' then 'away'::public.presence_status
        when chosen = 'busy' then 'busy'::public.presence_status
        else 'online'::public.presence_status
    end
$$;

-- Rewrites `who`'s visible row from their state; `seen_at` moves last_seen_at unless
-- they are invisible (null leaves it).
create function private.publish_presence(who uuid, seen_at timestamptz) returns public.user_presence
language plpgsql security definer
set search_path = ''
as $$
declare
    s private.presence_state;
    visible public.user_presence;
begin
    select * into s from private.presence_state where user_id = who;
    if s.chosen = 'invisible' then
        seen_at := null;
    end if;
    insert into public.user_presence as p (user_id, status, last_seen_at)
    values (who, private.shown_status(s.connected, s.chosen), coalesce(seen_at, now()))
    on conflict (user_id) do update
        set status = excluded.status, last_seen_at = coalesce(seen_at, p.last_seen_at)
    returning * into visible;
    return visible;
end;
$$;
revoke execute on function private.publish_presence(uuid, timestamptz) from public, anon, authenticated;
revoke execute on function private.shown_status(boolean, text) from public, anon;

create function public.record_connectivity(who uuid, connected boolean, seen_at timestamptz) returns void
language plpgsql security definer
set search_path = ''
as $$
begin
    -- A token can outlive its account: there is nobody to record.
    if not exists (select 1 from auth.users u where u.id = who) then
        return;
    end if;
    insert into private.presence_state as s (user_id, connected) values (who, connected)
    on conflict (user_id) do update set connected = excluded.connected;
    perform private.publish_presence(who, seen_at);
end;
$$;
revoke execute on function public.record_connectivity(uuid, boolean, timestamptz) from public, anon, authenticated;
grant execute on function public.record_connectivity(uuid, boolean, timestamptz) to service_role;

-- How the caller appears: 'online', 'away', 'busy' or 'invisible', with an optional
-- activity (hidden while invisible). Answers the caller's own view.
create function public.set_presence(status text, activity text default null) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    s private.presence_state;
    visible public.user_presence;
begin
    if me is null then
        raise exception 'sign in to set a presence' using errcode = '42501';
    end if;
    if status is null or status not in ('online', 'away', 'busy', 'invisible') then
        raise exception 'status must be online, away, busy or invisible' using errcode = '22023';
    end if;
    if char_length(activity) > 120 then
        raise exception 'activity is at most 120 characters' using errcode = '22001';
    end if;
    insert into private.presence_state as p (user_id, chosen) values (me, status)
    on conflict (user_id) do update set chosen = excluded.chosen
    returning * into s;
    -- One write, so watchers get the status and the activity in one broadcast.
    insert into public.user_presence as p (user_id, status, activity)
    values (me, private.shown_status(s.connected, s.chosen),
            case when set_presence.status = 'invisible' then null else set_presence.activity end)
    on conflict (user_id) do update
        set status = excluded.status,
            activity = case when set_presence.status = 'invisible' then p.activity else set_presence.activity end,
            -- Going invisible looks like leaving: last seen now.
            last_seen_at = case when set_presence.status = 'invisible' and p.status <> 'offline' then now()
                                else p.last_seen_at end
    returning * into visible;
    return jsonb_build_object('user_id', me, 'chosen', s.chosen, 'connected', s.connected,
                              'status', visible.status, 'activity', visible.activity, 'last_seen_at', visible.last_seen_at);
end;
$$;
revoke execute on function public.set_presence(text, text) from public, anon;
grant execute on function public.set_presence(text, text) to authenticated;

create function private.broadcast_presence() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and (new.status, new.activity, new.last_seen_at)
                            is not distinct from (old.status, old.activity, old.last_seen_at) then
        return null;
    end if;
    perform realtime.send(
        jsonb_build_object('user_id', new.user_id, 'status', new.status, 'activity', new.activity,
                           'last_seen_at', new.last_seen_at),
        'presence',
        'presence:' || new.user_id::text,
        true);
    return null;
end;
$$;
revoke execute on function private.broadcast_presence() from public, anon, authenticated;
create trigger user_presence_broadcast
    after insert or update on public.user_presence
    for each row execute function private.broadcast_presence();

-- `presence:<user id>`: readable by every signed-in user (as `user_presence` is), written
-- only by the database.
create or replace function private.may_use_channel(channel text) returns boolean
language sql stable security definer
set search_path = ''
as $$
    select case
        when channel like 'conversation:%' then
            coalesce(private.is_thread_participant(private.try_uuid(substr(channel, 14))), false)
        when channel like 'group:%' then
            coalesce(private.is_group_member(private.try_uuid(substr(channel, 7))), false)
        when channel like 'user:%' then
            channel = 'user:' || (select auth.uid())::text
        when channel like 'presence:%' then
            private.try_uuid(substr(channel, 10)) is not null
        else true
    end
$$;

drop policy "Members can send to their conversation, group and inbox channels, and open ones" on realtime.messages;
create policy "Members can send to their channels and nobody to presence ones"
    on realtime.messages for insert to authenticated
    with check (realtime.topic() not like 'presence:%' and private.may_use_channel(realtime.topic()));
