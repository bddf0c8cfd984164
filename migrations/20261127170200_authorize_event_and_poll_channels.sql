-- event:<id> and poll:<id> become private channels: readable (and writable) by those who
-- may see the event or the poll, so a member who leaves a group loses its events' and
-- polls' channels with it. Until now they fell through to "open to every signed-in user".

create or replace function private.may_use_channel(channel text) returns boolean
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
        when channel like 'presence:%' then
            private.try_uuid(substr(channel, 10)) is not null
        when channel like 'event:%' then
            coalesce(private.can_see_event(private.try_uuid(substr(channel, 7))), false)
        when channel like 'poll:%' then
            coalesce(private.can_see_poll(private.try_uuid(substr(channel, 6))), false)
        else true
    end
$$;
