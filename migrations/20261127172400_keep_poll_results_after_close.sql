-- A poll's result stands once it closes, for every writer: no vote taken back after its
-- closing time (by status or by closes_at, whichever comes first), and a closed poll is
-- not opened again (closing twice would notify everyone twice). An account being
-- deleted still takes its votes along (a cascade, at trigger depth above 1). A poll
-- asked through `rpc` without options is refused like one with too few.

create or replace function private.keep_votes_of_closed_polls() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if pg_catalog.pg_trigger_depth() > 1 then
        return old;  -- a cascade: the voter's account or the poll is being deleted
    end if;
    if exists (select 1 from public.community_polls p
                where p.id = old.poll_id and (p.status = 'closed' or p.closes_at <= now())) then
        raise exception 'this poll is closed' using errcode = '23514';
    end if;
    return old;
end;
$$;

create function private.check_poll_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if old.status = 'closed' and new.status <> 'closed' then
        raise exception 'a closed poll stays closed' using errcode = 'PT409';
    end if;
    return new;
end;
$$;
create trigger community_polls_checked
    before update on public.community_polls
    for each row execute function private.check_poll_change();

create or replace function public.create_poll(question text, options text[], multiple_choice boolean default false,
                                              anonymous boolean default false, closes_at timestamptz default null,
                                              group_id uuid default null, thread_id uuid default null) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    made uuid := gen_random_uuid();
begin
    if coalesce(cardinality(options), 0) not between 2 and 10 then
        raise exception 'options: from 2 to 10' using errcode = 'PT400';
    end if;
    if closes_at is not null and closes_at <= now() then
        raise exception 'closes_at: in the future' using errcode = 'PT400';
    end if;
    -- No RETURNING: the select policy reads the table, which does not show the new row
    -- within the statement that inserts it.
    insert into public.community_polls (id, question, multiple_choice, anonymous, closes_at, group_id, thread_id)
    values (made, question, coalesce(multiple_choice, false), coalesce(anonymous, false), closes_at, group_id, thread_id);
    insert into public.poll_options (poll_id, label, position)
    select made, o.label, (o.n - 1)::smallint from unnest(options) with ordinality as o(label, n);
    return public.describe_poll(made);
end;
$$;
