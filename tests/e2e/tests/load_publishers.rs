//! Under load, the rate limit counts what each client sends, not the clumps a busy server
//! takes its frames off the socket in: four publishers (four users: the limit is per user
//! too, and the test stack allows five users per channel) at 90 messages per second
//! (under the limit of 100) with four more listeners, on both sockets, are never cut off
//! and every message arrives. A file of its own, so it runs alone.
//!
//! The heavier case (one publisher at the limit to 200 relayed listeners) is timing-bound
//! on a 2-core machine, so it is a benchmark (`make bench`: `fanout_bench` prints the
//! system messages its publisher got) rather than a test; the rule itself is unit-tested
//! (`room::handle` tests: clumps of 150 pass, 200/s for two seconds does not).

use e2e::{stranger_token, user_token, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::json;
use std::time::Duration;

const PUBLISHERS: usize = 4;
const LISTENERS: usize = 4;
const RATE: u64 = 90;
const SECONDS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_just_under_the_limit_are_never_cut_off_and_nothing_is_lost() {
    for direct in [false, true] {
        let topic = e2e::unique_topic("crowd");
        let mut sockets = Vec::new();
        for i in 0..PUBLISHERS + LISTENERS {
            // A user per publisher; the listeners are one more user's devices.
            let token = match i {
                0 => user_token(ADA),
                1 | 2 => stranger_token(&format!("crowd-{i}")).1,
                3 => user_token("33333333-3333-4333-8333-333333333333"),
                _ => user_token(BASIL),
            };
            let mut c = if direct {
                Client::connect_direct(&token, &topic, false, Vsn::V2).await
            } else {
                Client::connect_with_token(&token, Vsn::V2).await
            };
            let join_ref = c.join(&topic, json!({})).await;
            sockets.push((c, join_ref));
        }
        let mut tasks = Vec::new();
        for (i, (mut c, join_ref)) in sockets.into_iter().enumerate() {
            let topic = topic.clone();
            tasks.push(tokio::spawn(async move {
                let publishing = i < PUBLISHERS;
                let expected = (PUBLISHERS - usize::from(publishing)) as u64 * RATE * SECONDS;
                let (mut received, mut cut_off) = (0u64, false);
                let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
                let mut sent = 0;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(SECONDS + 15);
                while (received < expected || (publishing && sent < RATE * SECONDS))
                    && tokio::time::Instant::now() < deadline
                {
                    if publishing && sent < RATE * SECONDS {
                        tick.tick().await;
                        let message = json!({"type": "broadcast", "event": "tick", "payload": {"from": i, "n": sent}});
                        c.push(&topic, "broadcast", message, Some(&join_ref)).await;
                        sent += 1;
                    }
                    while let Some(e2e::Received::Frame(f)) = c.try_recv(Duration::from_millis(1)).await {
                        match f.event.as_str() {
                            "broadcast" => received += 1,
                            "system" => cut_off = true,
                            _ => {}
                        }
                    }
                    if !publishing && received < expected {
                        if let Some(e2e::Received::Frame(f)) = c.try_recv(Duration::from_millis(200)).await {
                            received += u64::from(f.event == "broadcast");
                        }
                    }
                }
                (i, cut_off, received, expected)
            }));
        }
        for task in tasks {
            let (i, cut_off, received, expected) = task.await.expect("a client task");
            assert!(!cut_off, "direct {direct}: socket {i} was cut off while sending at {RATE}/s");
            assert_eq!(received, expected, "direct {direct}: socket {i} received {received} of {expected}");
        }
    }
}
