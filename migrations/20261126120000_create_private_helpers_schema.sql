-- The schema for membership helpers: security definer functions that policies call.
-- It is not exposed through the Data API (only `public` is), and the helpers avoid
-- policies that query their own table (infinite recursion on membership tables).

create schema if not exists private;
grant usage on schema private to anon, authenticated, service_role;

-- Text to uuid, or null: topic names and other user input must never make a policy fail.
create or replace function private.try_uuid(value text) returns uuid
language plpgsql immutable
set search_path = ''
as $$
begin
    return value::uuid;
exception when others then
    return null;
end;
$$;
