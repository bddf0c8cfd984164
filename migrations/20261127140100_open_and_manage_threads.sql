-- Opening threads and adding participants, answered with the thread as
-- `public.describe_thread` shows it. Group threads and their participants are written
-- as the caller (security invoker: the policies decide; "Thread creators can add
-- participants" lets only the owner add). A group thread is
-- created with its id chosen first, because an insert that returned the row would be
-- checked against the select policy before the creator takes part in it.
--
-- A thread has at most 200 participants, the product's users-per-channel limit: every
-- participant may join the thread's channel, so a longer list would be a channel some
-- of them cannot join. The trigger holds it for writes from anywhere; the edge checks
-- the same number first to name the field.

create function private.limit_thread_participants() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    -- The thread's row lock (taken by conversation_participants_direct_rules, which runs
    -- first) serializes concurrent additions, so two cannot both take the last place.
    perform 1 from public.conversation_threads t where t.id = new.thread_id for update;
    -- Someone already in the thread is left to the unique key (and ON CONFLICT), and a
    -- caller who may not add participants to RLS, which refuses without saying whether
    -- the thread is full.
    if exists (select 1 from public.conversation_participants p
                where p.thread_id = new.thread_id and p.user_id = new.user_id)
       or ((select auth.uid()) is not null and not private.is_thread_owner(new.thread_id)) then
        return new;
    end if;
    if (select count(*) from public.conversation_participants p where p.thread_id = new.thread_id) >= 200 then
        raise exception 'a thread has at most 200 participants' using errcode = '23514';
    end if;
    return new;
end;
$$;
revoke execute on function private.limit_thread_participants() from public, anon, authenticated;
create trigger conversation_participants_limit
    before insert on public.conversation_participants
    for each row execute function private.limit_thread_participants();

create function public.create_group_thread(title text, participant_ids uuid[] default '{}') returns jsonb
language plpgsql security invoker
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    thread uuid := gen_random_uuid();
begin
    if me is null then
        raise exception 'sign in to start a thread' using errcode = '42501';
    end if;
    insert into public.conversation_threads (id, kind, title, created_by) values (thread, 'group', title, me);
    insert into public.conversation_participants (thread_id, user_id, role) values (thread, me, 'owner');
    insert into public.conversation_participants (thread_id, user_id, role)
    select distinct thread, u, 'member' from unnest(coalesce(participant_ids, '{}')) as u where u <> me;
    return public.describe_thread(thread);
end;
$$;
revoke execute on function public.create_group_thread(text, uuid[]) from public, anon;
grant execute on function public.create_group_thread(text, uuid[]) to authenticated;

-- Adds users to a thread the caller owns; those already in it are left as they are.
create function public.add_thread_participants(thread uuid, user_ids uuid[]) returns jsonb
language plpgsql security invoker
set search_path = ''
as $$
begin
    insert into public.conversation_participants (thread_id, user_id, role)
    select distinct thread, u, 'member' from unnest(coalesce(user_ids, '{}')) as u
    on conflict (thread_id, user_id) do nothing;
    return public.describe_thread(thread);
end;
$$;
revoke execute on function public.add_thread_participants(uuid, uuid[]) from public, anon;
grant execute on function public.add_thread_participants(uuid, uuid[]) to authenticated;

-- The caller's direct thread with `other_user`, started if the pair has none
-- (`public.start_direct_thread`, migration 20261126120100).
create function public.open_direct_thread(other_user uuid) returns jsonb
language plpgsql security invoker
set search_path = ''
as $$
declare
    thread uuid;
begin
    -- Two statements: the description must see the rows the first one wrote.
    thread := public.start_direct_thread(other_user);
    return public.describe_thread(thread);
end;
$$;
revoke execute on function public.open_direct_thread(uuid) from public, anon;
grant execute on function public.open_direct_thread(uuid) to authenticated;
