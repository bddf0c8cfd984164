-- When a going participant leaves (or stops going), the earliest waitlisted takes the
-- place and is notified (kind `waitlist_promoted`); so does a capacity raised. The
-- event row is locked first, as the capacity trigger locks it, so promotions and new
-- RSVPs are counted one after another.

create function private.promote_waitlist(event uuid) returns void
language plpgsql security definer
set search_path = ''
as $$
declare
    cap integer;
    taken integer;
    promoted uuid;
    title text;
begin
    select e.capacity, e.title into cap, title from public.live_events e where e.id = event for update;
    if not found then
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
revoke execute on function private.promote_waitlist(uuid) from public, anon, authenticated;

create function private.promote_on_leave() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if old.status in ('going', 'checked_in') and (tg_op = 'DELETE' or new.status not in ('going', 'checked_in')) then
        perform private.promote_waitlist(old.event_id);
    end if;
    return null;
end;
$$;
revoke execute on function private.promote_on_leave() from public, anon, authenticated;

create trigger event_participants_promote
    after update of status or delete on public.event_participants
    for each row execute function private.promote_on_leave();

create function private.promote_on_capacity() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    perform private.promote_waitlist(new.id);
    return null;
end;
$$;
revoke execute on function private.promote_on_capacity() from public, anon, authenticated;

create trigger live_events_promote_on_capacity
    after update of capacity on public.live_events
    for each row when (new.capacity is distinct from old.capacity
                       and (new.capacity is null or old.capacity is null or new.capacity > old.capacity))
    execute function private.promote_on_capacity();
