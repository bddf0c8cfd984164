-- Follow lists are read newest first, a page at a time (the edge's followers and
-- following endpoints): one index per direction in that order, so a page reads only its
-- own rows. The first also serves every lookup by followee, so the older index on
-- followee_id alone goes.

create index follow_relationships_followee_recent_idx
    on public.follow_relationships (followee_id, created_at desc, follower_id desc);
create index follow_relationships_follower_recent_idx
    on public.follow_relationships (follower_id, created_at desc, followee_id desc);
drop index public.follow_relationships_followee_idx;
