-- A closed poll's result and an ended event's list stay as they were, for every writer:
-- - once a poll is closed or past its closing time, its options are neither renamed nor
--   removed, and its question and closing time stay (a vote could otherwise be moved
--   by renaming its option, or wiped by deleting it); deleting the poll still works;
-- - a vote goes with a cascade only when its poll or its voter is being deleted (an
--   option removed by its author is no longer a way to take votes back);
-- - an event that is over promotes nobody from its waitlist (a participant withdrawing
--   afterwards was refused by the RSVP rule run for the promotion).

create function private.poll_is_settled(poll uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
    select coalesce((select p.status = 'closed' or p.closes_at <= now()
                       from public.community_polls p where p.id = poll), false)
$$;

create function private.keep_settled_poll_options() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if private.poll_is_settled(old.poll_id) then
        raise exception 'this poll is closed: its options stay' using errcode = 'PT409';
    end if;
    return case when tg_op = 'DELETE' then old else new end;
end;
$$;
create trigger poll_options_kept_after_close
    before update or delete on public.poll_options
    for each row execute function private.keep_settled_poll_options();

create or replace function private.check_poll_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if old.status = 'closed' and new.status <> 'closed' then
        raise exception 'a closed poll stays closed' using errcode = 'PT409';
    end if;
    if (old.status = 'closed' or old.closes_at <= now())
       and (new.question, new.closes_at) is distinct from (old.question, old.closes_at) then
        raise exception 'a closed poll keeps its question and closing time' using errcode = 'PT409';
    end if;
    return new;
end;
$$;

create or replace function private.keep_votes_of_closed_polls() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    -- A cascade from the poll or the voter's account being deleted: the row is gone.
    if not exists (select 1 from public.community_polls p where p.id = old.poll_id)
       or not exists (select 1 from auth.users u where u.id = old.user_id) then
        return old;
    end if;
    if private.poll_is_settled(old.poll_id) then
        raise exception 'this poll is closed' using errcode = '23514';
    end if;
    return old;
end;
$$;

create or replace function private.promote_waitlist(event uuid) returns void
language plpgsql security definer
set search_path = ''
as $$
declare
    cap integer;
    taken integer;
    promoted uuid;
    title text;
    state public.event_status;
begin
    select e.capacity, e.title, e.status into cap, title, state from public.live_events e where e.id = event for update;
    if not found or state not in ('scheduled', 'live') then
        return;
    end if;
    loop
        select count(*) into taken from public.event_participants p
         where p.event_id = event and p.status in ('going', 'checked_in');
        exit when cap is not null and taken >= cap;
        select p.user_id into promoted from public.event_participants p
         where p.event_id = event and p.status = 'waitlisted'
         order by p.created_at, p.user_id limit 1;
        exit when promoted is null;
        update public.event_participants p set status = 'going' where p.event_id = event and p.user_id = promoted;
        insert into public.live_notifications (recipient_id, actor_id, kind, title, data)
        values (promoted, null, 'waitlist_promoted', left('You have a place at ' || title, 200),
                jsonb_build_object('event_id', event));
        promoted := null;
    end loop;
end;
$$;
