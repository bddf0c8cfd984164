-- poll:<id> carries the server's live tally (`poll_tally`): those who may see the poll
-- read it, nobody sends on it, as on presence:<id>; otherwise any viewer could broadcast
-- a made-up tally. event:<id> stays writable for those who may see the event (they are
-- present there, and may talk), and, as on every private channel, the room refuses the
-- server's event names from clients (realtime_protocol::reason::SERVER_EVENTS: an
-- `event_state` or a `member_left` is only ever the server's).

drop policy "Members can send to their channels and nobody to presence ones" on realtime.messages;
create policy "Members send to their channels, nobody to presence or poll ones"
    on realtime.messages for insert to authenticated
    with check (realtime.topic() not like 'presence:%'
                and realtime.topic() not like 'poll:%'
                and private.may_use_channel(realtime.topic()));
