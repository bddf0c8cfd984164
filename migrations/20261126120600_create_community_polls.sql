-- Polls with live results. Votes are private to their voter; tallies are public to
-- whoever can see the poll (public.poll_results returns counts only).

create type public.poll_status as enum ('open', 'closed');

create table public.community_polls (
    id uuid primary key default gen_random_uuid(),
    author_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    group_id uuid references public.social_groups (id) on delete cascade,
    thread_id uuid references public.conversation_threads (id) on delete cascade,
    question text not null check (char_length(question) between 3 and 300),
    multiple_choice boolean not null default false,
    anonymous boolean not null default false,
    closes_at timestamptz,
    status public.poll_status not null default 'open',
    created_at timestamptz not null default now(),
    check (num_nonnulls(group_id, thread_id) <= 1)
);
comment on table public.community_polls is
    'A poll for everyone, one group, or one thread; votes close at closes_at or when closed.';
create index community_polls_author_idx on public.community_polls (author_id);
create index community_polls_group_idx on public.community_polls (group_id);
create index community_polls_thread_idx on public.community_polls (thread_id);

create table public.poll_options (
    id uuid primary key default gen_random_uuid(),
    poll_id uuid not null references public.community_polls (id) on delete cascade,
    label text not null check (char_length(label) between 1 and 120),
    position smallint not null default 0,
    unique (id, poll_id),
    unique (poll_id, position)
);
comment on table public.poll_options is 'The choices of a poll, in order.';

create table public.poll_votes (
    poll_id uuid not null,
    option_id uuid not null,
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    -- The poll id for single-choice polls, null otherwise: one vote per user per
    -- single-choice poll, enforced by the unique index below even under concurrency.
    single_choice_poll uuid,
    created_at timestamptz not null default now(),
    primary key (option_id, user_id),
    foreign key (option_id, poll_id) references public.poll_options (id, poll_id) on delete cascade
);
comment on table public.poll_votes is 'One row per vote; readable by its voter only.';
create unique index poll_votes_single_choice_idx on public.poll_votes (single_choice_poll, user_id);
create index poll_votes_poll_idx on public.poll_votes (poll_id);
create index poll_votes_user_idx on public.poll_votes (user_id);

create function private.can_see_poll(poll uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
    select exists (
        select 1 from public.community_polls p
        where p.id = poll
          and (p.author_id = (select auth.uid())
               or (p.group_id is null and p.thread_id is null)
               or (p.group_id is not null and private.can_see_group(p.group_id))
               or (p.thread_id is not null and private.is_thread_participant(p.thread_id)))
    )
$$;

create function private.is_poll_author(poll uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$ select exists (select 1 from public.community_polls p where p.id = poll and p.author_id = (select auth.uid())) $$;

-- No vote after close; single-choice polls take one vote per user.
create function private.check_vote() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    poll record;
begin
    select status, closes_at, multiple_choice into poll from public.community_polls where id = new.poll_id;
    if poll.status <> 'open' or (poll.closes_at is not null and poll.closes_at <= now()) then
        raise exception 'this poll is closed' using errcode = '23514';
    end if;
    new.single_choice_poll := case when poll.multiple_choice then null else new.poll_id end;
    new.created_at := now();
    return new;
end;
$$;
create trigger poll_votes_checked
    before insert on public.poll_votes
    for each row execute function private.check_vote();

-- Counts per option for a poll the caller can see; never who voted.
create function public.poll_results(poll uuid)
returns table (option_id uuid, label text, votes bigint)
language sql stable security definer
set search_path = ''
as $$
    select o.id, o.label, count(v.user_id)
      from public.poll_options o
      left join public.poll_votes v on v.option_id = o.id
     where o.poll_id = poll and (private.can_see_poll(poll) or (select auth.role()) = 'service_role')
     group by o.id, o.label, o.position
     order by o.position
$$;
revoke execute on function public.poll_results(uuid) from public, anon;
grant execute on function public.poll_results(uuid) to authenticated, service_role;

alter table public.community_polls enable row level security;
alter table public.poll_options enable row level security;
alter table public.poll_votes enable row level security;
revoke update on public.community_polls from anon, authenticated;
grant update (question, closes_at, status) on public.community_polls to authenticated;
revoke update on public.poll_votes from anon, authenticated;

create policy "Users can see the polls of places they can see"
    on public.community_polls for select to authenticated
    using (private.can_see_poll(id));
create policy "Users can ask polls where they belong"
    on public.community_polls for insert to authenticated
    with check (
        author_id = (select auth.uid())
        and (group_id is null or private.is_group_member(group_id))
        and (thread_id is null or private.is_thread_participant(thread_id))
    );
create policy "Authors can edit and close their polls"
    on public.community_polls for update to authenticated
    using (author_id = (select auth.uid()))
    with check (author_id = (select auth.uid()));
create policy "Authors can delete their polls"
    on public.community_polls for delete to authenticated
    using (author_id = (select auth.uid()));

create policy "Those who see a poll see its options"
    on public.poll_options for select to authenticated
    using (private.can_see_poll(poll_id));
create policy "Authors add options to their polls"
    on public.poll_options for insert to authenticated
    with check (private.is_poll_author(poll_id));
create policy "Authors edit the options of their polls"
    on public.poll_options for update to authenticated
    using (private.is_poll_author(poll_id))
    with check (private.is_poll_author(poll_id));
create policy "Authors remove options of their polls"
    on public.poll_options for delete to authenticated
    using (private.is_poll_author(poll_id));

create policy "Voters see only their own votes"
    on public.poll_votes for select to authenticated
    using (user_id = (select auth.uid()));
create policy "Users vote as themselves on polls they can see"
    on public.poll_votes for insert to authenticated
    with check (user_id = (select auth.uid()) and private.can_see_poll(poll_id));
create policy "Voters can take back their vote"
    on public.poll_votes for delete to authenticated
    using (user_id = (select auth.uid()));
