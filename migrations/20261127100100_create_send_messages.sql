-- Sending messages in one round trip, as the caller (security invoker: the caller's
-- policies decide each insert). The edge's `POST /functions/v1/messages[/batch]` calls
-- it, and PostgREST exposes it as `rpc/send_messages`, so an app that writes through
-- supabase-js gets the same idempotency and per-message answers.
--
-- `batch` is an array of {body, attachments, reply_to, idempotency_key}. Each message is
-- stored on its own (a subtransaction), so one refusal does not undo the others; the
-- answer has one entry per message, in order:
--   {"status": 201, "message": {...}}  stored now
--   {"status": 200, "message": {...}}  a retry: the caller's earlier message with that key
--   {"status": 409, "sqlstate": "23505", "error": "..."}  the key names a message of another thread
--   {"sqlstate": "<code>", "error": "<why>"}  refused by a policy or a check
-- A retry looks the key up before inserting, so it takes no sequence number.

create function public.send_messages(thread uuid, batch jsonb) returns jsonb
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
revoke execute on function public.send_messages(uuid, jsonb) from public, anon;
grant execute on function public.send_messages(uuid, jsonb) to authenticated;
