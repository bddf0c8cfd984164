-- A plain message (no reply, no `@`) ran three triggers that had nothing to do: the reply
-- check, the mention parser and the notification insert, 2 of the 7.5 ms a batch of ten
-- messages cost (docs/architecture.md, "Change feed"). The two row triggers now say when
-- they apply, and the parser stops at once on a body without `@`. Same results: the
-- check raises only for a reply_to, the notification trigger inserts only for a reply or a
-- mention, and a body without `@` has no mention.

drop trigger messages_reply_in_same_thread on public.messages;
create trigger messages_reply_in_same_thread
    before insert or update of reply_to on public.messages
    for each row when (new.reply_to is not null)
    execute function private.check_reply_in_same_thread();

drop trigger messages_notify_reply_and_mentions on public.messages;
create trigger messages_notify_reply_and_mentions
    after insert on public.messages
    for each row when (new.reply_to is not null or cardinality(new.mentions) > 0)
    execute function private.notify_reply_and_mentions();

create or replace function private.set_message_mentions() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if strpos(new.body, '@') = 0 then
        new.mentions := '{}';
        return new;
    end if;
    new.mentions := coalesce((
        select array_agg(distinct p.id order by p.id)
          from regexp_matches(lower(new.body), '(?:^|[^a-z0-9_])@([a-z0-9_]{3,32})', 'g') as m(handle)
          join public.profiles p on p.username = m.handle[1]
          join public.conversation_participants cp on cp.thread_id = new.thread_id and cp.user_id = p.id
         where p.id <> new.sender_id), '{}');
    return new;
end;
$$;
