-- Groups as the edge (`/functions/v1/groups`) and PostgREST (`rpc(...)`) manage them: one
-- function per action, run as the caller so the policies and the rank trigger
-- (20261127170300) decide. Each answers JSON: a group as `private.group_json` shapes it,
-- a membership as `private.member_json` does. Refusals carry PostgREST's status codes
-- (`PT404`, `PT403`, `PT409`), so both paths answer the same status and message.

create index social_groups_topic_tags_idx on public.social_groups using gin (topic_tags);
create index group_members_group_joined_idx on public.group_members (group_id, status, joined_at desc, user_id);

create function private.group_json(g public.social_groups) returns jsonb
language sql stable
set search_path = ''
as $$
    select jsonb_build_object(
        'id', g.id, 'name', g.name, 'description', g.description, 'topic_tags', to_jsonb(g.topic_tags),
        'privacy', g.privacy, 'owner_id', g.owner_id, 'member_count', g.member_count, 'created_at', g.created_at,
        'my_role', m.role, 'my_status', m.status)
      from (select 1) one
      left join public.group_members m on m.group_id = g.id and m.user_id = (select auth.uid())
$$;

create function private.member_json(m public.group_members) returns jsonb
language sql stable
set search_path = ''
as $$
    select jsonb_build_object(
        'group_id', m.group_id, 'user_id', m.user_id, 'role', m.role, 'status', m.status, 'joined_at', m.joined_at,
        'username', p.username, 'display_name', p.display_name, 'avatar_url', p.avatar_url)
      from (select 1) one
      left join public.profiles p on p.id = m.user_id
$$;

-- The group if the caller may see it, else null.
create function public.describe_group(grp uuid) returns jsonb
language sql stable
set search_path = ''
as $$ select private.group_json(g) from public.social_groups g where g.id = grp $$;

create function private.require_group(grp uuid) returns void
language plpgsql stable
set search_path = ''
as $$
begin
    if not exists (select 1 from public.social_groups g where g.id = grp) then
        raise exception 'no such group, or it is private' using errcode = 'PT404';
    end if;
end;
$$;

create function public.create_group(name text, description text default null, topic_tags text[] default '{}',
                                    privacy public.group_privacy default 'public') returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    made uuid := gen_random_uuid();
    created public.social_groups;
begin
    -- No RETURNING: a private group is visible to its owner only once the trigger has
    -- made them a member, after the row is checked against the select policy.
    insert into public.social_groups (id, name, description, topic_tags, privacy)
    values (made, name, description, coalesce(topic_tags, '{}'), coalesce(privacy, 'public'));
    select * into created from public.social_groups g where g.id = made;
    return private.group_json(created);
exception when unique_violation then
    raise exception 'a group named % exists', name using errcode = 'PT409';
end;
$$;

-- Changes the keys present in `patch` (name, description, topic_tags, privacy).
create function public.update_group(grp uuid, patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    updated public.social_groups;
begin
    perform private.require_group(grp);
    if private.my_group_rank(grp) < 3 then
        raise exception 'only the owner and admins edit a group' using errcode = 'PT403';
    end if;
    update public.social_groups g set
        name = case when patch ? 'name' then patch ->> 'name' else g.name end,
        description = case when patch ? 'description' then patch ->> 'description' else g.description end,
        topic_tags = case when patch ? 'topic_tags'
                          then array(select jsonb_array_elements_text(patch -> 'topic_tags')) else g.topic_tags end,
        privacy = case when patch ? 'privacy' then (patch ->> 'privacy')::public.group_privacy else g.privacy end
     where g.id = grp
    returning * into updated;
    return private.group_json(updated);
exception when unique_violation then
    raise exception 'a group named % exists', patch ->> 'name' using errcode = 'PT409';
end;
$$;

-- Joins a public group, or asks to join a private one (the caller need not see it: an
-- invitation carries its id). Joining again answers the membership as it is.
create function public.join_group(grp uuid) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    membership public.group_members;
begin
    if me is null then
        raise exception 'sign in to join a group' using errcode = 'PT401';
    end if;
    if not exists (select 1 from public.social_groups g where g.id = grp) then
        raise exception 'no such group' using errcode = 'PT404';
    end if;
    select * into membership from public.group_members m where m.group_id = grp and m.user_id = me;
    if found and membership.status = 'banned' then
        raise exception 'you are banned from this group' using errcode = 'PT403';
    end if;
    if not found then
        insert into public.group_members (group_id, user_id) values (grp, me)
        on conflict do nothing;
        select * into membership from public.group_members m where m.group_id = grp and m.user_id = me;
    end if;
    return private.member_json(membership);
end;
$$;
revoke execute on function public.join_group(uuid) from public, anon;
grant execute on function public.join_group(uuid) to authenticated;

create function private.membership_of(grp uuid, usr uuid, want public.membership_status[]) returns public.group_members
language plpgsql stable
set search_path = ''
as $$
declare
    membership public.group_members;
begin
    perform private.require_group(grp);
    select * into membership from public.group_members m
     where m.group_id = grp and m.user_id = usr and m.status = any (want);
    if not found then
        raise exception 'no such % in this group', array_to_string(want, ' or ') using errcode = 'PT404';
    end if;
    return membership;
end;
$$;

create function private.require_rank(grp uuid, at_least integer, what text) returns void
language plpgsql stable
set search_path = ''
as $$
begin
    perform private.require_group(grp);  -- a hidden group is not found, whatever the rank
    if private.my_group_rank(grp) < at_least then
        raise exception 'only % %', case at_least when 2 then 'moderators and above' when 3 then 'admins and the owner'
                                                  else 'the owner' end, what using errcode = 'PT403';
    end if;
end;
$$;

-- Approves (active) or denies (the request is deleted) a request to join.
create function public.answer_join_request(grp uuid, usr uuid, approve boolean) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    membership public.group_members;
begin
    perform private.require_rank(grp, 2, 'answer requests to join');
    membership := private.membership_of(grp, usr, '{pending}');
    if approve then
        update public.group_members m set status = 'active'
         where m.group_id = grp and m.user_id = usr returning * into membership;
    else
        delete from public.group_members m where m.group_id = grp and m.user_id = usr;
        membership.status := null;
    end if;
    return private.member_json(membership);
end;
$$;

create function public.set_group_member_role(grp uuid, usr uuid, new_role public.group_role) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    membership public.group_members;
begin
    perform private.require_rank(grp, 3, 'change roles');
    membership := private.membership_of(grp, usr, '{active}');
    update public.group_members m set role = new_role
     where m.group_id = grp and m.user_id = usr returning * into membership;
    return private.member_json(membership);
end;
$$;

-- Removes a member (a moderator or above, of a lower rank), or leaves when `usr` is the
-- caller (an owner hands ownership over first). A pending request is withdrawn the same way.
create function public.remove_group_member(grp uuid, usr uuid) returns void
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
    end if;
    delete from public.group_members m where m.group_id = grp and m.user_id = usr;
end;
$$;

-- Bans a member, or someone not yet in the group; they cannot join again until unbanned.
create function public.ban_group_member(grp uuid, usr uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    membership public.group_members;
begin
    perform private.require_group(grp);
    perform private.require_rank(grp, 2, 'ban members');
    if usr = (select auth.uid()) then
        raise exception 'you cannot ban yourself' using errcode = 'PT409';
    end if;
    update public.group_members m set status = 'banned'
     where m.group_id = grp and m.user_id = usr returning * into membership;
    if not found then
        insert into public.group_members (group_id, user_id, status) values (grp, usr, 'banned')
        returning * into membership;
    end if;
    return private.member_json(membership);
end;
$$;

create function public.unban_group_member(grp uuid, usr uuid) returns void
language plpgsql
set search_path = ''
as $$
begin
    perform private.require_rank(grp, 2, 'unban members');
    perform private.membership_of(grp, usr, '{banned}');
    delete from public.group_members m where m.group_id = grp and m.user_id = usr;
end;
$$;

-- The owner hands the group to an active member, and stays on as an admin.
create function public.transfer_group_ownership(grp uuid, usr uuid) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    moved public.social_groups;
begin
    perform private.require_group(grp);
    if not exists (select 1 from public.social_groups g where g.id = grp and g.owner_id = me) then
        raise exception 'only the owner hands the group over' using errcode = 'PT403';
    end if;
    perform private.membership_of(grp, usr, '{active}');
    if usr = me then
        raise exception 'you own this group already' using errcode = 'PT409';
    end if;
    update public.social_groups g set owner_id = usr where g.id = grp returning * into moved;
    update public.group_members m set role = 'owner' where m.group_id = grp and m.user_id = usr;
    update public.group_members m set role = 'admin' where m.group_id = grp and m.user_id = me;
    return private.group_json(moved);
end;
$$;
revoke execute on function public.transfer_group_ownership(uuid, uuid) from public, anon;
grant execute on function public.transfer_group_ownership(uuid, uuid) to authenticated;
