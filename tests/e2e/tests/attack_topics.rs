//! The attack suite, topics: an intruder (the anon key, or a stranger's token) tries to
//! reach Ada's private inbox `user:<ada>` through public joins, look-alike names and
//! encodings, on both sockets and both framings. The policy-owned name refuses public
//! joins; every other spelling is a room of its own, so nothing crosses either way.

use e2e::{assert_still_serving, now, sign, stranger_token, Client, ADA};
use realtime_protocol::Vsn;
use serde_json::{json, Value};

fn anon_key() -> String {
    sign(&json!({"role": "anon", "exp": now() + 600}))
}

fn intruder_tokens() -> Vec<(&'static str, String)> {
    vec![("anon key", anon_key()), ("stranger", stranger_token("topic-intruder").1)]
}

fn broadcast(n: u32) -> Value {
    json!({"type": "broadcast", "event": "intrusion", "payload": {"n": n}})
}

/// Ada, joined to her private inbox with presence, on the socket kind under test.
async fn ada_inbox(direct: bool, vsn: Vsn) -> (Client, String, String) {
    let topic = format!("realtime:user:{ADA}");
    let mut ada = if direct {
        Client::connect_direct(&e2e::user_token(ADA), &topic, true, vsn).await
    } else {
        Client::connect(ADA, vsn).await
    };
    let join_ref = ada.join(&topic, json!({"private": true, "presence": {"key": "ada", "enabled": true}})).await;
    // Drain the join's presence_state.
    ada.recv_until("presence_state", |f| f.event == "presence_state").await;
    (ada, topic, join_ref)
}

#[tokio::test]
async fn public_joins_of_a_policy_owned_name_are_refused_in_any_case_or_spacing() {
    let names = [
        format!("realtime:user:{ADA}"),
        format!("realtime:User:{ADA}"),
        format!("realtime:USER:{ADA}"),
        format!("realtime: user:{ADA}"),
        format!("realtime:user :{ADA}"),
        format!("realtime:user:{ADA} "),
        "realtime:conversation:00000000-0000-4000-8000-000000000001".to_string(),
        "realtime:group:00000000-0000-4000-8000-000000000001".to_string(),
    ];
    for vsn in [Vsn::V1, Vsn::V2] {
        for (who, token) in intruder_tokens() {
            let mut c = Client::connect_with_token(&token, vsn).await;
            for name in &names {
                for config in [json!({}), json!({"private": false}), json!({"private": "false"}), json!({"private": 1})]
                {
                    let (_, reply) = c.join_reply(name, config.clone()).await;
                    let reason = reply["response"]["reason"].as_str().unwrap_or_default().to_string();
                    assert!(
                        reason.starts_with("Unauthorized: Channel ")
                            && reason.ends_with("join it with config.private = true"),
                        "{who} {vsn:?} {name:?} {config}: {reason}"
                    );
                }
            }
        }
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn a_direct_socket_cannot_be_opened_on_the_public_side_of_a_policy_owned_name() {
    let topic = format!("realtime:user:{ADA}");
    for private in ["false", "0", "", "no"] {
        let query = format!(
            "apikey={}&vsn=2.0.0&topic={}&private={private}",
            stranger_token("direct-intruder").1,
            e2e::url_encode(&topic)
        );
        let r = e2e::refused_upgrade_at("/realtime/v1/channel/websocket", &query, &[]).await;
        assert_eq!(r.status, 403, "private={private}: {:?}", r.body);
        assert_eq!(
            r.body["error"]["message"],
            format!("Unauthorized: Channel user:{ADA} is private: join it with config.private = true")
        );
    }
}

#[tokio::test]
async fn private_joins_by_intruders_are_refused_by_the_policy_on_both_sockets() {
    let topic = format!("realtime:user:{ADA}");
    for (who, token) in intruder_tokens() {
        for vsn in [Vsn::V1, Vsn::V2] {
            let mut relayed = Client::connect_with_token(&token, vsn).await;
            let (_, reply) = relayed.join_reply(&topic, json!({"private": true})).await;
            let expected =
                format!("Unauthorized: You do not have permissions to read from this Channel topic: user:{ADA}");
            assert_eq!(reply["response"]["reason"], expected, "{who} {vsn:?} relayed");
            let mut direct = Client::connect_direct(&token, &topic, true, vsn).await;
            let (_, reply) = direct.join_reply(&topic, json!({"private": true})).await;
            assert_eq!(reply["response"]["reason"], expected, "{who} {vsn:?} direct");
            // A direct socket opened for the private room does not take a public join either.
            let (_, reply) = direct.join_reply(&topic, json!({})).await;
            assert_eq!(reply["status"], "error", "{who} {vsn:?} direct, public join on a private socket");
        }
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn look_alike_and_encoded_names_are_rooms_of_their_own_and_nothing_crosses() {
    let lookalikes = [
        format!("realtime:user%3A{ADA}"),
        format!("realtime:\u{ff55}ser:{ADA}"),
        format!("realtime:user\u{200b}:{ADA}"),
        format!("realtime:users:{ADA}"),
        format!("user:{ADA}").replace("user:", "realtime:realtime:user:"),
    ];
    for (direct, vsn) in [(false, Vsn::V2), (true, Vsn::V2), (false, Vsn::V1), (true, Vsn::V1)] {
        let (mut ada, inbox, ada_ref) = ada_inbox(direct, vsn).await;
        let mut intruders = Vec::new();
        for name in &lookalikes {
            let token = stranger_token("lookalike-intruder").1;
            let mut c = if direct {
                Client::connect_direct(&token, name, false, vsn).await
            } else {
                Client::connect_with_token(&token, vsn).await
            };
            let join_ref = c.join(name, json!({"presence": {"key": "ada"}, "broadcast": {"self": false}})).await;
            c.push(name, "broadcast", broadcast(1), Some(&join_ref)).await;
            c.push(
                name,
                "presence",
                json!({"type": "presence", "event": "track", "payload": {"spoof": true}}),
                Some(&join_ref),
            )
            .await;
            intruders.push((c, name.clone()));
        }
        ada.expect_silence(&format!("nothing from look-alike rooms reaches Ada's inbox ({vsn:?}, direct {direct})"))
            .await;
        ada.push(&inbox, "broadcast", broadcast(2), Some(&ada_ref)).await;
        for (c, name) in intruders.iter_mut() {
            // Their own presence replies and diffs arrive; Ada's broadcast must not.
            while let Some(received) = c.try_recv(e2e::QUIET).await {
                if let e2e::Received::Frame(f) = received {
                    assert_ne!(f.event, "broadcast", "Ada's broadcast reached {name:?}: {f:?}");
                    assert!(
                        f.payload
                            .get("joins")
                            .is_none_or(|j| j.get("ada").is_none_or(|a| a["metas"][0]["spoof"] == true)),
                        "Ada's presence reached {name:?}"
                    );
                }
            }
        }
    }
    assert_still_serving().await;
}
