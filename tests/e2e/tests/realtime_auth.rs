//! Tokens on channels: the join's access_token, private channels decided by RLS on
//! realtime.messages, token refresh, and channels closed when their token expires.

use e2e::{now, sign, unique_topic, user_token, Client, ADA, BASIL};
use realtime_protocol::Vsn;
use serde_json::{json, Value};

fn private() -> Value {
    json!({"config": {"private": true}})
}

fn with_token(token: &str, private: bool) -> Value {
    json!({"config": {"private": private}, "access_token": token})
}

#[tokio::test]
async fn an_expired_access_token_in_a_join_is_refused_with_how_long_ago() {
    let token = sign(&json!({"sub": ADA, "role": "authenticated", "aud": "authenticated", "exp": now() - 20}));
    let mut c = Client::connect(ADA, Vsn::V2).await;
    let (_, reply) = c.join_payload(&unique_topic("exp"), with_token(&token, false)).await;
    let reason = reply["response"]["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.starts_with("InvalidJWTToken: Token has expired ") && reason.ends_with(" seconds ago"), "{reason}");
}

#[tokio::test]
async fn a_malformed_access_token_in_a_join_is_refused() {
    let mut c = Client::connect(ADA, Vsn::V2).await;
    let (_, reply) = c.join_payload(&unique_topic("bad"), with_token("nope", false)).await;
    assert_eq!(reply["response"]["reason"], "MalformedJWT: The token provided is not a valid JWT");
}

#[tokio::test]
async fn a_users_inbox_is_private_to_that_user() {
    let inbox = format!("realtime:user:{ADA}");
    let mut ada = Client::connect(ADA, Vsn::V2).await;
    let (_, reply) = ada.join_payload(&inbox, private()).await;
    assert_eq!(reply["status"], "ok", "{reply:?}");

    let mut basil = Client::connect(BASIL, Vsn::V2).await;
    let (_, reply) = basil.join_payload(&inbox, private()).await;
    assert_eq!(
        reply["response"]["reason"],
        format!("Unauthorized: You do not have permissions to read from this Channel topic: user:{ADA}")
    );
    // The access_token decides, not the socket: Basil's socket with Ada's token is Ada.
    let (_, reply) = basil.join_payload(&inbox, with_token(&user_token(ADA), true)).await;
    assert_eq!(reply["status"], "ok");
}

#[tokio::test]
async fn the_anon_key_cannot_join_a_private_channel_but_can_join_a_public_one() {
    let anon = sign(&json!({"role": "anon", "exp": now() + 600}));
    let mut c = Client::connect_with_token(&anon, Vsn::V2).await;
    let (_, reply) = c.join_payload(&unique_topic("open"), private()).await;
    assert_eq!(reply["status"], "error");
    let (_, reply) = c.join_payload(&unique_topic("open"), json!({"config": {}})).await;
    assert_eq!(reply["status"], "ok");
}

#[tokio::test]
async fn an_open_topic_joined_as_private_is_allowed_to_signed_in_users() {
    let mut c = Client::connect(BASIL, Vsn::V2).await;
    let (_, reply) = c.join_payload(&unique_topic("lobby"), private()).await;
    assert_eq!(reply["status"], "ok");
}

#[tokio::test]
async fn a_refresh_with_another_users_token_closes_the_channel() {
    let topic = unique_topic("refresh-other");
    let mut c = Client::connect(ADA, Vsn::V2).await;
    let join_ref = c.join(&topic, json!({})).await;
    c.push(&topic, "access_token", json!({"access_token": user_token(BASIL)}), Some(&join_ref)).await;
    let system = c.recv_until("system", |f| f.event == "system").await;
    assert_eq!(system.payload["status"], "error");
    let close = c.recv_until("phx_close", |f| f.event == "phx_close").await;
    assert_eq!(close.join_ref.as_deref(), Some(join_ref.as_str()));
}

#[tokio::test]
async fn a_refresh_with_an_invalid_token_closes_the_channel_and_a_valid_one_does_not() {
    let topic = unique_topic("refresh");
    let mut c = Client::connect(ADA, Vsn::V2).await;
    let join_ref = c.join(&topic, json!({})).await;
    c.push(&topic, "access_token", json!({"access_token": user_token(ADA)}), Some(&join_ref)).await;
    c.expect_silence("a good refresh is silent").await;
    c.push(&topic, "access_token", json!({"access_token": "garbage"}), Some(&join_ref)).await;
    let system = c.recv_until("system", |f| f.event == "system").await;
    assert_eq!(system.payload["message"], "The token provided is not a valid JWT");
    c.recv_until("phx_close", |f| f.event == "phx_close").await;
}

#[tokio::test]
async fn a_channel_closes_itself_when_its_token_expires() {
    let topic = unique_topic("expiry");
    let short = sign(&json!({"sub": ADA, "role": "authenticated", "aud": "authenticated", "exp": now() + 2}));
    let mut c = Client::connect(ADA, Vsn::V2).await;
    let (join_ref, reply) = c.join_payload(&topic, with_token(&short, false)).await;
    assert_eq!(reply["status"], "ok");
    let system = c.recv_until("the expiry", |f| f.event == "system").await;
    let message = system.payload["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Token has expired"), "{message}");
    assert_eq!(system.payload["channel"], topic.trim_start_matches("realtime:"));
    let close = c.recv_until("phx_close", |f| f.event == "phx_close").await;
    assert_eq!(close.join_ref.as_deref(), Some(join_ref.as_str()));
}

mod membership_channels {
    use super::*;

    const THREAD: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const GROUP: &str = "bbbbbbbb-0000-4000-8000-000000000001";
    const DILL: &str = "44444444-4444-4444-8444-444444444444";
    const ELM: &str = "55555555-5555-4555-8555-555555555555";

    async fn private_join(user: &str, channel: &str) -> Value {
        let mut c = Client::connect(user, Vsn::V2).await;
        let (_, reply) = c.join_payload(&format!("realtime:{channel}"), private()).await;
        Value::Object(reply)
    }

    #[tokio::test]
    async fn a_conversation_channel_is_for_its_participants() {
        assert_eq!(private_join(BASIL, &format!("conversation:{THREAD}")).await["status"], "ok");
        let refused = private_join(ELM, &format!("conversation:{THREAD}")).await;
        assert_eq!(
            refused["response"]["reason"],
            format!("Unauthorized: You do not have permissions to read from this Channel topic: conversation:{THREAD}")
        );
    }

    #[tokio::test]
    async fn a_group_channel_is_for_its_active_members() {
        assert_eq!(private_join(DILL, &format!("group:{GROUP}")).await["status"], "ok");
        assert_eq!(private_join(ELM, &format!("group:{GROUP}")).await["status"], "error");
        assert_eq!(private_join(ELM, "group:not-a-uuid").await["status"], "error", "odd names are refused, not errors");
    }
}
