-- Each recipient's unread notification count, broadcast from the database on their
-- private `user:<id>` topic (event `unread_count`, payload `{"unread": n}`) whenever a
-- statement adds notifications or marks them read, whoever ran it: a follow, the edge's
-- "mark read", PostgREST. One broadcast per recipient per statement (a statement-level
-- trigger over the transition table), so marking a thousand read sends one count.
-- Security definer: the writer is often not the recipient (a follower creates the
-- followee's notification) and must not read the recipient's rows to count them.

create function private.broadcast_unread_counts() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    recipient uuid;
begin
    for recipient in select distinct c.recipient_id from changed c loop
        perform realtime.send(
            jsonb_build_object('unread', (select count(*) from public.live_notifications n
                                           where n.recipient_id = recipient and n.read_at is null)),
            'unread_count',
            'user:' || recipient::text,
            true);
    end loop;
    return null;
end;
$$;
revoke execute on function private.broadcast_unread_counts() from public, anon, authenticated;

create trigger live_notifications_broadcast_unread_after_insert
    after insert on public.live_notifications
    referencing new table as changed
    for each statement execute function private.broadcast_unread_counts();

create trigger live_notifications_broadcast_unread_after_update
    after update on public.live_notifications
    referencing new table as changed
    for each statement execute function private.broadcast_unread_counts();
