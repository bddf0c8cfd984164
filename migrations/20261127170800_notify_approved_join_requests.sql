-- An approved request to join notifies the requester (kind `group_request_approved`),
-- by the database, whoever approved it and however.

create function private.notify_join_request_approved() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    insert into public.live_notifications (recipient_id, actor_id, kind, title, data)
    select new.user_id, (select auth.uid()), 'group_request_approved',
           left('You joined ' || g.name, 200), jsonb_build_object('group_id', new.group_id)
      from public.social_groups g
     where g.id = new.group_id and new.user_id is distinct from (select auth.uid());
    return null;
end;
$$;
revoke execute on function private.notify_join_request_approved() from public, anon, authenticated;

create trigger group_members_notify_approved
    after update of status on public.group_members
    for each row when (old.status = 'pending' and new.status = 'active')
    execute function private.notify_join_request_approved();
