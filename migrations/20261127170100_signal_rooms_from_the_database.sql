-- Signals from the database to the room of a topic, through the change feed: committed
-- with the transaction that raised them, in commit order, whoever wrote it. They are
-- not row changes (never delivered as postgres_changes) and not broadcasts (never sent
-- to clients as they are); the room acts on them:
--
-- | kind | the room |
-- |---|---|
-- | `recheck` | asks the policies again whether `user_id` may read the topic, and closes their channels there if not (a member banned, removed, or gone) |
-- | `tally` | recomputes the topic's live state (a poll's results, an event's counts) and sends it, coalesced to a few frames per second |
--
-- Written straight into the feed's log (schema `feed`, table `signals`): there is no
-- table to clean up, and the log's retention trims them with everything else.

create function feed.signal(topic text, kind text, user_id uuid default null) returns void
language plpgsql security definer
set search_path = ''
as $$
begin
    if kind not in ('recheck', 'tally') then
        raise exception 'unknown signal kind %', kind using errcode = '22023';
    end if;
    insert into feed.changes (schema_name, table_name, op, pk, record)
    values ('feed', 'signals', 'INSERT', '{}'::jsonb,
            jsonb_build_object('topic', topic, 'kind', kind, 'user_id', user_id, 'private', true));
end
$$;
revoke all on function feed.signal(text, text, uuid) from public;
