-- member_count by increments: a recount inside the trigger read a snapshot that missed
-- concurrent joins, and the last writer's count stood (two joins at once counted one).
-- `member_count + delta` is re-read under the row lock, so concurrent joins all count.

create or replace function private.count_group_members() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
    delta integer := 0;
begin
    if tg_op in ('UPDATE', 'DELETE') and old.status = 'active' then
        delta := delta - 1;
    end if;
    if tg_op in ('INSERT', 'UPDATE') and new.status = 'active' then
        delta := delta + 1;
    end if;
    if delta <> 0 then
        update public.social_groups g set member_count = g.member_count + delta
         where g.id = coalesce(new.group_id, old.group_id);
    end if;
    return null;
end;
$$;

update public.social_groups g
   set member_count = (select count(*) from public.group_members m where m.group_id = g.id and m.status = 'active');
