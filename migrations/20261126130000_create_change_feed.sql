-- The change feed: every committed change to a published table, in commit order, with a
-- durable position, whoever wrote it (the edge, PostgREST, psql, cron). Triggers capture
-- rows into feed.changes; one reader (the edge's feed object) calls feed.read(), which
-- numbers the changes of finished transactions and returns them. Plain SQL functions, one
-- statement each, so it works through Hyperdrive's transaction pooling (no LISTEN/NOTIFY,
-- no replication protocol) and on plain PostgreSQL 15. Why this design and not a logical
-- slot: docs/architecture.md, "Change feed".
--
-- Ordering. An id handed out at insert time is not commit order: a transaction that
-- inserted first may commit last, and a reader taking `id > last` would skip it. So:
-- * a change becomes readable only when every transaction that could still write an
--   earlier one has finished: its xid is below the snapshot's xmin (the horizon);
-- * each transaction is stamped just before it commits (a deferred constraint trigger
--   draws feed.commit_order), and readable changes are numbered in stamp order. A
--   transaction that waited for another's row lock is stamped after that one commits,
--   so changes to the same row are numbered in the order they were made;
-- * positions are assigned by the reader, under a lock, in one transaction with the
--   cursor: strictly increasing, durable, never reused.
-- A long transaction delays the feed (nothing behind its xid is readable); it never
-- loses anything.

create schema if not exists feed;
comment on schema feed is 'The change feed read by the edge; not exposed to API roles.';
revoke all on schema feed from public;

create sequence feed.commit_order;

create table feed.changes (
    id bigint generated always as identity primary key,
    -- Assigned by feed.read(): the delivery order, strictly increasing.
    feed_position bigint unique,
    xid xid8 not null default pg_current_xact_id(),
    captured_at timestamptz not null default clock_timestamp(),
    schema_name text not null,
    table_name text not null,
    op text not null check (op in ('INSERT', 'UPDATE', 'DELETE')),
    -- The primary key columns of the row (new row, or old row for a DELETE).
    pk jsonb not null,
    record jsonb,
    -- The whole old row where the table has REPLICA IDENTITY FULL, else its primary key.
    old_record jsonb
);
comment on table feed.changes is 'Captured row changes, numbered by feed.read() in commit order.';
create index changes_unread_idx on feed.changes (xid) where feed_position is null;
create index changes_captured_at_idx on feed.changes (captured_at);

create table feed.transactions (
    xid xid8 primary key,
    commit_order bigint not null default nextval('feed.commit_order'),
    -- Taken just before the commit: what deliveries report as commit_timestamp.
    committed_at timestamptz not null default clock_timestamp()
);
comment on table feed.transactions is 'When each capturing transaction committed, in order.';

create table feed.cursor (
    only_row boolean primary key default true check (only_row),
    last_position bigint not null default 0
);
comment on table feed.cursor is 'The last position feed.read() handed out.';
insert into feed.cursor default values;

-- The primary key of `row_data` in `rel`, as a JSON object.
create function feed.primary_key_of(rel oid, row_data jsonb) returns jsonb
language sql stable
set search_path = ''
as $$
    select coalesce(jsonb_object_agg(a.attname, row_data -> a.attname::text), '{}'::jsonb)
      from pg_catalog.pg_index i
      join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
     where i.indrelid = rel and i.indisprimary
$$;

-- Row trigger of every published table: one row per change. Security definer, because
-- the writer (anon, authenticated) has no rights on the feed schema.
create function feed.capture() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    new_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
    old_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
    full_old boolean;
    key jsonb;
begin
    select c.relreplident = 'f' into full_old from pg_catalog.pg_class c where c.oid = tg_relid;
    key := feed.primary_key_of(tg_relid, coalesce(new_row, old_row));
    insert into feed.changes (schema_name, table_name, op, pk, record, old_record)
    values (tg_table_schema, tg_table_name, tg_op, key, new_row,
            case when old_row is null then null
                 when full_old then old_row
                 else feed.primary_key_of(tg_relid, old_row) end);
    return null;
end
$$;

-- Deferred to commit time: stamps the transaction once (later rows find it stamped).
create function feed.stamp_commit() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    insert into feed.transactions (xid) values (new.xid) on conflict (xid) do nothing;
    return null;
end
$$;

create constraint trigger stamp_commit
    after insert on feed.changes
    deferrable initially deferred
    for each row execute function feed.stamp_commit();

-- Numbers and returns up to `max_rows` changes of finished transactions, in commit order.
-- One reader at a time (an advisory lock); the numbering and the cursor commit together.
create function feed.read(max_rows integer default 1000)
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

-- Already numbered changes after `after_position`, for a client catching up.
create function feed.since(after_position bigint, max_rows integer default 1000)
returns table (feed_position bigint, committed_at timestamptz, schema_name text, table_name text,
               op text, pk jsonb, record jsonb, old_record jsonb)
language sql stable security definer
set search_path = ''
as $$
    select c.feed_position, t.committed_at, c.schema_name, c.table_name, c.op, c.pk, c.record, c.old_record
      from feed.changes c join feed.transactions t on t.xid = c.xid
     where c.feed_position > after_position
     order by c.feed_position
     limit max_rows
$$;

-- Forgets numbered changes captured before `keep` ago; returns how many.
create function feed.trim(keep interval default interval '24 hours') returns bigint
language plpgsql security definer
set search_path = ''
as $$
declare
    removed bigint;
begin
    delete from feed.changes c where c.feed_position is not null and c.captured_at < clock_timestamp() - keep;
    get diagnostics removed = row_count;
    delete from feed.transactions t
     where not exists (select 1 from feed.changes c where c.xid = t.xid)
       and t.committed_at < clock_timestamp() - keep;
    return removed;
end
$$;

revoke all on all tables in schema feed from public;
revoke all on all functions in schema feed from public;
revoke all on sequence feed.commit_order from public;
grant usage on schema feed to service_role;
grant execute on function feed.read(integer), feed.since(bigint, integer), feed.trim(interval) to service_role;
