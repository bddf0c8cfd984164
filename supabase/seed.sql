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
