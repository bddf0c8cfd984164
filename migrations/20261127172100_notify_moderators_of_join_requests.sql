-- Moderators answer requests to join (20261127170300), so they are told of them too: a
-- request notifies the group's active owner, admins and moderators. Otherwise as
-- 20261127160000 (once while unread, never the requester).

create or replace function private.notify_group_join_request() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if new.status <> 'pending' or (tg_op = 'UPDATE' and old.status = 'pending') then
        return null;
    end if;
    insert into public.live_notifications (recipient_id, actor_id, kind, title, data)
    select answerer.user_id, new.user_id, 'group_join_request',
           left(coalesce(p.display_name, p.username, 'Someone') || ' asks to join ' || g.name, 200),
           jsonb_build_object('group_id', new.group_id, 'user_id', new.user_id)
      from public.group_members answerer
      join public.social_groups g on g.id = answerer.group_id
      left join public.profiles p on p.id = new.user_id
     where answerer.group_id = new.group_id
       and answerer.status = 'active'
       and answerer.role in ('owner', 'admin', 'moderator')
       and answerer.user_id <> new.user_id
       and not exists (
           select 1 from public.live_notifications n
            where n.recipient_id = answerer.user_id and n.kind = 'group_join_request' and n.read_at is null
              and n.data ->> 'group_id' = new.group_id::text and n.data ->> 'user_id' = new.user_id::text);
    return null;
end;
$$;
