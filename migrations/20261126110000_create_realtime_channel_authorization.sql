-- Private-channel authorization, the way Supabase Realtime asks for it: a channel joined
-- with `private: true` may be read (joined) when a probe row of its topic is visible on
-- realtime.messages, and written (broadcast, presence) when such a row may be inserted,
-- with realtime.topic() returning the channel being checked.
--
-- On Supabase the realtime schema, realtime.messages and realtime.topic() already exist
-- (owned by Realtime); they are created here only where missing, so this file runs
-- unchanged there and on plain PostgreSQL.

create schema if not exists realtime;

do $$
begin
    if to_regclass('realtime.messages') is null then
        create table realtime.messages (
            id bigint generated always as identity primary key,
            topic text not null,
            extension text not null check (extension in ('broadcast', 'presence')),
            payload jsonb,
            event text,
            private boolean default false,
            updated_at timestamp not null default now(),
            inserted_at timestamp not null default now()
        );
        comment on table realtime.messages is
            'Realtime messages; its RLS policies decide who may read and write private channels.';
        alter table realtime.messages enable row level security;
    end if;
    if to_regprocedure('realtime.topic()') is null then
        create function realtime.topic() returns text
        language sql stable
        as $fn$ select nullif(current_setting('realtime.topic', true), '')::text $fn$;
    end if;
end
$$;

grant usage on schema realtime to anon, authenticated, service_role;
grant select, insert on realtime.messages to anon, authenticated, service_role;
grant execute on function realtime.topic() to anon, authenticated, service_role;

-- Topic shapes: conversation:<id> and group:<id> are decided by membership (their
-- policies arrive with the community schema), user:<id> belongs to that user alone, and
-- every other name is an open channel for any signed-in user. The policies filter on
-- realtime.topic(), a setting, not on a column, so they need no index.

create policy "Signed-in users can read open channels and their own inbox"
    on realtime.messages for select to authenticated
    using (
        realtime.topic() !~ '^(conversation|group|user):'
        or realtime.topic() = 'user:' || (select auth.uid())::text
    );

create policy "Signed-in users can send to open channels and their own inbox"
    on realtime.messages for insert to authenticated
    with check (
        realtime.topic() !~ '^(conversation|group|user):'
        or realtime.topic() = 'user:' || (select auth.uid())::text
    );
