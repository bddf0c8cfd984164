-- A poll that closes (by its author, or at its closing time) notifies its author and
-- everyone who voted (kind `poll_result`), never the one who closed it.

create function private.notify_poll_closed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    insert into public.live_notifications (recipient_id, actor_id, kind, title, data)
    select who.id, (select auth.uid()), 'poll_result', left('Poll closed: ' || new.question, 200),
           jsonb_build_object('poll_id', new.id)
      from (select new.author_id as id
            union
            select v.user_id from public.poll_votes v where v.poll_id = new.id) who
     where who.id is distinct from (select auth.uid());
    return null;
end;
$$;
revoke execute on function private.notify_poll_closed() from public, anon, authenticated;

create trigger community_polls_notify_closed
    after update of status on public.community_polls
    for each row when (old.status = 'open' and new.status = 'closed')
    execute function private.notify_poll_closed();
