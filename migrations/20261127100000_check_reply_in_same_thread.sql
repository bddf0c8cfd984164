-- A reply answers a message of its own thread. Without this a participant of one thread
-- could point reply_to at any message id and learn from the foreign key whether it exists.
-- The check runs before the foreign key (a before trigger), and says the same thing for a
-- message that does not exist and one in another thread.

create function private.check_reply_in_same_thread() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
    if new.reply_to is not null and (tg_op = 'INSERT' or new.reply_to is distinct from old.reply_to) and not exists (
        select 1 from public.messages m where m.id = new.reply_to and m.thread_id = new.thread_id
    ) then
        raise exception 'reply_to must be a message of the same thread' using errcode = '23514';
    end if;
    return new;
end;
$$;

create trigger messages_reply_in_same_thread
    before insert or update of reply_to on public.messages
    for each row execute function private.check_reply_in_same_thread();
