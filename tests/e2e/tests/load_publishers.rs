//! Under load, the rate limit counts what each client sends, not the clumps a busy server
//! takes its frames off the socket in: ten publishers at 90 messages per second (under
//! the limit of 100) with four more listeners, on both sockets, are never cut off and
//! every message arrives. A file of its own, so it runs alone.

use e2e::{user_token, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::json;
use std::time::Duration;

const PUBLISHERS: usize = 10;
const LISTENERS: usize = 4;
const RATE: u64 = 90;
const SECONDS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_publishers_just_under_the_limit_are_never_cut_off_and_nothing_is_lost() {
    for direct in [false, true] {
        let topic = e2e::unique_topic("crowd");
        let mut sockets = Vec::new();
        for i in 0..PUBLISHERS + LISTENERS {
            // Two users (the test stack allows five per channel); the limit is per socket.
            let user = if i < PUBLISHERS { ADA } else { BASIL };
            let mut c = if direct {
                Client::connect_direct(&user_token(user), &topic, false, Vsn::V2).await
            } else {
                Client::connect(user, Vsn::V2).await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_at_the_limit_to_two_hundred_relayed_listeners_is_never_cut_off() {
    const LISTENERS: usize = 200;
    const RATE: u64 = 100;
    const SECONDS: u64 = 5;
    let topic = e2e::unique_topic("at-the-limit");
    let mut listeners = Vec::new();
    for _ in 0..LISTENERS {
        // One user on many sockets: the test stack allows five users per channel.
        let mut c = Client::connect(BASIL, Vsn::V2).await;
        c.join(&topic, json!({})).await;
        listeners.push(c);
    }
    let counting: Vec<_> = listeners
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut received = 0;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(SECONDS + 30);
                let mut beat = tokio::time::Instant::now();
                while received < RATE * SECONDS && tokio::time::Instant::now() < deadline {
                    // Listening clients heartbeat like real ones (the test stack's idle
                    // timeout is 5 s).
                    if beat.elapsed() > Duration::from_secs(1) {
                        c.send_text(r#"[null,"hb","phoenix","heartbeat",{}]"#).await;
                        beat = tokio::time::Instant::now();
                    }
                    if let Some(e2e::Received::Frame(f)) = c.try_recv(Duration::from_millis(500)).await {
                        received += u64::from(f.event == "broadcast");
                    }
                }
                received
            })
        })
        .collect();
    let mut publisher = Client::connect(ADA, Vsn::V2).await;
    let join_ref = publisher.join(&topic, json!({})).await;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    for n in 0..RATE * SECONDS {
        tick.tick().await;
        publisher
            .push(&topic, "broadcast", json!({"type": "broadcast", "event": "t", "payload": {"n": n}}), Some(&join_ref))
            .await;
    }
    let mut total = 0;
    for task in counting {
        total += task.await.expect("a listener task");
    }
    while let Some(e2e::Received::Frame(f)) = publisher.try_recv(Duration::from_millis(500)).await {
        assert_ne!(f.event, "system", "the publisher was cut off while sending at the limit: {f:?}");
    }
    assert_eq!(total, RATE * SECONDS * LISTENERS as u64, "every message reached every listener");
}
