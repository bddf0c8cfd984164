-- The caller's threads as the app lists them: each with the caller's read position, mute
-- setting and unread count, and a thread's full description with its participants.
-- Security invoker (the view and the function), so the policies decide: a user sees the
-- threads they take part in and nothing else. PostgREST serves both as they are
-- (`from('my_threads')`, `rpc('describe_thread')`), and the edge's `/functions/v1/threads`
-- reads the same, so the two cannot disagree about what "unread" means.
--
-- Unread: messages of others after the caller's read position, tombstones excluded (a
-- message deleted before it was read is not waiting for anyone).

create view public.my_threads with (security_invoker = true) as
select t.id,
       t.kind,
       t.title,
       t.created_by as owner_id,
       t.last_seq,
       t.last_message_at,
       t.created_at,
       coalesce(t.last_message_at, t.created_at) as active_at,
       me.last_read_seq,
       me.muted,
       me.joined_at,
       (select count(*) from public.messages m
         where m.thread_id = t.id and m.seq > me.last_read_seq
           and m.sender_id <> me.user_id and m.deleted_at is null) as unread,
       (select count(*) from public.conversation_participants p where p.thread_id = t.id) as participant_count
  from public.conversation_threads t
  join public.conversation_participants me on me.thread_id = t.id and me.user_id = (select auth.uid());
comment on view public.my_threads is
    'The calling user''s threads, with their read position, mute setting and unread count.';
revoke all on public.my_threads from public, anon;
grant select on public.my_threads to authenticated;

create function public.describe_thread(thread uuid) returns jsonb
language sql stable security invoker
set search_path = ''
as $$
    select to_jsonb(mine) || jsonb_build_object('participants', (
               select coalesce(jsonb_agg(jsonb_build_object('user_id', p.user_id, 'role', p.role,
                                                            'joined_at', p.joined_at)
                                         order by p.joined_at, p.user_id), '[]'::jsonb)
                 from public.conversation_participants p where p.thread_id = mine.id))
      from public.my_threads mine
     where mine.id = thread
$$;
revoke execute on function public.describe_thread(uuid) from public, anon;
grant execute on function public.describe_thread(uuid) to authenticated;

-- Marks the caller's messages of `thread` read up to `up_to` (everything when null). The
-- read position never moves back nor past the thread's last message. Null when the
-- caller does not take part in the thread.
create function public.mark_thread_read(thread uuid, up_to bigint default null) returns jsonb
language plpgsql security invoker
set search_path = ''
as $$
declare
    read_to bigint;
begin
    if up_to < 0 then
        raise exception 'up_to must not be negative' using errcode = '22023';
    end if;
    update public.conversation_participants p
       set last_read_seq = greatest(p.last_read_seq, least(up_to, t.last_seq))
      from public.conversation_threads t
     where t.id = p.thread_id and p.thread_id = thread and p.user_id = (select auth.uid())
    returning p.last_read_seq into read_to;
    if read_to is null then
        return null;
    end if;
    return (select jsonb_build_object('thread_id', mine.id, 'last_read_seq', mine.last_read_seq,
                                      'unread', mine.unread)
              from public.my_threads mine where mine.id = thread);
end;
$$;
revoke execute on function public.mark_thread_read(uuid, bigint) from public, anon;
grant execute on function public.mark_thread_read(uuid, bigint) to authenticated;
