-- An event's live state: every statement that changes its RSVPs, and a change of its
-- status, times or capacity, signals the room of `event:<id>` (`feed.signal` 'tally'),
-- once per event per statement. The room reads `private.event_live_state`, adds how many
-- are present on the channel now, and sends it as `event_state`, at most 4 times a
-- second and always after the last change.

create function private.signal_event_states() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if tg_op = 'DELETE' then
        perform feed.signal('event:' || t.event_id, 'tally') from (select distinct event_id from gone) t;
    else
        perform feed.signal('event:' || t.event_id, 'tally') from (select distinct event_id from changed) t;
    end if;
    return null;
end;
$$;
revoke execute on function private.signal_event_states() from public, anon, authenticated;

create trigger event_participants_signal_added
    after insert on public.event_participants referencing new table as changed
    for each statement execute function private.signal_event_states();
create trigger event_participants_signal_updated
    after update on public.event_participants referencing new table as changed
    for each statement execute function private.signal_event_states();
create trigger event_participants_signal_gone
    after delete on public.event_participants referencing old table as gone
    for each statement execute function private.signal_event_states();

create function private.signal_event_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    perform feed.signal('event:' || new.id, 'tally');
    return null;
end;
$$;
revoke execute on function private.signal_event_change() from public, anon, authenticated;

create trigger live_events_signal_change
    after update on public.live_events
    for each row
    when ((old.status, old.starts_at, old.ends_at, old.capacity) is distinct from
          (new.status, new.starts_at, new.ends_at, new.capacity))
    execute function private.signal_event_change();
