//! Faults during a stream of database writes: the feed's object and a room forgotten (what
//! an eviction does; the service-role forget paths), and a client that drops and comes
//! back with its last position. Every change arrives, in order, exactly once.

use e2e::{base_url, unique_topic, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::{json, Value};
use std::time::Duration;

const THREAD: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const WRITES: usize = 120;

fn binding() -> Value {
    json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": format!("thread_id=eq.{THREAD}")})
}

async fn forget(path: &str, token: &str) -> u16 {
    let url = format!("{}/realtime/v1/api/{path}", base_url());
    reqwest::Client::new().post(url).header("apikey", token).send().await.expect("forget").status().as_u16()
}

fn expected(tag: &str) -> Vec<String> {
    (0..WRITES).map(|i| format!("{tag}-{i:03}")).collect()
}

#[tokio::test]
async fn a_stream_of_writes_survives_the_feed_and_the_room_being_forgotten_and_a_client_coming_back() {
    let tag = unique_topic("faults");
    let topic = unique_topic("faults-room");
    let mut steady = Client::connect(ADA, Vsn::V2).await;
    steady.join(&topic, json!({"postgres_changes": [binding()]})).await;
    let mut leaving = Client::connect(BASIL, Vsn::V1).await;
    leaving.join(&topic, json!({"postgres_changes": [binding()]})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Only the service role may make the feed forget.
    assert_eq!(forget("feed/forget", &e2e::user_token(ADA)).await, 401);

    let writer = {
        let tag = tag.clone();
        tokio::spawn(async move {
            let db = e2e::database().await;
            for i in 0..WRITES {
                db.execute(
                    "insert into public.messages (thread_id, sender_id, body) values ($1::text::uuid, $2::text::uuid, $3)",
                    &[&THREAD, &BASIL, &format!("{tag}-{i:03}")],
                )
                .await
                .expect("a write");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let service = e2e::service_token();
    let mut steady_got = Vec::new();
    let mut leaving_got = Vec::new();
    e2e::collect_changes(&mut steady, &tag, Duration::from_millis(500), &mut steady_got).await;
    assert_eq!(forget("feed/forget", &service).await, 204);
    e2e::collect_changes(&mut leaving, &tag, Duration::from_millis(300), &mut leaving_got).await;
    let last_seen = leaving_got.last().map(|(p, _)| *p).expect("the leaving client saw something first");
    leaving.close().await;
    assert_eq!(forget(&format!("rooms/{topic}/forget"), &service).await, 204);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(forget("feed/forget", &service).await, 204);

    // Back with the last position it saw, while the writes go on.
    let mut back = Client::connect(BASIL, Vsn::V2).await;
    back.join(&topic, json!({"postgres_changes": [binding()], "postgres_changes_replay": {"after": last_seen}})).await;
    writer.await.expect("the writer");
    e2e::collect_changes(&mut steady, &tag, Duration::from_secs(3), &mut steady_got).await;
    e2e::collect_changes(&mut back, &tag, Duration::from_secs(1), &mut leaving_got).await;

    for (who, got) in [("the steady subscriber", &steady_got), ("the one who came back", &leaving_got)] {
        let bodies: Vec<String> = got.iter().map(|(_, b)| b.clone()).collect();
        assert_eq!(bodies, expected(&tag), "{who}: every write, in order, once");
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "{who}: positions strictly increase");
    }
}
