-- A request to join a private group (a pending membership) notifies those of the group
-- who may answer it (its active owner and admins), by the database: a
-- request made anywhere (PostgREST, the edge, psql) creates the notifications (kind
-- `group_join_request`), which reach each one's `user:<id>` subscribers through the
-- change feed. Never the requester, and not again for a request withdrawn and repeated
-- while the first notification is unread. Security
-- definer: the requester may neither read the admins' memberships nor write their
-- notifications.

create function private.notify_group_join_request() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if new.status <> 'pending' or (tg_op = 'UPDATE' and old.status = 'pending') then
        return null;
    end if;
    insert into public.live_notifications (recipient_id, actor_id, kind, title, data)
    select admin.user_id, new.user_id, 'group_join_request',
           left(coalesce(p.display_name, p.username, 'Someone') || ' asks to join ' || g.name, 200),
           jsonb_build_object('group_id', new.group_id, 'user_id', new.user_id)
      from public.group_members admin
      join public.social_groups g on g.id = admin.group_id
      left join public.profiles p on p.id = new.user_id
     where admin.group_id = new.group_id
       and admin.status = 'active'
       and admin.role in ('owner', 'admin')
       and admin.user_id <> new.user_id
       -- Withdrawing and asking again does not notify again while the first is unread.
       and not exists (
           select 1 from public.live_notifications n
            where n.recipient_id = admin.user_id and n.kind = 'group_join_request' and n.read_at is null
              and n.data ->> 'group_id' = new.group_id::text and n.data ->> 'user_id' = new.user_id::text);
    return null;
end;
$$;
revoke execute on function private.notify_group_join_request() from public, anon, authenticated;

create trigger group_members_notify_join_request
    after insert or update of status on public.group_members
    for each row execute function private.notify_group_join_request();
