-- Who may do what to whom in a group, decided by the database for every writer:
--
-- | actor | may |
-- |---|---|
-- | anyone signed in | join a public group (active) or ask to join a private one (pending), leave (not the owner) |
-- | moderator | answer requests (pending to active, or delete the request), remove and ban members below them, unban |
-- | admin | the same, add members directly, and change the roles of those below them, up to admin |
-- | owner | all of it; hands ownership over with `public.transfer_group_ownership` |
--
-- One acts only on members of a lower rank (owner 4, admin 3, moderator 2, member 1) and
-- never gives a role above one's own; nobody changes their own role or status. The
-- policies let moderators write membership rows; the trigger holds the ranks.

create function private.group_rank(role public.group_role) returns integer
language sql immutable
set search_path = ''
as $$ select case role when 'owner' then 4 when 'admin' then 3 when 'moderator' then 2 when 'member' then 1 else 0 end $$;

-- The caller's rank in a group: 0 when not an active member.
create function private.my_group_rank(grp uuid) returns integer
language sql stable security definer
set search_path = ''
as $$ select coalesce(private.group_rank(private.group_role_of(grp)), 0) $$;

create or replace function private.check_membership_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    grp record;
    mine integer;
    target public.group_members := case when tg_op = 'DELETE' then old else new end;
begin
    select owner_id, privacy into grp from public.social_groups where id = target.group_id;
    -- The service role and maintenance; a group being deleted takes its members along.
    if me is null or not found then
        return target;
    end if;
    mine := private.my_group_rank(target.group_id);
    if tg_op = 'DELETE' then
        if old.user_id = me or mine >= 2 and mine > private.group_rank(old.role) then
            return old;  -- leaving (the policy keeps the owner in), or removed by a higher rank
        end if;
        raise exception 'only a moderator or above removes a member, and only one of a lower rank' using errcode = '42501';
    end if;
    -- The owner's own row as owner (creation, and the transfer's new owner).
    if new.user_id = grp.owner_id and new.role = 'owner' and new.status = 'active' then
        return new;
    end if;
    if new.role = 'owner' then
        raise exception 'a group has one owner: hand ownership over instead' using errcode = '42501';
    end if;
    if tg_op = 'INSERT' then
        if new.user_id = me and mine = 0 then
            new.role := 'member';
            new.status := case when grp.privacy = 'public' then 'active'::public.membership_status
                               else 'pending'::public.membership_status end;
            return new;
        end if;
        if new.status = 'banned' and mine >= 2 and private.group_rank(new.role) < mine then
            return new;  -- banning someone before they join
        end if;
        if mine >= 3 and private.group_rank(new.role) <= mine then
            return new;  -- an admin adding a member
        end if;
        raise exception 'only admins add members, with a role no higher than their own' using errcode = '42501';
    end if;
    -- UPDATE
    if old.role = 'owner' and old.user_id <> grp.owner_id and new.user_id = me
       and new.role = 'admin' and new.status = old.status then
        return new;  -- the former owner steps down to admin as ownership moves on
    end if;
    if old.user_id = me then
        raise exception 'nobody changes their own role or status' using errcode = '42501';
    end if;
    if mine < 2 or mine <= private.group_rank(old.role) then
        raise exception 'only a moderator or above acts on a member, and only one of a lower rank' using errcode = '42501';
    end if;
    if new.role <> old.role and (mine < 3 or private.group_rank(new.role) > mine) then
        raise exception 'only admins change roles, and never above their own' using errcode = '42501';
    end if;
    if old.status = 'banned' and new.status <> 'banned' then
        raise exception 'unban by removing the ban' using errcode = '42501';
    end if;
    if old.status = 'pending' and new.status = 'active' then
        new.joined_at := now();  -- a member since the request was approved
    end if;
    return new;
end;
$$;

drop trigger group_members_checked on public.group_members;
create trigger group_members_checked
    before insert or update or delete on public.group_members
    for each row execute function private.check_membership_change();

drop policy "Users can ask to join and admins can add members" on public.group_members;
create policy "Users can ask to join and moderators can add or ban members"
    on public.group_members for insert to authenticated
    with check (user_id = (select auth.uid()) or private.my_group_rank(group_id) >= 2);
drop policy "Group admins manage roles and statuses" on public.group_members;
create policy "Group moderators and above manage roles and statuses"
    on public.group_members for update to authenticated
    using (private.my_group_rank(group_id) >= 2)
    with check (private.my_group_rank(group_id) >= 2);
drop policy "Members can leave and admins can remove members" on public.group_members;
create policy "Members can leave and moderators can remove members"
    on public.group_members for delete to authenticated
    using (role <> 'owner' and (user_id = (select auth.uid()) or private.my_group_rank(group_id) >= 2));
