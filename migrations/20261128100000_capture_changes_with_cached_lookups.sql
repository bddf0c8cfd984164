-- feed.capture() looked up each row's primary key through feed.primary_key_of(), a SQL
-- function: PostgreSQL plans a SQL function's query anew on every call, so each captured
-- row paid for planning a catalog join (about 120 µs; 2.5 of the 5.6 ms a batch of ten
-- messages cost, with twenty rows captured: the messages and their thread's numbering).
-- The same lookups written in the trigger itself are planned once per session and reuse
-- the plan (docs/architecture.md, "Change feed"). Same rows captured, read from the
-- catalogs on every call as before, so a later change of primary key or replica identity
-- is seen at once.

create or replace function feed.capture() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    new_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
    old_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
    full_old boolean;
    key_columns text[];
begin
    select c.relreplident = 'f', array_agg(a.attname::text) filter (where a.attname is not null)
      into full_old, key_columns
      from pg_catalog.pg_class c
      left join pg_catalog.pg_index i on i.indrelid = c.oid and i.indisprimary
      left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum = any (i.indkey)
     where c.oid = tg_relid
     group by c.relreplident;
    insert into feed.changes (schema_name, table_name, op, pk, record, old_record)
    values (tg_table_schema, tg_table_name, tg_op,
            (select coalesce(jsonb_object_agg(k, coalesce(new_row, old_row) -> k), '{}')
               from unnest(key_columns) k),
            new_row,
            case when old_row is null then null
                 when full_old then old_row
                 else (select coalesce(jsonb_object_agg(k, old_row -> k), '{}') from unnest(key_columns) k)
            end);
    return null;
end
$$;
