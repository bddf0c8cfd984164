-- Polls as the edge (`/functions/v1/polls`) and PostgREST (`rpc(...)`) use them: create
-- one with its options in one call, vote (a new vote replaces the caller's previous
-- one), retract, close (the author), and read the results. Counts come from
-- `private.poll_live_state`, the same the poll's live channel sends, so a result read
-- and a result heard agree. Voters are listed only for polls that are not anonymous, to
-- those who may see the poll. Refusals carry PostgREST's status codes (`PT4xx`).

create function private.poll_live_state(poll uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
    with counts as (
        select o.id, o.label, o.position, count(v.user_id) as votes
          from public.poll_options o
          left join public.poll_votes v on v.option_id = o.id
         where o.poll_id = poll
         group by o.id
    ), totals as (
        select coalesce(sum(c.votes), 0) as total from counts c
    )
    select jsonb_build_object(
        'poll_id', p.id, 'status', p.status, 'closes_at', p.closes_at,
        'total_votes', t.total,
        'voters', (select count(distinct v.user_id) from public.poll_votes v where v.poll_id = p.id),
        'options', coalesce((select jsonb_agg(jsonb_build_object(
                        'id', c.id, 'label', c.label, 'position', c.position, 'votes', c.votes,
                        'percent', case when t.total = 0 then 0 else round(100.0 * c.votes / t.total, 1) end)
                        order by c.position) from counts c), '[]'::jsonb))
      from public.community_polls p, totals t
     where p.id = poll
$$;
revoke execute on function private.poll_live_state(uuid) from public, anon, authenticated;

-- The poll with its results and the caller's own votes, if the caller may see it.
create function public.describe_poll(poll uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
    select jsonb_build_object(
        'id', p.id, 'author_id', p.author_id, 'group_id', p.group_id, 'thread_id', p.thread_id,
        'question', p.question, 'multiple_choice', p.multiple_choice, 'anonymous', p.anonymous,
        'closes_at', p.closes_at, 'created_at', p.created_at,
        'my_votes', coalesce((select jsonb_agg(v.option_id order by v.option_id) from public.poll_votes v
                               where v.poll_id = p.id and v.user_id = (select auth.uid())), '[]'::jsonb))
           || (private.poll_live_state(p.id) - 'poll_id')
      from public.community_polls p
     where p.id = poll and private.can_see_poll(p.id)
$$;
revoke execute on function public.describe_poll(uuid) from public, anon;
grant execute on function public.describe_poll(uuid) to authenticated, service_role;

create function public.create_poll(question text, options text[], multiple_choice boolean default false,
                                   anonymous boolean default false, closes_at timestamptz default null,
                                   group_id uuid default null, thread_id uuid default null) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    made uuid := gen_random_uuid();
begin
    if cardinality(options) not between 2 and 10 then
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

create function private.open_poll_for_votes(poll uuid) returns public.community_polls
language plpgsql stable
set search_path = ''
as $$
declare
    found_poll public.community_polls;
begin
    select * into found_poll from public.community_polls p where p.id = poll;
    if not found then
        raise exception 'no such poll, or you may not see it' using errcode = 'PT404';
    end if;
    if found_poll.status <> 'open' or (found_poll.closes_at is not null and found_poll.closes_at <= now()) then
        raise exception 'this poll is closed' using errcode = 'PT409';
    end if;
    return found_poll;
end;
$$;

-- The caller's vote: replaces what they voted before in this poll.
create function public.cast_vote(poll uuid, option_ids uuid[]) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    target public.community_polls := private.open_poll_for_votes(poll);
    chosen integer := cardinality(array(select distinct unnest(option_ids)));
begin
    if chosen = 0 or (not target.multiple_choice and chosen <> 1) then
        raise exception 'option_ids: % for this poll', case when target.multiple_choice then 'at least one'
                                                            else 'exactly one' end using errcode = 'PT400';
    end if;
    if (select count(*) from public.poll_options o where o.poll_id = poll and o.id = any (option_ids)) <> chosen then
        raise exception 'option_ids: not options of this poll' using errcode = 'PT400';
    end if;
    -- One vote of a user at a time per poll: two at once (a double tap) would both find
    -- nothing to replace and the second would break the one-vote rule's unique key.
    perform pg_advisory_xact_lock(hashtextextended(poll::text || (select auth.uid())::text, 0));
    delete from public.poll_votes v where v.poll_id = poll and v.user_id = (select auth.uid());
    insert into public.poll_votes (poll_id, option_id) select poll, o from (select distinct unnest(option_ids)) as t(o);
    return public.describe_poll(poll);
end;
$$;

create function public.retract_vote(poll uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    perform private.open_poll_for_votes(poll);
    perform pg_advisory_xact_lock(hashtextextended(poll::text || (select auth.uid())::text, 0));
    delete from public.poll_votes v where v.poll_id = poll and v.user_id = (select auth.uid());
    return public.describe_poll(poll);
end;
$$;

-- The author closes their poll; closing a closed poll answers it as it is.
create function public.close_poll(poll uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    if not exists (select 1 from public.community_polls p where p.id = poll) then
        raise exception 'no such poll, or you may not see it' using errcode = 'PT404';
    end if;
    if not private.is_poll_author(poll) then
        raise exception 'only the author closes a poll' using errcode = 'PT403';
    end if;
    update public.community_polls p set status = 'closed' where p.id = poll and p.status = 'open';
    return public.describe_poll(poll);
end;
$$;

-- Who voted for one option, newest first, in pages (the edge's keyset: before the
-- cursor's time and id, `lim` rows); never for an anonymous poll.
create function public.poll_option_voters(option uuid, before_micros bigint, before_id text, lim bigint)
returns table (user_id uuid, username text, display_name text, avatar_url text, voted_at timestamptz, cursor_micros bigint)
language plpgsql stable security definer
set search_path = ''
as $$
declare
    poll public.community_polls;
begin
    select p.* into poll from public.community_polls p join public.poll_options o on o.poll_id = p.id where o.id = option;
    if not found or not private.can_see_poll(poll.id) then
        raise exception 'no such option, or you may not see its poll' using errcode = 'PT404';
    end if;
    if poll.anonymous then
        raise exception 'the votes of an anonymous poll are secret' using errcode = 'PT403';
    end if;
    return query
        select v.user_id, pr.username, pr.display_name, pr.avatar_url, v.created_at,
               (extract(epoch from v.created_at) * 1000000)::bigint
          from public.poll_votes v
          left join public.profiles pr on pr.id = v.user_id
         where v.option_id = option
           and (before_micros is null
                or (v.created_at, v.user_id) < (timestamptz 'epoch' + before_micros * interval '1 microsecond', before_id::uuid))
         order by v.created_at desc, v.user_id desc
         limit lim;
end;
$$;
revoke execute on function public.poll_option_voters(uuid, bigint, text, bigint) from public, anon;
grant execute on function public.poll_option_voters(uuid, bigint, text, bigint) to authenticated, service_role;

-- A vote cannot be taken back once its poll is closed (whatever path deletes it); a
-- poll being deleted takes its votes along.
create function private.keep_votes_of_closed_polls() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if exists (select 1 from public.community_polls p where p.id = old.poll_id and p.status = 'closed') then
        raise exception 'this poll is closed' using errcode = '23514';
    end if;
    return old;
end;
$$;
create trigger poll_votes_kept_after_close
    before delete on public.poll_votes
    for each row execute function private.keep_votes_of_closed_polls();
