-- Leaving and removing, for writes from anywhere:
-- - The two participants of a direct thread are fixed (the pair is the thread); a user
--   mutes one instead. Rows still go when the thread or a user account is deleted.
-- - When the owner of a group thread leaves, the longest-standing participant becomes
--   its owner; the last one out deletes the thread. Without this, a departed owner
--   would keep the rights of `created_by` over a thread they are no longer in.

create function private.keep_direct_pairs_fixed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    -- Removals from one thread take its row lock first, before their row is gone, so
    -- the handover below never races another leaver: an owner leaving while their heir
    -- leaves too would otherwise hand the thread to someone no longer in it. (Taken
    -- here, not in the after trigger: there the removed row's lock is already held and
    -- two leavers could deadlock.) Nothing to lock in a cascade from the thread itself.
    perform 1 from public.conversation_threads t where t.id = old.thread_id for update;
    -- A cascade (the thread deleted, or an account deleted by the auth service, which
    -- has no auth.uid()) removes rows whose thread is gone or that no user asked to remove.
    if (select auth.uid()) is not null and exists (
        select 1 from public.conversation_threads t where t.id = old.thread_id and t.kind = 'direct'
    ) then
        raise exception 'the participants of a direct thread cannot change; mute it instead'
            using errcode = '23514';
    end if;
    return old;
end;
$$;
revoke execute on function private.keep_direct_pairs_fixed() from public, anon, authenticated;
create trigger conversation_participants_direct_pairs_fixed
    before delete on public.conversation_participants
    for each row execute function private.keep_direct_pairs_fixed();

create function private.hand_over_group_threads() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    heir uuid;
begin
    if not exists (
        select 1 from public.conversation_threads t
         where t.id = old.thread_id and t.kind = 'group' and t.created_by = old.user_id
    ) then
        return null;
    end if;
    select p.user_id into heir from public.conversation_participants p
     where p.thread_id = old.thread_id
     order by p.joined_at, p.user_id
     limit 1;
    if heir is null then
        delete from public.conversation_threads where id = old.thread_id;
    else
        update public.conversation_threads set created_by = heir where id = old.thread_id;
        update public.conversation_participants set role = 'owner'
         where thread_id = old.thread_id and user_id = heir;
    end if;
    return null;
end;
$$;
revoke execute on function private.hand_over_group_threads() from public, anon, authenticated;
create trigger conversation_participants_hand_over
    after delete on public.conversation_participants
    for each row execute function private.hand_over_group_threads();
