-- A ban holds against every writer: a banned user deleting their own membership row
-- (which PostgREST allowed, as "leaving") would lift their own ban and let them join
-- again. Leaving is for active and pending members; a ban is lifted by a moderator.

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
        if old.user_id = me and old.status <> 'banned' or mine >= 2 and mine > private.group_rank(old.role) then
            return old;  -- leaving (the policy keeps the owner in), or removed by a higher rank
        end if;
        raise exception 'only a moderator or above removes a member, and only one of a lower rank; a ban is lifted by them'
            using errcode = '42501';
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

drop policy "Members can leave and moderators can remove members" on public.group_members;
create policy "Members leave; moderators remove members and lift bans"
    on public.group_members for delete to authenticated
    using (role <> 'owner'
           and ((user_id = (select auth.uid()) and status <> 'banned') or private.my_group_rank(group_id) >= 2));

-- Removing the owner is refused out loud (the policy hides their row, so a delete would
-- quietly change nothing and answer as if it had).
create or replace function public.remove_group_member(grp uuid, usr uuid) returns void
language plpgsql
set search_path = ''
as $$
declare
    membership public.group_members;
begin
    if usr = (select auth.uid()) then
        membership := private.membership_of(grp, usr, '{active,pending}');
        if membership.role = 'owner' then
            raise exception 'the owner hands ownership over before leaving' using errcode = 'PT409';
        end if;
    else
        perform private.require_rank(grp, 2, 'remove members');
        membership := private.membership_of(grp, usr, '{active,pending}');
        if membership.role = 'owner' then
            raise exception 'the owner is not removed' using errcode = 'PT403';
        end if;
    end if;
    delete from public.group_members m where m.group_id = grp and m.user_id = usr;
    if not found then
        raise exception 'only a moderator or above removes a member, and only one of a lower rank' using errcode = 'PT403';
    end if;
end;
$$;
