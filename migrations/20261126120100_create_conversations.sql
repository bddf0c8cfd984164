-- Direct messages and group conversations: threads, their participants, and messages.

create type public.thread_kind as enum ('direct', 'group');

create table public.conversation_threads (
    id uuid primary key default gen_random_uuid(),
    kind public.thread_kind not null,
    title text check (char_length(title) between 1 and 120),
    created_by uuid not null default auth.uid() references auth.users (id) on delete cascade,
    -- "<smaller user id>:<larger user id>" for direct threads: one direct thread per pair.
    direct_pair text unique,
    last_seq bigint not null default 0,
    last_message_at timestamptz,
    created_at timestamptz not null default now(),
    check ((kind = 'direct') = (direct_pair is not null))
);
comment on table public.conversation_threads is
    'A conversation: direct (exactly two participants, one per pair of users) or group.';
create index conversation_threads_created_by_idx on public.conversation_threads (created_by);

create table public.conversation_participants (
    thread_id uuid not null references public.conversation_threads (id) on delete cascade,
    user_id uuid not null references auth.users (id) on delete cascade,
    role text not null default 'member' check (role in ('owner', 'member')),
    joined_at timestamptz not null default now(),
    last_read_seq bigint not null default 0 check (last_read_seq >= 0),
    muted boolean not null default false,
    primary key (thread_id, user_id)
);
comment on table public.conversation_participants is
    'Who takes part in a thread, with their read position and mute setting.';
create index conversation_participants_user_id_idx on public.conversation_participants (user_id);

create table public.messages (
    id uuid primary key default gen_random_uuid(),
    thread_id uuid not null references public.conversation_threads (id) on delete cascade,
    sender_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    body text not null check (char_length(body) <= 4000),
    -- [{"kind": "image|video|audio|file", "url": "...", "bytes": n, "name": "..."}], at most 10, 16 KB.
    attachments jsonb not null default '[]'::jsonb
        check (jsonb_typeof(attachments) = 'array' and jsonb_array_length(attachments) <= 10
               and octet_length(attachments::text) <= 16384),
    reply_to uuid references public.messages (id) on delete set null,
    seq bigint not null default 0,
    idempotency_key text check (char_length(idempotency_key) between 1 and 64),
    created_at timestamptz not null default now(),
    edited_at timestamptz,
    deleted_at timestamptz,
    unique (thread_id, seq),
    unique (sender_id, idempotency_key)
);
comment on table public.messages is
    'Chat messages: per-thread sequence, client idempotency key, edits, and tombstones.';
create index messages_thread_id_seq_idx on public.messages (thread_id, seq desc);
create index messages_reply_to_idx on public.messages (reply_to);

create function private.attachments_are_valid(items jsonb) returns boolean
language sql immutable
set search_path = ''
as $$
    select coalesce(bool_and(
        jsonb_typeof(item) = 'object'
        and item ->> 'kind' in ('image', 'video', 'audio', 'file')
        and char_length(coalesce(item ->> 'url', '')) between 1 and 2048
        and (item ? 'bytes') is not false
        and coalesce((item ->> 'bytes')::numeric, 0) between 0 and 104857600
    ), true)
    from jsonb_array_elements(items) as item
$$;
alter table public.messages add constraint messages_attachments_are_typed
    check (private.attachments_are_valid(attachments));

-- Membership helpers (security definer: they read the membership table past its policies).
create function private.is_thread_participant(thread uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
    select exists (
        select 1 from public.conversation_participants p
        where p.thread_id = thread and p.user_id = (select auth.uid())
    )
$$;

create function private.is_thread_owner(thread uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
    select exists (
        select 1 from public.conversation_threads t
        where t.id = thread and t.created_by = (select auth.uid())
    )
$$;

-- A direct thread has exactly the two users of its pair; a message gets the thread's
-- next sequence number (the row lock on the thread serializes concurrent senders).
create function private.check_direct_participant() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    pair text;
begin
    select t.direct_pair into pair from public.conversation_threads t where t.id = new.thread_id for update;
    -- Callers who may not add participants are left to RLS, which refuses them without
    -- saying anything about the thread; an existing participant is left to the unique key.
    if (select auth.uid()) is not null and not private.is_thread_owner(new.thread_id) then
        return new;
    end if;
    if pair is not null and not exists (
        select 1 from public.conversation_participants p where p.thread_id = new.thread_id and p.user_id = new.user_id
    ) then
        if position(new.user_id::text in pair) = 0 then
            raise exception 'a direct thread only has its two users' using errcode = '23514';
        end if;
        if (select count(*) from public.conversation_participants p where p.thread_id = new.thread_id) >= 2 then
            raise exception 'a direct thread has exactly two participants' using errcode = '23514';
        end if;
    end if;
    return new;
end;
$$;
create trigger conversation_participants_direct_rules
    before insert on public.conversation_participants
    for each row execute function private.check_direct_participant();

create function private.number_message() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    update public.conversation_threads
       set last_seq = last_seq + 1, last_message_at = now()
     where id = new.thread_id
    returning last_seq into new.seq;
    new.created_at := now();
    new.edited_at := null;
    new.deleted_at := null;
    return new;
end;
$$;
create trigger messages_numbered
    before insert on public.messages
    for each row execute function private.number_message();

create function private.edit_message() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if old.deleted_at is not null then
        raise exception 'a deleted message cannot change' using errcode = '23514';
    end if;
    if new.deleted_at is not null then
        new.body := '';
        new.attachments := '[]'::jsonb;
        new.deleted_at := now();
    elsif new.body is distinct from old.body or new.attachments is distinct from old.attachments then
        new.edited_at := now();
    end if;
    return new;
end;
$$;
create trigger messages_edited
    before update on public.messages
    for each row execute function private.edit_message();

-- Starting a direct thread creates the thread and both participants at once; it returns
-- the existing thread when the pair already has one.
create function public.start_direct_thread(other_user uuid) returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    pair text;
    thread uuid;
begin
    if me is null or other_user is null or other_user = me then
        raise exception 'a direct thread needs two different signed-in users' using errcode = '22023';
    end if;
    if not exists (select 1 from auth.users where id = other_user) then
        raise exception 'no such user' using errcode = '22023';
    end if;
    pair := least(me, other_user)::text || ':' || greatest(me, other_user)::text;
    insert into public.conversation_threads (kind, created_by, direct_pair)
    values ('direct', me, pair)
    on conflict (direct_pair) do nothing
    returning id into thread;
    if thread is null then
        select id into thread from public.conversation_threads where direct_pair = pair;
    else
        insert into public.conversation_participants (thread_id, user_id, role)
        values (thread, me, 'owner'), (thread, other_user, 'member');
    end if;
    return thread;
end;
$$;
revoke execute on function public.start_direct_thread(uuid) from public, anon;
grant execute on function public.start_direct_thread(uuid) to authenticated, service_role;

alter table public.conversation_threads enable row level security;
alter table public.conversation_participants enable row level security;
alter table public.messages enable row level security;

-- Columns a client may change; the rest is the database's to set.
revoke update on public.conversation_threads from anon, authenticated;
grant update (title) on public.conversation_threads to authenticated;
revoke update on public.conversation_participants from anon, authenticated;
grant update (last_read_seq, muted) on public.conversation_participants to authenticated;
revoke update on public.messages from anon, authenticated;
grant update (body, attachments, deleted_at) on public.messages to authenticated;

create policy "Participants can read their threads"
    on public.conversation_threads for select to authenticated
    using (private.is_thread_participant(id));
create policy "Users can start group threads as themselves"
    on public.conversation_threads for insert to authenticated
    with check (created_by = (select auth.uid()) and kind = 'group');
create policy "Thread creators can rename their group threads"
    on public.conversation_threads for update to authenticated
    using (created_by = (select auth.uid()) and kind = 'group')
    with check (created_by = (select auth.uid()));
create policy "Thread creators can delete their threads"
    on public.conversation_threads for delete to authenticated
    using (created_by = (select auth.uid()));

create policy "Participants can see who else is in their threads"
    on public.conversation_participants for select to authenticated
    using (private.is_thread_participant(thread_id));
create policy "Thread creators can add participants"
    on public.conversation_participants for insert to authenticated
    with check (private.is_thread_owner(thread_id));
create policy "Participants can update their own read position and mute"
    on public.conversation_participants for update to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid()));
create policy "Participants can leave and creators can remove"
    on public.conversation_participants for delete to authenticated
    using (user_id = (select auth.uid()) or private.is_thread_owner(thread_id));

create policy "Participants can read the messages of their threads"
    on public.messages for select to authenticated
    using (private.is_thread_participant(thread_id));
create policy "Participants can send messages as themselves"
    on public.messages for insert to authenticated
    with check (sender_id = (select auth.uid()) and private.is_thread_participant(thread_id));
create policy "Senders can edit and delete their own messages"
    on public.messages for update to authenticated
    using (sender_id = (select auth.uid()) and private.is_thread_participant(thread_id))
    with check (sender_id = (select auth.uid()));
-- No delete policy: a message is deleted by setting deleted_at, which leaves a tombstone.
