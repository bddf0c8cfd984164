-- What the scheduler (the edge's `Scheduler` object) runs on its alarm: everything due
-- now, in one transaction, and the time the next job is due (null: nothing pending).
--
-- | job | when |
-- |---|---|
-- | close a poll | at its `closes_at` |
-- | remind an event's participants (going, interested, checked in; kind `event_reminder`) | `reminder_lead` before it starts, once (`reminded_at`) |
-- | end a scheduled event nobody started | at its `ends_at` |
--
-- Each change goes through the tables' own triggers (a closed poll notifies its voters
-- and sends its final tally, an ended event its state), so a job does what the same
-- change made by hand would do.

create function private.run_due_jobs(reminder_lead interval default interval '15 minutes') returns timestamptz
language plpgsql security definer
set search_path = ''
as $$
declare
    next_due timestamptz;
begin
    update public.community_polls p set status = 'closed'
     where p.status = 'open' and p.closes_at <= now();

    with due as (
        update public.live_events e set reminded_at = now()
         where e.status = 'scheduled' and e.reminded_at is null
           and e.starts_at - reminder_lead <= now() and e.starts_at > now()
        returning e.id, e.title, e.starts_at
    )
    insert into public.live_notifications (recipient_id, kind, title, data)
    select p.user_id, 'event_reminder', left(d.title || ' starts soon', 200),
           jsonb_build_object('event_id', d.id, 'starts_at', d.starts_at)
      from due d join public.event_participants p on p.event_id = d.id
     where p.status in ('going', 'interested', 'checked_in');

    update public.live_events e set status = 'ended'
     where e.status = 'scheduled' and e.ends_at <= now();

    select min(t) into next_due from (
        select min(p.closes_at) as t from public.community_polls p where p.status = 'open' and p.closes_at > now()
        union all
        select min(e.starts_at - reminder_lead) from public.live_events e
         where e.status = 'scheduled' and e.reminded_at is null and e.starts_at > now()
        union all
        select min(e.ends_at) from public.live_events e where e.status = 'scheduled' and e.ends_at > now()
    ) due;
    return next_due;
end;
$$;
revoke execute on function private.run_due_jobs(interval) from public, anon, authenticated;

create index community_polls_closing_idx on public.community_polls (closes_at) where status = 'open';
