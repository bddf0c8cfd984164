-- A poll's live tally: every statement that adds or removes votes, and a poll closing,
-- signals the room of `poll:<id>` (`feed.signal` 'tally'), once per poll per statement.
-- The room reads `private.poll_live_state` and sends it as `poll_tally`, at most 4 times a
-- second and always after the last change, so a vote is never delivered row by row.

create function private.signal_poll_tallies() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if tg_op = 'DELETE' then
        perform feed.signal('poll:' || t.poll_id, 'tally') from (select distinct poll_id from gone) t;
    else
        perform feed.signal('poll:' || t.poll_id, 'tally') from (select distinct poll_id from added) t;
    end if;
    return null;
end;
$$;
revoke execute on function private.signal_poll_tallies() from public, anon, authenticated;

create trigger poll_votes_signal_added
    after insert on public.poll_votes referencing new table as added
    for each statement execute function private.signal_poll_tallies();
create trigger poll_votes_signal_gone
    after delete on public.poll_votes referencing old table as gone
    for each statement execute function private.signal_poll_tallies();

create function private.signal_poll_status() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    perform feed.signal('poll:' || new.id, 'tally');
    return null;
end;
$$;
revoke execute on function private.signal_poll_status() from public, anon, authenticated;

create trigger community_polls_signal_status
    after update of status, closes_at on public.community_polls
    for each row when (old.status is distinct from new.status or old.closes_at is distinct from new.closes_at)
    execute function private.signal_poll_status();
