-- feed.visible() looked each change up with `where exists (select 1 from <table> t where
-- <primary key matches>)`. Under a subscriber's role the planner may turn that semi-join
-- into a hash join over a sequential scan of the whole table, evaluating the select
-- policy on every row: measured at 118 ms per call (max 323 ms) against 20,000 messages,
-- growing with the table, and the cause of seconds of delivery latency at 100 changes per
-- second (docs/architecture.md, "Change feed"). A lateral subquery with `limit 1` cannot be
-- flattened into a join, so each change is one primary-key index lookup whose policy is
-- evaluated on that row only (0.8 ms for the same call).
--
-- Same signature, contract and privileges as 20261126130200.

create or replace function feed.visible(claim_sets jsonb, changes jsonb)
returns table (claim_set integer, change integer)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
    rel record;
    cs record;
    matched integer[];
    predicate text;
begin
    for rel in
        select x ->> 'schema' as schema_name, x ->> 'table' as table_name,
               jsonb_agg(jsonb_build_object('i', i - 1, 'pk', x -> 'pk')) as items
          from jsonb_array_elements(changes) with ordinality as e(x, i)
         group by 1, 2
    loop
        -- t.<pk column> = (item.pk ->> '<pk column>')::<type>, for each primary key column.
        select string_agg(format('t.%I = (item.value -> %L ->> %L)::%s', a.attname, 'pk', a.attname,
                                 pg_catalog.format_type(a.atttypid, a.atttypmod)), ' and ')
          into predicate
          from pg_catalog.pg_index i
          join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
         where i.indrelid = format('%I.%I', rel.schema_name, rel.table_name)::regclass and i.indisprimary;
        if predicate is null then
            continue;
        end if;
        for cs in select (c ->> 'role') as role_name, (c -> 'claims') as claims, (n - 1)::integer as idx
                    from jsonb_array_elements(claim_sets) with ordinality as s(c, n)
        loop
            if cs.role_name not in ('anon', 'authenticated', 'service_role') then
                continue;
            end if;
            -- A claim set the policies cannot evaluate (a `sub` that is not a UUID, say) sees
            -- nothing, and the others are still answered: the block's subtransaction undoes
            -- its role and claims.
            begin
                perform pg_catalog.set_config('request.jwt.claims', cs.claims::text, true);
                execute format('set local role %I', cs.role_name);
                execute format(
                    'select array_agg((item.value ->> %L)::integer)
                       from jsonb_array_elements($1) item
                      cross join lateral (select 1 from %I.%I t where %s limit 1) found',
                    'i', rel.schema_name, rel.table_name, predicate)
                  into matched using rel.items;
                reset role;
            exception when others then
                matched := null;
            end;
            return query select cs.idx, m from unnest(coalesce(matched, '{}')) m;
        end loop;
    end loop;
    perform pg_catalog.set_config('request.jwt.claims', '', true);
end
$$;

revoke all on function feed.visible(jsonb, jsonb) from public;
