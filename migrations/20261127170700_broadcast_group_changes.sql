-- What happens in a group is broadcast on its private channel `group:<id>` by the
-- database (`realtime.send`), whoever made the change:
--
-- | event | payload |
-- |---|---|
-- | `member_joined` | `{group_id, user_id, role, member_count}` (became an active member) |
-- | `member_left` | `{group_id, user_id, reason: left / removed / banned, member_count}` |
-- | `member_role_changed` | `{group_id, user_id, role, previous_role}` |
-- | `group_updated` | `{group_id, name, description, topic_tags, privacy}` |
--
-- Requests to join and bans of non-members are not announced (only moderators act on
-- them, and they hear of requests by notification).

create function private.broadcast_membership_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    grp uuid := coalesce(new.group_id, old.group_id);
    was_active boolean := tg_op <> 'INSERT' and old.status = 'active';
    is_active boolean := tg_op <> 'DELETE' and new.status = 'active';
    members integer;
begin
    select g.member_count into members from public.social_groups g where g.id = grp;
    if not found then
        return null;  -- the group is being deleted
    end if;
    if is_active and not was_active then
        perform realtime.send(jsonb_build_object('group_id', grp, 'user_id', new.user_id, 'role', new.role,
                                                 'member_count', members), 'member_joined', 'group:' || grp, true);
    elsif was_active and not is_active then
        perform realtime.send(
            jsonb_build_object('group_id', grp, 'user_id', old.user_id, 'member_count', members,
                               'reason', case when tg_op = 'UPDATE' and new.status = 'banned' then 'banned'
                                              when old.user_id = (select auth.uid()) then 'left'
                                              else 'removed' end),
            'member_left', 'group:' || grp, true);
    elsif is_active and new.role <> old.role then
        perform realtime.send(jsonb_build_object('group_id', grp, 'user_id', new.user_id, 'role', new.role,
                                                 'previous_role', old.role), 'member_role_changed', 'group:' || grp, true);
    end if;
    return null;
end;
$$;
revoke execute on function private.broadcast_membership_change() from public, anon, authenticated;

-- After member_count is kept (trigger names order same-event triggers: "group_members_counted" < this).
create trigger group_members_zz_broadcast
    after insert or update or delete on public.group_members
    for each row execute function private.broadcast_membership_change();

create function private.broadcast_group_update() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    perform realtime.send(jsonb_build_object('group_id', new.id, 'name', new.name, 'description', new.description,
                                             'topic_tags', to_jsonb(new.topic_tags), 'privacy', new.privacy),
                          'group_updated', 'group:' || new.id, true);
    return null;
end;
$$;
revoke execute on function private.broadcast_group_update() from public, anon, authenticated;

create trigger social_groups_broadcast_update
    after update of name, description, topic_tags, privacy on public.social_groups
    for each row
    when ((old.name, old.description, old.topic_tags, old.privacy) is distinct from
          (new.name, new.description, new.topic_tags, new.privacy))
    execute function private.broadcast_group_update();
