-- A DELETE was delivered, key only, to every subscriber whose binding matched: the row is
-- gone, so it cannot be looked up under the subscriber's role. Where the key is a
-- relationship that told strangers more than nothing: a DELETE on group_members
-- ({group_id, user_id}) said who left which private group, one on
-- conversation_participants who was removed from which conversation. feed.visible() now
-- also takes deleted rows (`deleted`: the old row, whole where the table has REPLICA
-- IDENTITY FULL, else its key) and decides them with the table's own SELECT policies for
-- the subscriber's role, evaluated on that old row as the subscriber, as row security
-- would: the permissive policies with a USING clause OR-ed, the restrictive ones AND-ed,
-- the policies of the roles whose rights the subscriber's role uses; nothing without a
-- policy or the SELECT privilege, everything where row security is off or the role
-- bypasses it. The rules stay in the policies. The room sends only relationship keys
-- here (a key of several columns); a DELETE known by one opaque id goes, key only, to
-- every matching binding, as on Supabase (`room::changes::Change::needs_row_check`):
-- the policies of a deleted group, event, poll or thread look the row itself up, so they
-- would show its deletion to nobody.
--
-- Same signature and privileges as 20261126130400; rows to look up are unchanged, and a
-- failure on the deleted rows of a claim set does not hide its rows looked up.

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
    gone integer[];
    predicate text;
    policy_test text;
    relation regclass;
begin
    for rel in
        select x ->> 'schema' as schema_name, x ->> 'table' as table_name,
               jsonb_agg(jsonb_build_object('i', i - 1, 'pk', x -> 'pk')) filter (where not x ? 'deleted') as items,
               jsonb_agg(jsonb_build_object('i', i - 1, 'row', x -> 'deleted')) filter (where x ? 'deleted') as deleted
          from jsonb_array_elements(changes) with ordinality as e(x, i)
         group by 1, 2
    loop
        relation := pg_catalog.to_regclass(format('%I.%I', rel.schema_name, rel.table_name));
        if relation is null then
            continue;
        end if;
        -- t.<pk column> = (item.pk ->> '<pk column>')::<type>, for each primary key column.
        select string_agg(format('t.%I = (item.value -> %L ->> %L)::%s', a.attname, 'pk', a.attname,
                                 pg_catalog.format_type(a.atttypid, a.atttypmod)), ' and ')
          into predicate
          from pg_catalog.pg_index i
          join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
         where i.indrelid = relation and i.indisprimary;
        if predicate is null and rel.items is not null then
            continue;
        end if;
        for cs in select (c ->> 'role') as role_name, (c -> 'claims') as claims, (n - 1)::integer as idx
                    from jsonb_array_elements(claim_sets) with ordinality as s(c, n)
        loop
            if cs.role_name not in ('anon', 'authenticated', 'service_role') then
                continue;
            end if;
            -- What this role may see of a deleted row: the SELECT policies that apply to it.
            policy_test := null;
            if rel.deleted is not null and pg_catalog.has_table_privilege(cs.role_name, relation, 'SELECT') then
                select case
                         when not c.relrowsecurity or r.rolbypassrls then 'true'
                         else coalesce(p.permissive, 'false') || coalesce(' and ' || p.restrictive, '')
                       end
                  into policy_test
                  from pg_catalog.pg_class c
                  join pg_catalog.pg_roles r on r.rolname = cs.role_name
                  cross join lateral (
                      -- A permissive policy without USING grants no reading.
                      select string_agg('(' || pp.qual || ')', ' or ')
                               filter (where pp.permissive = 'PERMISSIVE' and pp.qual is not null) as permissive,
                             string_agg('(' || coalesce(pp.qual, 'true') || ')', ' and ')
                               filter (where pp.permissive = 'RESTRICTIVE') as restrictive
                        from pg_catalog.pg_policies pp
                       where pp.schemaname = rel.schema_name and pp.tablename = rel.table_name
                         and pp.cmd in ('SELECT', 'ALL')
                         and exists (select 1 from unnest(pp.roles) pr
                                      where pr = 'public' or pg_catalog.pg_has_role(cs.role_name, pr, 'USAGE'))
                  ) p
                 where c.oid = relation;
            end if;
            -- A claim set the policies cannot evaluate (a `sub` that is not a UUID, say) sees
            -- nothing, and the others are still answered: the block's subtransaction undoes
            -- its role and claims.
            matched := null;
            gone := null;
            if rel.items is not null then
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
            end if;
            if policy_test is not null then
                begin
                    perform pg_catalog.set_config('request.jwt.claims', cs.claims::text, true);
                    execute format('set local role %I', cs.role_name);
                    -- The old row stands in for the table under its own name, so the
                    -- policies' column references (bare or table-qualified) read it.
                    execute format(
                        'select array_agg((feed_deleted_item.feed_deleted_value ->> %L)::integer)
                           from jsonb_array_elements($1) as feed_deleted_item(feed_deleted_value)
                          cross join lateral pg_catalog.jsonb_populate_record(
                                null::%I.%I, feed_deleted_item.feed_deleted_value -> %L) as %I
                          where %s',
                        'i', rel.schema_name, rel.table_name, 'row', rel.table_name, policy_test)
                      into gone using rel.deleted;
                    reset role;
                exception when others then
                    gone := null;
                end;
            end if;
            return query select cs.idx, m from unnest(coalesce(matched, '{}') || coalesce(gone, '{}')) m;
        end loop;
    end loop;
    perform pg_catalog.set_config('request.jwt.claims', '', true);
end
$$;

revoke all on function feed.visible(jsonb, jsonb) from public;
