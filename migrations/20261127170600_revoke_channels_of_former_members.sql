-- A member who stops being one (left, removed, banned) loses the private channels that
-- membership opened, at once: the room of each is signalled (`feed.signal` 'recheck',
-- 20261127170100) and asks the policies again about that user's channels there, closing
-- those no longer allowed. For a group: `group:<id>` and the channels of its events and
-- polls that are not over. For a conversation: `conversation:<id>`. The room decides by
-- the policies, so a signal that turns out unneeded changes nothing.

create function private.revoke_group_channels() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if old.status <> 'active' or (tg_op = 'UPDATE' and new.status = 'active') then
        return null;
    end if;
    perform feed.signal('group:' || old.group_id, 'recheck', old.user_id);
    perform feed.signal('event:' || e.id, 'recheck', old.user_id)
       from public.live_events e where e.group_id = old.group_id and e.status in ('scheduled', 'live');
    perform feed.signal('poll:' || p.id, 'recheck', old.user_id)
       from public.community_polls p where p.group_id = old.group_id and p.status = 'open';
    return null;
end;
$$;
revoke execute on function private.revoke_group_channels() from public, anon, authenticated;

create trigger group_members_revoke_channels
    after update of status or delete on public.group_members
    for each row execute function private.revoke_group_channels();

create function private.revoke_conversation_channel() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    perform feed.signal('conversation:' || old.thread_id, 'recheck', old.user_id);
    return null;
end;
$$;
revoke execute on function private.revoke_conversation_channel() from public, anon, authenticated;

create trigger conversation_participants_revoke_channel
    after delete on public.conversation_participants
    for each row execute function private.revoke_conversation_channel();
