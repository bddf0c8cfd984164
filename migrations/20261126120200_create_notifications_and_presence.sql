-- Live notifications (a user's inbox) and user presence (online status).

create type public.notification_kind as enum
    ('message', 'mention', 'follow', 'group_invite', 'group_join_request', 'event_reminder', 'poll_result', 'system');

create table public.live_notifications (
    id uuid primary key default gen_random_uuid(),
    recipient_id uuid not null references auth.users (id) on delete cascade,
    actor_id uuid references auth.users (id) on delete set null,
    kind public.notification_kind not null,
    title text not null check (char_length(title) between 1 and 200),
    body text check (char_length(body) <= 1000),
    data jsonb not null default '{}'::jsonb check (jsonb_typeof(data) = 'object' and octet_length(data::text) <= 8192),
    read_at timestamptz,
    created_at timestamptz not null default now()
);
comment on table public.live_notifications is
    'Notifications for one recipient; created by the service role or public.notify().';
create index live_notifications_unread_idx on public.live_notifications (recipient_id, created_at desc) where read_at is null;
create index live_notifications_recipient_idx on public.live_notifications (recipient_id, created_at desc);
create index live_notifications_actor_idx on public.live_notifications (actor_id);

alter table public.live_notifications enable row level security;
revoke insert, update, delete on public.live_notifications from anon, authenticated;
grant update (read_at) on public.live_notifications to authenticated;

create policy "Recipients can read their notifications"
    on public.live_notifications for select to authenticated
    using (recipient_id = (select auth.uid()));
create policy "Recipients can mark their notifications read"
    on public.live_notifications for update to authenticated
    using (recipient_id = (select auth.uid()))
    with check (recipient_id = (select auth.uid()));

-- What edge functions call, as the acting user: the actor is always the caller.
create function public.notify(recipient uuid, kind public.notification_kind, title text, body text default null,
                              data jsonb default '{}'::jsonb) returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
    me uuid := (select auth.uid());
    id uuid;
begin
    if me is null then
        raise exception 'only signed-in users notify' using errcode = '42501';
    end if;
    if recipient = me then
        raise exception 'no notifications to oneself' using errcode = '22023';
    end if;
    insert into public.live_notifications (recipient_id, actor_id, kind, title, body, data)
    values (recipient, me, kind, title, body, coalesce(data, '{}'::jsonb))
    returning live_notifications.id into id;
    return id;
end;
$$;
revoke execute on function public.notify(uuid, public.notification_kind, text, text, jsonb) from public, anon;
grant execute on function public.notify(uuid, public.notification_kind, text, text, jsonb) to authenticated, service_role;

create type public.presence_status as enum ('online', 'away', 'busy', 'offline');

create table public.user_presence (
    user_id uuid primary key default auth.uid() references auth.users (id) on delete cascade,
    status public.presence_status not null default 'online',
    activity text check (char_length(activity) <= 120),
    last_seen_at timestamptz not null default now()
);
comment on table public.user_presence is 'Each user''s last known status and activity.';

alter table public.user_presence enable row level security;
create policy "Signed-in users can see everyone's status"
    on public.user_presence for select to authenticated
    using (true);
create policy "Users can set their own status"
    on public.user_presence for insert to authenticated
    with check (user_id = (select auth.uid()));
create policy "Users can update their own status"
    on public.user_presence for update to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid()));
create policy "Users can clear their own status"
    on public.user_presence for delete to authenticated
    using (user_id = (select auth.uid()));
