-- feed.primary_key_of() served only feed.capture(), which looks the key up itself since
-- 20261128100000 (a SQL function is planned anew on every call). Nothing calls it now.

drop function feed.primary_key_of(oid, jsonb);
