-- Profiles: the public face of each user (auth.users stays private to Auth).

create table public.profiles (
    id uuid primary key references auth.users (id) on delete cascade,
    username text not null unique
        check (char_length(username) between 3 and 32 and username ~ '^[a-z0-9_]+$'),
    display_name text check (char_length(display_name) <= 80),
    avatar_url text check (char_length(avatar_url) <= 2048),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

comment on table public.profiles is
    'The public profile of each user: the name and picture other growers see.';

alter table public.profiles enable row level security;

create policy "Signed-in users can read every profile"
    on public.profiles for select to authenticated
    using (true);

create policy "Users can create their own profile"
    on public.profiles for insert to authenticated
    with check ((select auth.uid()) = id);

create policy "Users can update their own profile"
    on public.profiles for update to authenticated
    using ((select auth.uid()) = id)
    with check ((select auth.uid()) = id);

-- No delete policy: a profile goes away with its auth.users row.
