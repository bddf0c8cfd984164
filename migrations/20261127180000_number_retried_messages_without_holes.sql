-- One message per idempotency key, with no hole in the thread's numbering when a retry
-- races its original: send_messages takes a transaction lock on (sender, key) for each
-- key of the batch before looking them up (see the comment in the function).
create or replace function public.send_messages(thread uuid, batch jsonb) returns jsonb
language plpgsql security invoker
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    item jsonb;
    key text;
    stored public.messages;
    answers jsonb := '[]'::jsonb;
begin
    if jsonb_typeof(batch) is distinct from 'array' then
        raise exception 'batch must be a JSON array of messages' using errcode = '22023';
    end if;
    -- A retry racing its original (on another connection) waits here for the original's
    -- commit and then finds it. Without the wait both got past the lookup below, and the
    -- retry's insert numbered itself (the before-insert trigger takes the thread's next
    -- seq) before losing on the unique key, leaving a hole in the thread's numbering. All
    -- of the batch's keys are locked first, in one order, so two batches with the same
    -- keys in different orders cannot deadlock. 7301: this lock's namespace.
    for key in select distinct b ->> 'idempotency_key' from jsonb_array_elements(batch) b
                where b ->> 'idempotency_key' is not null order by 1 loop
        perform pg_catalog.pg_advisory_xact_lock(7301, pg_catalog.hashtext(me::text || ':' || key));
    end loop;
    for item in select value from jsonb_array_elements(batch) loop
        begin
            key := item ->> 'idempotency_key';
            stored := null;
            if key is not null then
                select * into stored from public.messages m where m.sender_id = me and m.idempotency_key = key;
            end if;
            if stored.id is null then
                insert into public.messages as m (thread_id, body, attachments, reply_to, idempotency_key)
                values (thread, coalesce(item ->> 'body', ''), coalesce(item -> 'attachments', '[]'::jsonb),
                        (item ->> 'reply_to')::uuid, key)
                on conflict (sender_id, idempotency_key) do nothing
                returning * into stored;
                if stored.id is not null then
                    answers := answers || jsonb_build_object('status', 201, 'message', to_jsonb(stored));
                    continue;
                end if;
                -- A concurrent send with the same key committed first.
                select * into stored from public.messages m where m.sender_id = me and m.idempotency_key = key;
            end if;
            if stored.thread_id is distinct from thread then
                answers := answers || jsonb_build_object('status', 409, 'sqlstate', '23505',
                    'error', 'idempotency_key was used for a message in another thread');
            else
                answers := answers || jsonb_build_object('status', 200, 'message', to_jsonb(stored));
            end if;
        exception when others then
            answers := answers || jsonb_build_object('sqlstate', sqlstate, 'error', sqlerrm);
        end;
    end loop;
    return answers;
end;
$$;
