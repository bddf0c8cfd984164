-- Deleting a message leaves a tombstone (the `messages_edited` trigger blanks the body
-- and attachments and keeps the sequence). The sender may delete their message, and the
-- owner of a group thread may delete any message of it (moderation). The update policy
-- lets only the sender change a row, and a policy cannot tell a body edit from a
-- deletion, so the owner's deletion is this security definer function, which checks
-- who asks before it writes. Deleting a tombstone again answers it unchanged.

create function public.delete_message(message uuid) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    m public.messages;
begin
    select * into m from public.messages where id = message for update;
    if m.id is null or me is null or not private.is_thread_participant(m.thread_id) then
        raise exception 'no such message' using errcode = 'P0002';
    end if;
    if m.sender_id <> me and not exists (
        select 1 from public.conversation_threads t
         where t.id = m.thread_id and t.kind = 'group' and t.created_by = me
    ) then
        raise exception 'only the sender or the thread owner can delete a message' using errcode = '42501';
    end if;
    if m.deleted_at is null then
        update public.messages set deleted_at = now() where id = message returning * into m;
    end if;
    return to_jsonb(m);
end;
$$;
revoke execute on function public.delete_message(uuid) from public, anon;
grant execute on function public.delete_message(uuid) to authenticated;
