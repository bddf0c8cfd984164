-- Demo data for local development (`make dev`) and the Supabase CLI (`supabase db reset`).
-- Idempotent: running it again changes nothing.

insert into auth.users (id, aud, role, email, raw_user_meta_data)
values
    ('11111111-1111-4111-8111-111111111111', 'authenticated', 'authenticated', 'ada@growers.test', '{"name": "Ada"}'),
    ('22222222-2222-4222-8222-222222222222', 'authenticated', 'authenticated', 'basil@growers.test', '{"name": "Basil"}'),
    ('33333333-3333-4333-8333-333333333333', 'authenticated', 'authenticated', 'clover@growers.test', '{"name": "Clover"}')
on conflict (id) do nothing;

insert into public.profiles (id, username, display_name)
values
    ('11111111-1111-4111-8111-111111111111', 'ada', 'Ada Greenthumb'),
    ('22222222-2222-4222-8222-222222222222', 'basil', 'Basil Loam'),
    ('33333333-3333-4333-8333-333333333333', 'clover', 'Clover Seedwell')
on conflict (id) do nothing;

-- A fourth grower, so the group has a member of each role, and Elm, who belongs nowhere.
insert into auth.users (id, aud, role, email, raw_user_meta_data)
values ('44444444-4444-4444-8444-444444444444', 'authenticated', 'authenticated', 'dill@growers.test', '{"name": "Dill"}'),
       ('55555555-5555-4555-8555-555555555555', 'authenticated', 'authenticated', 'elm@growers.test', '{"name": "Elm"}')
on conflict (id) do nothing;
insert into public.profiles (id, username, display_name)
values ('44444444-4444-4444-8444-444444444444', 'dill', 'Dill Furrow')
on conflict (id) do nothing;

-- A direct conversation between Ada and Basil, with a reply.
insert into public.conversation_threads (id, kind, created_by, direct_pair)
values ('aaaaaaaa-0000-4000-8000-000000000001', 'direct', '11111111-1111-4111-8111-111111111111',
        '11111111-1111-4111-8111-111111111111:22222222-2222-4222-8222-222222222222')
on conflict (id) do nothing;
insert into public.conversation_participants (thread_id, user_id, role)
values ('aaaaaaaa-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'owner'),
       ('aaaaaaaa-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'member')
on conflict do nothing;
insert into public.messages (id, thread_id, sender_id, body, idempotency_key)
values ('aaaaaaaa-0000-4000-8000-000000000101', 'aaaaaaaa-0000-4000-8000-000000000001',
        '11111111-1111-4111-8111-111111111111', 'My basil is bolting already. Pinch the flowers?', 'seed-1')
on conflict do nothing;
insert into public.messages (id, thread_id, sender_id, body, reply_to, idempotency_key)
values ('aaaaaaaa-0000-4000-8000-000000000102', 'aaaaaaaa-0000-4000-8000-000000000001',
        '22222222-2222-4222-8222-222222222222', 'Yes, pinch above the second leaf pair.',
        'aaaaaaaa-0000-4000-8000-000000000101', 'seed-2')
on conflict do nothing;

-- A private group with a member of each role.
insert into public.social_groups (id, name, description, topic_tags, privacy, owner_id)
values ('bbbbbbbb-0000-4000-8000-000000000001', 'Tomato Growers', 'Heirlooms, blight and staking.',
        '{tomatoes,heirloom,blight}', 'private', '11111111-1111-4111-8111-111111111111')
on conflict (id) do nothing;
insert into public.group_members (group_id, user_id, role, status)
values ('bbbbbbbb-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'admin', 'active'),
       ('bbbbbbbb-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333', 'moderator', 'active'),
       ('bbbbbbbb-0000-4000-8000-000000000001', '44444444-4444-4444-8444-444444444444', 'member', 'active')
on conflict do nothing;

-- An event of the group, and a poll in it.
insert into public.live_events (id, host_id, group_id, title, description, starts_at, ends_at, capacity, visibility)
values ('cccccccc-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222',
        'bbbbbbbb-0000-4000-8000-000000000001', 'Seed swap at the allotment', 'Bring labelled envelopes.',
        now() + interval '7 days', now() + interval '7 days 3 hours', 20, 'group')
on conflict (id) do nothing;
insert into public.event_participants (event_id, user_id, status)
values ('cccccccc-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'going'),
       ('cccccccc-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333', 'interested')
on conflict do nothing;
insert into public.community_polls (id, author_id, group_id, question, closes_at)
values ('dddddddd-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333',
        'bbbbbbbb-0000-4000-8000-000000000001', 'Which variety should we trial next season?', now() + interval '14 days')
on conflict (id) do nothing;
insert into public.poll_options (id, poll_id, label, position)
values ('dddddddd-0000-4000-8000-000000000101', 'dddddddd-0000-4000-8000-000000000001', 'Brandywine', 0),
       ('dddddddd-0000-4000-8000-000000000102', 'dddddddd-0000-4000-8000-000000000001', 'Cherokee Purple', 1),
       ('dddddddd-0000-4000-8000-000000000103', 'dddddddd-0000-4000-8000-000000000001', 'Green Zebra', 2)
on conflict do nothing;
insert into public.poll_votes (poll_id, option_id, user_id)
values ('dddddddd-0000-4000-8000-000000000001', 'dddddddd-0000-4000-8000-000000000102', '11111111-1111-4111-8111-111111111111'),
       ('dddddddd-0000-4000-8000-000000000001', 'dddddddd-0000-4000-8000-000000000101', '22222222-2222-4222-8222-222222222222')
on conflict do nothing;

insert into public.follow_relationships (follower_id, followee_id)
values ('22222222-2222-4222-8222-222222222222', '11111111-1111-4111-8111-111111111111'),
       ('33333333-3333-4333-8333-333333333333', '11111111-1111-4111-8111-111111111111')
on conflict do nothing;
insert into public.user_presence (user_id, status, activity)
values ('11111111-1111-4111-8111-111111111111', 'offline', 'Repotting seedlings')
on conflict do nothing;
insert into public.live_notifications (id, recipient_id, actor_id, kind, title, body)
values ('eeeeeeee-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111',
        '22222222-2222-4222-8222-222222222222', 'message', 'Basil replied', 'Yes, pinch above the second leaf pair.')
on conflict (id) do nothing;
