-- A new follower is announced to the one followed, by the database: a follow made
-- anywhere (the edge, PostgREST, psql) creates the notification, which reaches the
-- followee's `user:<id>` subscribers through the change feed like any other row.
-- Security definer because the follower may not insert another user's notifications;
-- the trigger decides everything the row says (never the follower's own input).

create function private.notify_new_follower() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    insert into public.live_notifications (recipient_id, actor_id, kind, title, data)
    select new.followee_id, new.follower_id, 'follow',
           coalesce(p.display_name, p.username, 'Someone') || ' followed you',
           jsonb_build_object('follower_id', new.follower_id)
      from (select 1) as one
      left join public.profiles p on p.id = new.follower_id;
    return new;
end;
$$;
revoke execute on function private.notify_new_follower() from public, anon, authenticated;

create trigger follow_relationships_notify_followee
    after insert on public.follow_relationships
    for each row execute function private.notify_new_follower();
