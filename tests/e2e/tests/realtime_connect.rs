//! The upgrade to /realtime/v1/websocket: who is let in, and how refusals read.

use e2e::{now, refused_upgrade, sign, user_token, Client, ADA};
use realtime_protocol::Vsn;
use serde_json::json;

#[tokio::test]
async fn a_missing_apikey_is_refused_with_401() {
    let r = refused_upgrade("vsn=2.0.0").await;
    assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!("API key is missing")));
}

#[tokio::test]
async fn an_expired_apikey_is_refused_with_401() {
    let token = sign(&json!({"sub": ADA, "role": "authenticated", "aud": "authenticated", "exp": now() - 30}));
    let r = refused_upgrade(&format!("apikey={token}&vsn=2.0.0")).await;
    assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!("Token has expired")));
}

#[tokio::test]
async fn a_malformed_apikey_is_refused_with_401() {
    for garbage in ["not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.eyJ9.x"] {
        let r = refused_upgrade(&format!("apikey={garbage}&vsn=2.0.0")).await;
        assert_eq!(
            (r.status, &r.body["error"]["message"]),
            (401, &json!("The token provided is not a valid JWT")),
            "{garbage}"
        );
    }
}

#[tokio::test]
async fn an_apikey_signed_with_another_secret_is_refused_with_401() {
    let claims = json!({"sub": ADA, "role": "authenticated", "aud": "authenticated", "exp": now() + 600});
    let forged = edge_auth::mint_hs256(b"an-attacker-secret-that-is-long-enough-to-sign", &claims).unwrap();
    let r = refused_upgrade(&format!("apikey={forged}&vsn=2.0.0")).await;
    assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!("Failed to validate JWT signature")));
}

#[tokio::test]
async fn an_apikey_without_role_is_refused_with_401() {
    let token = sign(&json!({"sub": ADA, "exp": now() + 600}));
    let r = refused_upgrade(&format!("apikey={token}&vsn=2.0.0")).await;
    assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!("Fields `role` and `exp` are required in JWT")));
}

#[tokio::test]
async fn an_unknown_protocol_version_is_refused_with_400() {
    let r = refused_upgrade(&format!("apikey={}&vsn=9.9.9", user_token(ADA))).await;
    assert_eq!((r.status, &r.body["error"]["message"]), (400, &json!("Unsupported protocol version")));
}

#[tokio::test]
async fn the_anon_key_connects() {
    let anon = sign(&json!({"role": "anon", "iss": "supabase-demo", "exp": now() + 600}));
    let mut client = Client::connect_with_token(&anon, Vsn::V2).await;
    let r = client.push("phoenix", "heartbeat", json!({}), None).await;
    assert_eq!(client.reply_to(&r).await["status"], "ok");
}

#[tokio::test]
async fn heartbeats_are_answered_in_both_framings() {
    for vsn in [Vsn::V1, Vsn::V2] {
        let mut client = Client::connect(ADA, vsn).await;
        let r = client.push("phoenix", "heartbeat", json!({}), None).await;
        let reply = client.recv_frame().await;
        assert_eq!(reply.topic, "phoenix");
        assert_eq!(reply.event, "phx_reply");
        assert_eq!(reply.msg_ref.as_deref(), Some(r.as_str()));
        assert_eq!(serde_json::Value::Object(reply.payload), json!({"status": "ok", "response": {}}));
        client.close().await;
    }
}

#[tokio::test]
async fn a_missing_vsn_means_1_0_0() {
    let url = e2e::ws_url(&format!("apikey={}", user_token(ADA)));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("upgrade");
    use futures_util::{SinkExt, StreamExt};
    let heartbeat = json!({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "7"});
    ws.send(tokio_tungstenite::tungstenite::Message::text(heartbeat.to_string())).await.unwrap();
    let reply = ws.next().await.expect("a reply").expect("readable");
    let reply: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(
        reply,
        json!({"topic": "phoenix", "event": "phx_reply", "payload": {"status": "ok", "response": {}}, "ref": "7"})
    );
}

#[tokio::test]
async fn the_apikey_may_come_in_the_x_api_key_header() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = e2e::ws_url("vsn=2.0.0").into_client_request().unwrap();
    request.headers_mut().insert("x-api-key", user_token(ADA).parse().unwrap());
    let (_, response) = tokio_tungstenite::connect_async(request).await.expect("upgrade with x-api-key");
    assert_eq!(response.status().as_u16(), 101);
    // And a bad one there is refused like a bad query parameter.
    let r = e2e::refused_upgrade_with("vsn=2.0.0", &[("x-api-key", "garbage")]).await;
    assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!("The token provided is not a valid JWT")));
}

mod jwks {
    use super::*;
    use edge_auth::asymmetric::{mint, KeyKind};

    const EC_PEM: &str = include_str!("../../../functions/auth/testdata/es256-test-only.pem");
    const RSA_PEM: &str = include_str!("../../../functions/auth/testdata/rs256-test-only.pem");

    fn claims() -> serde_json::Value {
        json!({"sub": ADA, "role": "authenticated", "aud": "authenticated", "exp": now() + 600})
    }

    #[tokio::test]
    async fn es256_and_rs256_tokens_from_the_configured_jwks_connect() {
        for (kind, pem, kid) in [(KeyKind::Es256, EC_PEM, "test-ec"), (KeyKind::Rs256, RSA_PEM, "test-rsa")] {
            let token = mint(kind, pem, kid, &claims()).unwrap();
            let mut client = Client::connect_with_token(&token, Vsn::V2).await;
            let r = client.push("phoenix", "heartbeat", json!({}), None).await;
            assert_eq!(client.reply_to(&r).await["status"], "ok", "{kid}");
        }
    }

    #[tokio::test]
    async fn an_unknown_kid_or_an_algorithm_that_does_not_match_the_key_is_refused() {
        let unknown = mint(KeyKind::Es256, EC_PEM, "who-knows", &claims()).unwrap();
        let r = refused_upgrade(&format!("apikey={unknown}&vsn=2.0.0")).await;
        assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!("Failed to validate JWT signature")));
        let confused = mint(KeyKind::Rs256, RSA_PEM, "test-ec", &claims()).unwrap();
        let r = refused_upgrade(&format!("apikey={confused}&vsn=2.0.0")).await;
        assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!("The token provided is not a valid JWT")));
    }
}
