-- Interest groups and their members (roles, bans, pending requests).

create type public.group_privacy as enum ('public', 'private');
create type public.group_role as enum ('owner', 'admin', 'moderator', 'member');
create type public.membership_status as enum ('active', 'pending', 'banned');

create table public.social_groups (
    id uuid primary key default gen_random_uuid(),
    name text not null unique check (char_length(name) between 3 and 80),
    description text check (char_length(description) <= 2000),
    topic_tags text[] not null default '{}' check (cardinality(topic_tags) <= 10),
    privacy public.group_privacy not null default 'public',
    owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    member_count integer not null default 0 check (member_count >= 0),
    created_at timestamptz not null default now()
);
comment on table public.social_groups is
    'An interest group; member_count counts active members and is kept by trigger.';
create index social_groups_owner_idx on public.social_groups (owner_id);
create index social_groups_privacy_idx on public.social_groups (privacy);

create table public.group_members (
    group_id uuid not null references public.social_groups (id) on delete cascade,
    user_id uuid not null references auth.users (id) on delete cascade,
    role public.group_role not null default 'member',
    status public.membership_status not null default 'active',
    joined_at timestamptz not null default now(),
    primary key (group_id, user_id)
);
comment on table public.group_members is 'Membership of a group: role and status (active, pending, banned).';
create index group_members_user_idx on public.group_members (user_id, status);

create function private.group_role_of(grp uuid) returns public.group_role
language sql stable security definer
set search_path = ''
as $$
    select m.role from public.group_members m
    where m.group_id = grp and m.user_id = (select auth.uid()) and m.status = 'active'
$$;

create function private.is_group_member(grp uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$ select private.group_role_of(grp) is not null $$;

create function private.is_group_admin(grp uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$ select coalesce(private.group_role_of(grp) in ('owner', 'admin'), false) $$;  -- never null: callers negate it

-- Public groups are seen by every signed-in user; private ones by their active members.
create function private.can_see_group(grp uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
    select exists (select 1 from public.social_groups g where g.id = grp and g.privacy = 'public')
        or private.is_group_member(grp)
$$;

-- The owner joins their group as owner; member_count follows active members.
create function private.add_group_owner() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    insert into public.group_members (group_id, user_id, role, status) values (new.id, new.owner_id, 'owner', 'active');
    return new;
end;
$$;
create trigger social_groups_owner_joins
    after insert on public.social_groups
    for each row execute function private.add_group_owner();

create function private.count_group_members() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    grp uuid := coalesce(new.group_id, old.group_id);
begin
    update public.social_groups g
       set member_count = (select count(*) from public.group_members m where m.group_id = grp and m.status = 'active')
     where g.id = grp;
    return null;
end;
$$;
create trigger group_members_counted
    after insert or update or delete on public.group_members
    for each row execute function private.count_group_members();

-- Joining by oneself: as a plain member, active in public groups and pending in private
-- ones. Only admins set other roles or statuses, and nobody but the owner is owner.
create function private.check_membership_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    grp record;
begin
    select owner_id, privacy into grp from public.social_groups where id = new.group_id;
    if me is null or new.user_id = grp.owner_id and new.role = 'owner' then
        return new;  -- the service role, maintenance, and the owner's own row
    end if;
    if tg_op = 'INSERT' and new.user_id = me and not private.is_group_admin(new.group_id) then
        new.role := 'member';
        new.status := case when grp.privacy = 'public' then 'active'::public.membership_status
                           else 'pending'::public.membership_status end;
    end if;
    if new.role = 'owner' then
        raise exception 'a group has one owner' using errcode = '42501';
    end if;
    if tg_op = 'UPDATE' and old.role = 'owner' then
        raise exception 'the owner cannot be demoted or banned' using errcode = '42501';
    end if;
    return new;
end;
$$;
create trigger group_members_checked
    before insert or update on public.group_members
    for each row execute function private.check_membership_change();

alter table public.social_groups enable row level security;
alter table public.group_members enable row level security;
revoke update on public.social_groups from anon, authenticated;
grant update (name, description, topic_tags, privacy) on public.social_groups to authenticated;
revoke update on public.group_members from anon, authenticated;
grant update (role, status) on public.group_members to authenticated;

create policy "Signed-in users can see public groups and members their private ones"
    on public.social_groups for select to authenticated
    using (privacy = 'public' or private.is_group_member(id));
create policy "Users can create groups they own"
    on public.social_groups for insert to authenticated
    with check (owner_id = (select auth.uid()));
create policy "Group admins can edit their group"
    on public.social_groups for update to authenticated
    using (private.is_group_admin(id))
    with check (private.is_group_admin(id));
create policy "Group owners can delete their group"
    on public.social_groups for delete to authenticated
    using (owner_id = (select auth.uid()));

create policy "Active members see the members, everyone sees their own membership"
    on public.group_members for select to authenticated
    using (user_id = (select auth.uid()) or private.is_group_member(group_id));
-- Self-joins are shaped by the trigger above (member; pending in private groups); a
-- banned user already has a row, so cannot join again.
create policy "Users can ask to join and admins can add members"
    on public.group_members for insert to authenticated
    with check (user_id = (select auth.uid()) or private.is_group_admin(group_id));
create policy "Group admins manage roles and statuses"
    on public.group_members for update to authenticated
    using (private.is_group_admin(group_id))
    with check (private.is_group_admin(group_id));
create policy "Members can leave and admins can remove members"
    on public.group_members for delete to authenticated
    using ((user_id = (select auth.uid()) and role <> 'owner') or (private.is_group_admin(group_id) and role <> 'owner'));
