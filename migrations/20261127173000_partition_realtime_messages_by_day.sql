-- Where this project owns realtime.messages (plain PostgreSQL), it takes upstream's
-- shape: partitioned by day on inserted_at, keyed by (id uuid, inserted_at), so the
-- same queries meet the same table on both. (One difference: inserted_at defaults to
-- the clock, so broadcasts of one transaction keep their order; on Supabase's table
-- they share the transaction's start and their order among themselves is the ids'.) On Supabase, Realtime owns the table,
-- already partitioned, and keeps its partitions itself: nothing here touches it.
--
-- Partitions: `private.keep_message_partitions` makes today's and the next three days',
-- and drops days older than three (upstream keeps three days); the scheduler runs it
-- on every run and at least once a day. A default partition catches a day nobody made
-- (if the scheduler has not run), so a message is never refused for want of one; it is
-- trimmed by the same function.

create function private.keep_message_partitions(days_ahead integer default 3, keep_days integer default 3)
returns void
language plpgsql security definer
set search_path = ''
as $$
declare
    day date;
    part record;
begin
    if (select c.relkind <> 'p' or pg_catalog.pg_get_userbyid(c.relowner) <> current_user
          from pg_catalog.pg_class c where c.oid = 'realtime.messages'::regclass) then
        return;  -- Supabase's own table: Realtime keeps it
    end if;
    for day in select generate_series(current_date - keep_days, current_date + days_ahead, interval '1 day')::date loop
        -- A day the default partition already holds rows of cannot be split off; its
        -- rows stay there until trimmed.
        if to_regclass(format('realtime.messages_%s', to_char(day, 'YYYY_MM_DD'))) is null
           and day >= current_date
           and not exists (select 1 from realtime.messages_default m
                            where m.inserted_at >= day and m.inserted_at < day + 1) then
            execute format('create table realtime.messages_%s partition of realtime.messages for values from (%L) to (%L)',
                           to_char(day, 'YYYY_MM_DD'), day, day + 1);
        end if;
    end loop;
    for part in
        select c.relname from pg_catalog.pg_inherits i
          join pg_catalog.pg_class c on c.oid = i.inhrelid
         where i.inhparent = 'realtime.messages'::regclass and c.relname ~ '^messages_\d{4}_\d{2}_\d{2}$'
           and to_date(substr(c.relname, 10), 'YYYY_MM_DD') < current_date - keep_days
    loop
        execute format('drop table realtime.%I', part.relname);
    end loop;
    delete from realtime.messages_default m where m.inserted_at < current_date - keep_days;
end;
$$;
revoke execute on function private.keep_message_partitions(integer, integer) from public, anon, authenticated;

do $$
declare
    day date;
begin
    if not (select c.relkind = 'r' and pg_catalog.pg_get_userbyid(c.relowner) = current_user
              from pg_catalog.pg_class c where c.oid = 'realtime.messages'::regclass) then
        return;
    end if;
    alter table realtime.messages rename to messages_before_partitioning;
    create table realtime.messages (
        topic text not null,
        extension text not null check (extension in ('broadcast', 'presence')),
        payload jsonb,
        event text,
        private boolean default false,
        updated_at timestamp not null default now(),
        -- The clock, not the transaction's start (upstream's now()): the feed imports
        -- broadcasts in inserted_at order, and ids are random, so several sent in one
        -- transaction keep their order only this way.
        inserted_at timestamp not null default clock_timestamp()::timestamp,
        id uuid not null default gen_random_uuid(),
        primary key (id, inserted_at)
    ) partition by range (inserted_at);
    comment on table realtime.messages is
        'Realtime messages, partitioned by day as upstream; its RLS policies decide who may read and write private channels.';
    create table realtime.messages_default partition of realtime.messages default;
    for day in select generate_series(current_date - 3, current_date, interval '1 day')::date loop
        execute format('create table realtime.messages_%s partition of realtime.messages for values from (%L) to (%L)',
                       to_char(day, 'YYYY_MM_DD'), day, day + 1);
    end loop;
    perform private.keep_message_partitions();
    -- The kept days move over with new ids; those the feed already imported stay known
    -- as imported under their new ids, so no broadcast is delivered twice.
    with moved as (
        select gen_random_uuid() as new_id, m.*
          from realtime.messages_before_partitioning m
         where m.inserted_at >= current_date - 3
    ), copied as (
        insert into realtime.messages (id, topic, extension, payload, event, private, updated_at, inserted_at)
        select new_id, topic, extension, payload, event, private, updated_at, inserted_at from moved
    )
    insert into feed.imported_broadcasts (id, inserted_at)
    select m.new_id::text, m.inserted_at
      from moved m join feed.imported_broadcasts b on b.id = m.id::text
    on conflict do nothing;
    drop table realtime.messages_before_partitioning;
    -- Named as before the swap (the new key was made while the old one held the name).
    alter index realtime.messages_pkey1 rename to messages_pkey;
    create index messages_inserted_at_idx on realtime.messages (inserted_at);
    alter table realtime.messages enable row level security;
    grant select, insert on realtime.messages to anon, authenticated, service_role;
    -- The names they have on Supabase's table too (where 20261126120700 made them), so a
    -- later migration can drop them by name on both shapes.
    create policy "Members can read their conversation, group and inbox channels, and open ones"
        on realtime.messages for select to authenticated
        using (private.may_use_channel(realtime.topic()));
    create policy "Members send to their channels, nobody to presence or poll ones"
        on realtime.messages for insert to authenticated
        with check (realtime.topic() not like 'presence:%'
                    and realtime.topic() not like 'poll:%'
                    and private.may_use_channel(realtime.topic()));
end
$$;

-- The scheduler keeps the partitions on each run, and runs at least once a day.
create or replace function private.run_due_jobs(reminder_lead interval default interval '15 minutes') returns timestamptz
language plpgsql security definer
set search_path = ''
as $$
declare
    next_due timestamptz;
begin
    update public.community_polls p set status = 'closed'
     where p.status = 'open' and p.closes_at <= now();

    with due as (
        update public.live_events e set reminded_at = now()
         where e.status = 'scheduled' and e.reminded_at is null
           and e.starts_at - reminder_lead <= now() and e.starts_at > now()
        returning e.id, e.title, e.starts_at
    )
    insert into public.live_notifications (recipient_id, kind, title, data)
    select p.user_id, 'event_reminder', left(d.title || ' starts soon', 200),
           jsonb_build_object('event_id', d.id, 'starts_at', d.starts_at)
      from due d join public.event_participants p on p.event_id = d.id
     where p.status in ('going', 'interested', 'checked_in');

    update public.live_events e set status = 'ended'
     where e.status = 'scheduled' and e.ends_at <= now();

    -- Last, and never at the cost of the jobs above: making or dropping a partition
    -- locks realtime.messages (rarely: once a day), so it waits at most 2 s and a
    -- failure only postpones it to the next run.
    begin
        perform pg_catalog.set_config('lock_timeout', '2s', true);
        perform private.keep_message_partitions();
    exception when others then
        raise warning 'partition upkeep postponed: %', sqlerrm;
    end;
    perform pg_catalog.set_config('lock_timeout', '0', true);

    select min(t) into next_due from (
        select min(p.closes_at) as t from public.community_polls p where p.status = 'open' and p.closes_at > now()
        union all
        select min(e.starts_at - reminder_lead) from public.live_events e
         where e.status = 'scheduled' and e.reminded_at is null and e.starts_at > now()
        union all
        select min(e.ends_at) from public.live_events e where e.status = 'scheduled' and e.ends_at > now()
        union all
        select (current_date + 1)::timestamptz  -- tomorrow's partition upkeep
    ) due;
    return next_due;
end;
$$;
