-- Who follows whom.

create table public.follow_relationships (
    follower_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    followee_id uuid not null references auth.users (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (follower_id, followee_id),
    check (follower_id <> followee_id)
);
comment on table public.follow_relationships is 'One user following another (never themselves).';
create index follow_relationships_followee_idx on public.follow_relationships (followee_id);

alter table public.follow_relationships enable row level security;
revoke update on public.follow_relationships from anon, authenticated;

create policy "Signed-in users can see who follows whom"
    on public.follow_relationships for select to authenticated
    using (true);
create policy "Users can follow others as themselves"
    on public.follow_relationships for insert to authenticated
    with check (follower_id = (select auth.uid()));
create policy "Users can unfollow"
    on public.follow_relationships for delete to authenticated
    using (follower_id = (select auth.uid()));
