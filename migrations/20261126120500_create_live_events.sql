-- Live events and who takes part; capacity is enforced by the database.

create type public.event_status as enum ('scheduled', 'live', 'ended', 'cancelled');
create type public.event_visibility as enum ('public', 'group');
create type public.rsvp_status as enum ('going', 'interested', 'waitlisted', 'checked_in');

create table public.live_events (
    id uuid primary key default gen_random_uuid(),
    host_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    group_id uuid references public.social_groups (id) on delete cascade,
    title text not null check (char_length(title) between 3 and 140),
    description text check (char_length(description) <= 4000),
    starts_at timestamptz not null,
    ends_at timestamptz not null,
    status public.event_status not null default 'scheduled',
    capacity integer check (capacity > 0),
    visibility public.event_visibility not null default 'public',
    created_at timestamptz not null default now(),
    check (starts_at < ends_at),
    check (visibility = 'public' or group_id is not null)
);
comment on table public.live_events is
    'A community event, public or for one group; capacity caps the going participants.';
create index live_events_host_idx on public.live_events (host_id);
create index live_events_group_idx on public.live_events (group_id);
create index live_events_starts_at_idx on public.live_events (starts_at);

create table public.event_participants (
    event_id uuid not null references public.live_events (id) on delete cascade,
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    status public.rsvp_status not null default 'going',
    created_at timestamptz not null default now(),
    primary key (event_id, user_id)
);
comment on table public.event_participants is
    'RSVPs; a going RSVP past capacity becomes waitlisted.';
create index event_participants_user_idx on public.event_participants (user_id);

-- Events of private groups are for members; group-only events for members of any group.
create function private.can_see_event(event uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
    select exists (
        select 1 from public.live_events e
        where e.id = event
          and (e.host_id = (select auth.uid())
               or (e.group_id is null)
               or (e.visibility = 'public' and private.can_see_group(e.group_id))
               or private.is_group_member(e.group_id))
    )
$$;

create function private.is_event_host(event uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$ select exists (select 1 from public.live_events e where e.id = event and e.host_id = (select auth.uid())) $$;

-- The event row is locked, so concurrent RSVPs are counted one after another.
create function private.apply_capacity() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    cap integer;
    taken integer;
begin
    if new.status not in ('going', 'checked_in') or (tg_op = 'UPDATE' and old.status in ('going', 'checked_in')) then
        return new;
    end if;
    select capacity into cap from public.live_events where id = new.event_id for update;
    if cap is null then
        return new;
    end if;
    select count(*) into taken from public.event_participants
     where event_id = new.event_id and status in ('going', 'checked_in') and user_id <> new.user_id;
    if taken >= cap then
        new.status := 'waitlisted';
    end if;
    return new;
end;
$$;
create trigger event_participants_capacity
    before insert or update on public.event_participants
    for each row execute function private.apply_capacity();

alter table public.live_events enable row level security;
alter table public.event_participants enable row level security;
revoke update on public.event_participants from anon, authenticated;
grant update (status) on public.event_participants to authenticated;

create policy "Users can see the events they may attend"
    on public.live_events for select to authenticated
    using (private.can_see_event(id));
create policy "Users can host events, in groups they belong to"
    on public.live_events for insert to authenticated
    with check (host_id = (select auth.uid()) and (group_id is null or private.is_group_member(group_id)));
create policy "Hosts can edit their events"
    on public.live_events for update to authenticated
    using (host_id = (select auth.uid()))
    with check (host_id = (select auth.uid()));
create policy "Hosts can delete their events"
    on public.live_events for delete to authenticated
    using (host_id = (select auth.uid()));

create policy "Those who can see an event see who takes part"
    on public.event_participants for select to authenticated
    using (private.can_see_event(event_id));
create policy "Users can RSVP as themselves to events they can see"
    on public.event_participants for insert to authenticated
    with check (user_id = (select auth.uid()) and private.can_see_event(event_id));
create policy "Users change their RSVP and hosts check people in"
    on public.event_participants for update to authenticated
    using (user_id = (select auth.uid()) or private.is_event_host(event_id))
    with check (user_id = (select auth.uid()) or private.is_event_host(event_id));
create policy "Users can withdraw their RSVP"
    on public.event_participants for delete to authenticated
    using (user_id = (select auth.uid()));
