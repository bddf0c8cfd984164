//! The frames between a gateway's hub and a room.
//!
//! A hub is the one socket a gateway (the Durable Object serving multiplexed client
//! sockets) keeps to a room, per topic, privacy and framing, for all of its clients
//! joined there. Each client channel on it is a member with a key; every frame says
//! whose it is, or, for a fan-out, whose it is not. The room then sends a broadcast once
//! per hub instead of once per subscriber, and the gateway copies it to its clients (in
//! JavaScript, `edge::hub`, which parses the room-to-gateway frames defined here).
//!
//! Text frames are `<op> <head>\n<body>`; the head holds keys or fields, never a newline.
//!
//! Gateway to room:
//! - `O <key> <conn_id>\n<identity json>`: a member opens (as a socket would connect).
//! - `M <key> <heard ms>\n<frame>`: the member's client sent this text frame, which the
//!   gateway heard at `<heard ms>` (Unix milliseconds; see [`Up::Text`]). `M <key>\n<frame>`,
//!   without the time, is still read (a gateway of the previous release). A gateway stamps
//!   only for a room that announced it reads stamps ([`STAMPS_HEADER`] on the hub's 101):
//!   during a deploy a new gateway may meet a room still on the previous release, whose
//!   decoder refuses stamped frames.
//! - `X <key> <close code>\n`: the member is gone (client left, closed, or too slow).
//! - binary `[key length | 0x80][key][heard ms: u64 big-endian][frame]`: the member's
//!   client sent this binary frame, heard then; without the 0x80 bit, no time follows.
//!
//! Room to gateway:
//! - `D <key>,<key>..\n<frame>`: deliver to these members.
//! - `F <key>,<key>..\n<frame>`: deliver to every joined member except these (may be none).
//! - `J <key>\n` / `L <key>\n`: the member's channel is joined / over (fan-outs follow it).
//! - `C <key> <close code>\n`: the room is done with the member (as closing its socket).
//! - binary `[n][key length][key]..(n times)[frame]`: a binary fan-out, skipping n keys.

/// Longest member key: the gateway makes them (connection id and a generation).
pub const MAX_KEY_BYTES: usize = 64;

/// The header a room sets on a hub's 101 response, with [`STAMPS_READ`], when it reads
/// stamped frames ([`Up::Text`]'s `heard_ms`, [`encode_up_binary`]'s flag).
pub const STAMPS_HEADER: &str = "x-hub-stamps";
pub const STAMPS_READ: &str = "1";

/// Whether `key` may name a member: short, and free of the separators used here.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// A frame from the Worker's side of a hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Up<'a> {
    Open {
        key: &'a str,
        conn_id: &'a str,
        identity: &'a str,
    },
    /// `heard_ms`: when the gateway read the frame from its client. The room counts the
    /// frame against its user's budget at that time, not when it gets round to it: a
    /// room that falls behind takes a backlog in at once, and counted on arrival a
    /// publisher who kept to the rate would be cut off for the room's delay.
    Text {
        key: &'a str,
        frame: &'a str,
        heard_ms: Option<u64>,
    },
    Gone {
        key: &'a str,
        code: u16,
    },
}

/// A hub frame that does not follow the format above (a bug in one of the two sides).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed hub frame: {0}")]
pub struct Malformed(&'static str);

fn split(text: &str) -> Result<(char, Vec<&str>, &str), Malformed> {
    let (head, body) = text.split_once('\n').ok_or(Malformed("no newline"))?;
    let mut fields = head.split(' ');
    let op = fields.next().filter(|op| op.len() == 1).and_then(|op| op.chars().next()).ok_or(Malformed("no op"))?;
    Ok((op, fields.collect(), body))
}

impl<'a> Up<'a> {
    pub fn decode(text: &'a str) -> Result<Up<'a>, Malformed> {
        let (op, fields, body) = split(text)?;
        let member = |at: usize| fields.get(at).copied().filter(|k| valid_key(k)).ok_or(Malformed("bad key"));
        match (op, fields.len()) {
            ('O', 2) => Ok(Up::Open { key: member(0)?, conn_id: member(1)?, identity: body }),
            ('M', 1) => Ok(Up::Text { key: member(0)?, frame: body, heard_ms: None }),
            ('M', 2) => {
                let heard_ms = fields[1].parse().map_err(|_| Malformed("bad time"))?;
                Ok(Up::Text { key: member(0)?, frame: body, heard_ms: Some(heard_ms) })
            }
            ('X', 2) => {
                let code = fields[1].parse().map_err(|_| Malformed("bad close code"))?;
                Ok(Up::Gone { key: member(0)?, code })
            }
            _ => Err(Malformed("unknown op or field count")),
        }
    }

    pub fn encode(&self) -> String {
        match self {
            Up::Open { key, conn_id, identity } => format!("O {key} {conn_id}\n{identity}"),
            Up::Text { key, frame, heard_ms: Some(at) } => format!("M {key} {at}\n{frame}"),
            Up::Text { key, frame, heard_ms: None } => format!("M {key}\n{frame}"),
            Up::Gone { key, code } => format!("X {key} {code}\n"),
        }
    }
}

/// Set in a binary frame's key length when the time the gateway heard it follows the key.
const HEARD_FLAG: u8 = 0x80;
// A key's length never reaches the flag's bit.
const _: () = assert!(MAX_KEY_BYTES < HEARD_FLAG as usize);

/// A client's binary frame, tagged with its member's key and, for a room that reads
/// stamps, when the gateway heard it.
pub fn encode_up_binary(key: &str, heard_ms: Option<u64>, frame: &[u8]) -> Vec<u8> {
    let key = &key.as_bytes()[..key.len().min(MAX_KEY_BYTES)];
    let mut out = Vec::with_capacity(1 + key.len() + 8 + frame.len());
    out.push(key.len() as u8 | if heard_ms.is_some() { HEARD_FLAG } else { 0 });
    out.extend_from_slice(key);
    if let Some(at) = heard_ms {
        out.extend_from_slice(&at.to_be_bytes());
    }
    out.extend_from_slice(frame);
    out
}

/// A client's binary frame from a hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpBinary<'a> {
    pub key: &'a str,
    /// When the gateway heard it (see [`Up::Text`]); `None` from a gateway of the
    /// previous release.
    pub heard_ms: Option<u64>,
    pub frame: &'a [u8],
}

/// The key, the time and the client's frame of a binary hub frame.
pub fn decode_up_binary(bytes: &[u8]) -> Result<UpBinary<'_>, Malformed> {
    let (&head, rest) = bytes.split_first().ok_or(Malformed("empty"))?;
    let len = usize::from(head & !HEARD_FLAG);
    if rest.len() < len {
        return Err(Malformed("key past the end"));
    }
    let key = std::str::from_utf8(&rest[..len]).ok().filter(|k| valid_key(k)).ok_or(Malformed("bad key"))?;
    let rest = &rest[len..];
    if head & HEARD_FLAG == 0 {
        return Ok(UpBinary { key, heard_ms: None, frame: rest });
    }
    let (at, frame) = rest.split_first_chunk::<8>().ok_or(Malformed("time past the end"))?;
    Ok(UpBinary { key, heard_ms: Some(u64::from_be_bytes(*at)), frame })
}

/// What the room tells a hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down<'a> {
    Deliver { keys: &'a [&'a str], frame: &'a str },
    FanOut { skip: &'a [&'a str], frame: &'a str },
    Joined(&'a str),
    Left(&'a str),
    Close { key: &'a str, code: u16 },
}

impl Down<'_> {
    pub fn encode(&self) -> String {
        match self {
            Down::Deliver { keys, frame } => format!("D {}\n{frame}", keys.join(",")),
            Down::FanOut { skip, frame } => format!("F {}\n{frame}", skip.join(",")),
            Down::Joined(key) => format!("J {key}\n"),
            Down::Left(key) => format!("L {key}\n"),
            Down::Close { key, code } => format!("C {key} {code}\n"),
        }
    }
}

/// A binary fan-out to every joined member but `skip`.
pub fn encode_down_binary(skip: &[&str], frame: &[u8]) -> Vec<u8> {
    let skip: Vec<&str> = skip.iter().copied().filter(|k| valid_key(k)).take(usize::from(u8::MAX)).collect();
    let mut out = Vec::with_capacity(1 + skip.iter().map(|k| k.len() + 1).sum::<usize>() + frame.len());
    out.push(skip.len() as u8);
    for key in skip {
        out.push(key.len() as u8);
        out.extend_from_slice(key.as_bytes());
    }
    out.extend_from_slice(frame);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_frames_round_trip_and_keep_newlines_in_the_body() {
        let frames = [
            Up::Open { key: "ab12.0", conn_id: "ab12", identity: "{\"role\":\"anon\"}" },
            Up::Text {
                key: "ab12.3",
                frame: "[\"1\",\"1\",\"realtime:x\",\"phx_join\",{\"a\":\"b\\nc\"}]\nmore",
                heard_ms: Some(1_790_000_000_123),
            },
            Up::Text { key: "ab12.3", frame: "[]", heard_ms: None },
            Up::Gone { key: "ab12.3", code: 4001 },
        ];
        for frame in frames {
            assert_eq!(Up::decode(&frame.encode()), Ok(frame));
        }
    }

    #[test]
    fn malformed_up_frames_are_refused_not_guessed() {
        for bad in [
            "",
            "M key",
            "M\nbody",
            "M bad,key\nbody",
            "M bad key\nbody",
            "Q key\nbody",
            "X key notacode\n",
            "M key soon\nbody",
            "M key 1 2\nbody",
            "O key\n{}",
            "MM key\nbody",
        ] {
            assert!(Up::decode(bad).is_err(), "{bad:?} should not decode");
        }
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(Up::decode(&format!("M {long}\n[]")).is_err());
    }

    #[test]
    fn binary_up_frames_carry_the_key_the_time_and_the_bytes_untouched() {
        let frame = [3u8, 0, 0, 10, 4, 0, 1, 0xff, b'\n'];
        let encoded = encode_up_binary("ab.1", Some(1_790_000_000_123), &frame);
        let decoded = UpBinary { key: "ab.1", heard_ms: Some(1_790_000_000_123), frame: &frame[..] };
        assert_eq!(decode_up_binary(&encoded), Ok(decoded));
        // Unstamped (for a room of the previous release, and what a gateway of that
        // release sends): the key, then the frame, as that release's decoder reads it.
        let unstamped = encode_up_binary("ab.1", None, &frame);
        assert_eq!(unstamped, [&[4u8][..], b"ab.1", &frame].concat());
        assert_eq!(decode_up_binary(&unstamped), Ok(UpBinary { key: "ab.1", heard_ms: None, frame: &frame[..] }));
        assert!(decode_up_binary(&[]).is_err());
        assert!(decode_up_binary(&[9, b'a']).is_err(), "key longer than the frame");
        assert!(decode_up_binary(&[1, b',', 1]).is_err(), "separator in the key");
        assert!(decode_up_binary(&[0x81, b'a', 0, 0, 1]).is_err(), "time cut short");
        assert!(decode_up_binary(&[0x80]).is_err(), "flag, no key, no time");
        let long = [&[0x80 | 65u8][..], &[b'k'; 65], &[0; 8]].concat();
        assert!(decode_up_binary(&long).is_err(), "a flagged key longer than keys are");
    }

    #[test]
    fn down_frames_name_their_members() {
        assert_eq!(Down::Deliver { keys: &["a.1", "b.2"], frame: "[1]" }.encode(), "D a.1,b.2\n[1]");
        assert_eq!(Down::FanOut { skip: &[], frame: "[1]" }.encode(), "F \n[1]");
        assert_eq!(Down::FanOut { skip: &["a.1"], frame: "x\ny" }.encode(), "F a.1\nx\ny");
        assert_eq!(Down::Joined("a.1").encode(), "J a.1\n");
        assert_eq!(Down::Left("a.1").encode(), "L a.1\n");
        assert_eq!(Down::Close { key: "a.1", code: 1000 }.encode(), "C a.1 1000\n");
        assert_eq!(encode_down_binary(&["a.1"], &[4, 9]), vec![1, 3, b'a', b'.', b'1', 4, 9]);
        assert_eq!(encode_down_binary(&[], &[4]), vec![0, 4]);
    }
}
