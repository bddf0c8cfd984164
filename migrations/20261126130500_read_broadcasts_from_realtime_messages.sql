-- Broadcasts from the database reach the feed by reading realtime.messages, the same way
-- on both shapes of that table: the one Supabase owns (partitioned by day, where this
-- project cannot add a trigger) and the one 20261126110000 creates on plain PostgreSQL.
-- This replaces the capture trigger of 20261126130300, which only the table's owner can
-- create, so on Supabase broadcasts from the database reached nobody.
--
-- How: each feed.read() first imports the broadcasts stored in the last two minutes that
-- it has not imported yet (their ids are remembered, for twice that long, in
-- feed.imported_broadcasts) into feed.changes. An imported broadcast belongs to the
-- reader's transaction, so the next read numbers it in commit order with everything else:
-- a database broadcast waits one poll longer than a row change. A broadcast whose
-- transaction stays open longer than the window is not delivered; so is one whose
-- writer's session clock is more than the window behind the reader's (inserted_at is a
-- timestamp without time zone, filled in the writer's time zone: keep sessions in UTC, as
-- Supabase does).

create table feed.imported_broadcasts (
    id text primary key,
    inserted_at timestamp not null
);
comment on table feed.imported_broadcasts is
    'Ids of realtime.messages rows already put on the feed, kept while they can still be seen.';
revoke all on feed.imported_broadcasts from public;

-- Puts the broadcasts stored within `lookback` and not yet imported on the feed; returns
-- how many.
create function feed.import_broadcasts(lookback interval default interval '2 minutes') returns bigint
language plpgsql security definer
set search_path = ''
as $$
declare
    imported bigint;
begin
    delete from feed.imported_broadcasts b where b.inserted_at < localtimestamp - 2 * lookback;
    with fresh as (
        insert into feed.imported_broadcasts (id, inserted_at)
        select m.id::text, m.inserted_at
          from realtime.messages m
         where m.inserted_at > localtimestamp - lookback
           and m.extension = 'broadcast'
           and m.event is distinct from 'access_probe'
        on conflict (id) do nothing
        returning id
    )
    insert into feed.changes (schema_name, table_name, op, pk, record)
    select 'realtime', 'messages', 'INSERT', jsonb_build_object('id', m.id), to_jsonb(m)
      from realtime.messages m
      join fresh f on f.id = m.id::text
     where m.inserted_at > localtimestamp - lookback
     order by m.inserted_at, m.id::text;
    get diagnostics imported = row_count;
    return imported;
end
$$;
revoke all on function feed.import_broadcasts(interval) from public;

-- feed.read() as in 20261126130000, importing broadcasts first.
create or replace function feed.read(max_rows integer default 1000)
returns table (feed_position bigint, committed_at timestamptz, schema_name text, table_name text,
               op text, pk jsonb, record jsonb, old_record jsonb)
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
    horizon xid8 := pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot());
    base bigint;
    taken bigint;
begin
    perform pg_catalog.pg_advisory_xact_lock(hashtext('feed.read'));
    perform feed.import_broadcasts();
    select c.last_position into base from feed.cursor c for update;
    with batch as (
        select c.id, t.commit_order
          from feed.changes c
          join feed.transactions t on t.xid = c.xid
         where c.feed_position is null and c.xid < horizon
         order by t.commit_order, c.id
         limit max_rows
    ), numbered as (
        select b.id, base + row_number() over (order by b.commit_order, b.id) as position
          from batch b
    )
    update feed.changes c set feed_position = n.position from numbered n where c.id = n.id;
    get diagnostics taken = row_count;
    update feed.cursor set last_position = base + taken;
    return query
        select c.feed_position, t.committed_at, c.schema_name, c.table_name, c.op, c.pk, c.record, c.old_record
          from feed.changes c join feed.transactions t on t.xid = c.xid
         where c.feed_position > base and c.feed_position <= base + taken
         order by c.feed_position;
end
$$;

-- Where this project owns realtime.messages: no capture trigger any more (it would put
-- each broadcast on the feed twice), and an index for the import's window.
do $$
begin
    if exists (select 1 from pg_catalog.pg_trigger t
                where t.tgrelid = 'realtime.messages'::regclass and t.tgname = 'capture_broadcasts') then
        drop trigger capture_broadcasts on realtime.messages;
    end if;
    if (select pg_catalog.pg_get_userbyid(c.relowner) = current_user
          from pg_catalog.pg_class c where c.oid = 'realtime.messages'::regclass) then
        create index if not exists messages_inserted_at_idx on realtime.messages (inserted_at);
    end if;
end
$$;
