-- Broadcast from the database, as Supabase defines it: realtime.send() stores a message in
-- realtime.messages, and the change feed hands it to the room of its topic (private or
-- public), whose subscribers receive it as a normal broadcast. realtime.broadcast_changes()
-- is the trigger helper built on it. Both are created only where missing: on Supabase they
-- exist and belong to Supabase.
--
-- Unlike upstream, a message that cannot be stored is an error the caller sees (upstream
-- turns every error into a WARNING and drops the message). send() runs as the caller, so
-- the write policies of realtime.messages decide, with realtime.topic() set to the topic.

do $$
begin
    if to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null then
        create function realtime.send(payload jsonb, event text, topic text, private boolean default true)
        returns void
        language plpgsql
        set search_path = ''
        as $fn$
        begin
            perform pg_catalog.set_config('realtime.topic', topic, true);
            insert into realtime.messages (payload, event, topic, private, extension)
            values (payload, event, topic, private, 'broadcast');
        end
        $fn$;
        grant execute on function realtime.send(jsonb, text, text, boolean) to anon, authenticated, service_role;
    end if;
    if to_regprocedure('realtime.broadcast_changes(text, text, text, text, text, record, record, text)') is null then
        create function realtime.broadcast_changes(
            topic_name text, event_name text, operation text, table_name text, table_schema text,
            new record, old record, level text default 'ROW')
        returns void
        language plpgsql
        set search_path = ''
        as $fn$
        begin
            perform realtime.send(
                jsonb_build_object(
                    'old_record', case when old is null then null else to_jsonb(old) end,
                    'record', case when new is null then null else to_jsonb(new) end,
                    'operation', operation, 'table', table_name, 'schema', table_schema),
                event_name, topic_name, true);
        end
        $fn$;
        grant execute on function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
            to anon, authenticated, service_role;
    end if;
    -- The feed captures broadcasts where this project owns realtime.messages (plain
    -- PostgreSQL). The access probes of private joins are inserted and rolled back, and
    -- are not broadcasts anyone should hear.
    if (select pg_catalog.pg_get_userbyid(c.relowner) = current_user
          from pg_catalog.pg_class c where c.oid = 'realtime.messages'::regclass) then
        create trigger capture_broadcasts after insert on realtime.messages
            for each row when (new.extension = 'broadcast' and new.event is distinct from 'access_probe')
            execute function feed.capture();
    else
        raise notice 'realtime.messages belongs to another role: broadcasts from the database are not captured';
    end if;
end
$$;
