-- Private realtime channels of conversations and groups follow membership:
-- conversation:<thread id> for the thread's participants, group:<group id> for the
-- group's active members (banned and pending members are out), user:<id> for that user.
-- Replaces the first policies of 20261126110000, which left these shapes closed.

drop policy "Signed-in users can read open channels and their own inbox" on realtime.messages;
drop policy "Signed-in users can send to open channels and their own inbox" on realtime.messages;

create function private.may_use_channel(channel text) returns boolean
language sql stable security definer
set search_path = ''
as $$
    select case
        when channel like 'conversation:%' then
            coalesce(private.is_thread_participant(private.try_uuid(substr(channel, 14))), false)
        when channel like 'group:%' then
            coalesce(private.is_group_member(private.try_uuid(substr(channel, 7))), false)
        when channel like 'user:%' then
            channel = 'user:' || (select auth.uid())::text
        else true
    end
$$;

create policy "Members can read their conversation, group and inbox channels, and open ones"
    on realtime.messages for select to authenticated
    using (private.may_use_channel(realtime.topic()));

create policy "Members can send to their conversation, group and inbox channels, and open ones"
    on realtime.messages for insert to authenticated
    with check (private.may_use_channel(realtime.topic()));
