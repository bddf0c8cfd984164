-- Replies and @mentions, by the database: a message's `@handle` mentions of the thread's
-- participants are stored with it (`mentions`, kept in step with the body), and a new
-- message notifies the author of the message it replies to and everyone it mentions,
-- whoever wrote it (the edge, PostgREST, psql). Never the sender, never someone who left
-- the thread or muted it; one notification per person per message (a mention wins over
-- a reply). Security definer: the sender may not read other users' profiles' links to
-- the thread nor write their notifications.

alter table public.messages add column mentions uuid[] not null default '{}';
comment on column public.messages.mentions is
    'Participants the body mentions as @username (set by the database from the body).';

create function private.set_message_mentions() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    new.mentions := coalesce((
        select array_agg(distinct p.id order by p.id)
          from regexp_matches(lower(new.body), '(?:^|[^a-z0-9_])@([a-z0-9_]{3,32})', 'g') as m(handle)
          join public.profiles p on p.username = m.handle[1]
          join public.conversation_participants cp on cp.thread_id = new.thread_id and cp.user_id = p.id
         where p.id <> new.sender_id), '{}');
    return new;
end;
$$;
revoke execute on function private.set_message_mentions() from public, anon, authenticated;

create trigger messages_set_mentions
    before insert or update of body on public.messages
    for each row execute function private.set_message_mentions();

create function private.notify_reply_and_mentions() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    actor text;
begin
    select coalesce(p.display_name, p.username, 'Someone') into actor
      from (select 1) as one left join public.profiles p on p.id = new.sender_id;
    insert into public.live_notifications (recipient_id, actor_id, kind, title, body, data)
    select distinct on (who.id) who.id, new.sender_id, who.kind,
           actor || case who.kind when 'mention' then ' mentioned you' else ' replied to you' end,
           left(new.body, 200),
           jsonb_build_object('thread_id', new.thread_id, 'message_id', new.id, 'seq', new.seq)
      from (select unnest(new.mentions) as id, 'mention'::public.notification_kind as kind, 0 as rank
            union all
            select r.sender_id, 'message'::public.notification_kind, 1
              from public.messages r where r.id = new.reply_to) as who
      join public.conversation_participants cp
        on cp.thread_id = new.thread_id and cp.user_id = who.id and not cp.muted
     where who.id <> new.sender_id
     order by who.id, who.rank;
    return null;
end;
$$;
revoke execute on function private.notify_reply_and_mentions() from public, anon, authenticated;

create trigger messages_notify_reply_and_mentions
    after insert on public.messages
    for each row execute function private.notify_reply_and_mentions();
