-- Notification kinds for group answers and event waitlists (used by the migrations
-- after this one; a new enum value cannot be used in the transaction that adds it).
-- Reminders and closed polls use the existing `event_reminder` and `poll_result`.

alter type public.notification_kind add value if not exists 'group_request_approved';
alter type public.notification_kind add value if not exists 'waitlist_promoted';
