//! The attack suite, tokens: forged, stale, premature, odd and oversized JWTs at every
//! door (the upgrade of both sockets, a join's `access_token`, a token refresh). Each
//! case asserts the refusal and that the server still serves a fresh client afterwards.

use e2e::{assert_still_serving, now, refused_upgrade, refused_upgrade_at, sign, unique_topic, Client, ADA};
use edge_auth::asymmetric::{mint, public_jwk, KeyKind};
use realtime_protocol::Vsn;
use serde_json::{json, Value};

const EC_PEM: &str = include_str!("../../../functions/auth/testdata/es256-test-only.pem");
const RSA_PEM: &str = include_str!("../../../functions/auth/testdata/rs256-test-only.pem");

fn b64(value: &Value) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = value.to_string().into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn ada(extra: Value) -> Value {
    let mut claims = json!({"sub": ADA, "role": "authenticated", "aud": "authenticated", "exp": now() + 600});
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
    }
    claims
}

/// Every forged or invalid token, with the refusal message of an upgrade.
fn forgeries() -> Vec<(&'static str, String, &'static str)> {
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&ada(json!({}))));
    // Algorithm confusion: HS256 "signed" with the RSA key's public JWK as the secret.
    let public = public_jwk(KeyKind::Rs256, RSA_PEM, "test-rsa").expect("a public JWK").to_string();
    let confused = edge_auth::mint_hs256(public.as_bytes(), &ada(json!({}))).expect("signing");
    let kid_swap = mint(KeyKind::Rs256, RSA_PEM, "test-ec", &ada(json!({}))).expect("signing");
    let unknown_kid = mint(KeyKind::Es256, EC_PEM, "not-a-project-key", &ada(json!({}))).expect("signing");
    let wrong_key =
        edge_auth::mint_hs256(b"not-the-project-secret-not-the-project-secret", &ada(json!({}))).expect("signing");
    let big = json!({"roles": "x".repeat(5000)});
    vec![
        ("alg none", alg_none, "The token provided is not a valid JWT"),
        ("HS256 signed with the public key", confused, "Failed to validate JWT signature"),
        ("RS256 under the EC key's kid", kid_swap, "The token provided is not a valid JWT"),
        ("ES256 under an unknown kid", unknown_kid, "Failed to validate JWT signature"),
        ("wrong secret", wrong_key, "Failed to validate JWT signature"),
        ("expired", sign(&ada(json!({"exp": now() - 10}))), "Token has expired"),
        ("nbf ahead", sign(&ada(json!({"nbf": now() + 300}))), "Token is not valid yet"),
        (
            "string exp",
            sign(&ada(json!({"exp": (now() + 600).to_string()}))),
            "Fields `role` and `exp` are required in JWT",
        ),
        ("no role", sign(&ada(json!({"role": null}))), "Fields `role` and `exp` are required in JWT"),
        ("no aud", sign(&ada(json!({"aud": null}))), "The token provided is not a valid JWT"),
        ("oversized claims", sign(&ada(json!({"app_metadata": big}))), "Token claims are too large"),
    ]
}

#[tokio::test]
async fn forged_and_invalid_tokens_are_refused_at_both_upgrades_with_401_and_a_reason() {
    for (case, token, message) in forgeries() {
        let r = refused_upgrade(&format!("apikey={token}&vsn=2.0.0")).await;
        assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!(message)), "multiplexed socket, {case}");
        let direct = format!("apikey={token}&vsn=2.0.0&topic=realtime:garden");
        let r = refused_upgrade_at("/realtime/v1/channel/websocket", &direct, &[]).await;
        assert_eq!((r.status, &r.body["error"]["message"]), (401, &json!(message)), "direct socket, {case}");
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn forged_and_invalid_tokens_are_refused_as_a_join_access_token() {
    let mut c = Client::connect(ADA, Vsn::V2).await;
    for (case, token, _) in forgeries() {
        let topic = unique_topic("forged-join");
        let (_, reply) = c.join_payload(&topic, json!({"config": {}, "access_token": token})).await;
        assert_eq!(reply["status"], "error", "{case}");
        let reason = reply["response"]["reason"].as_str().unwrap_or_default().to_string();
        assert!(reason.starts_with("InvalidJWTToken:") || reason.starts_with("MalformedJWT:"), "{case}: {reason}");
    }
    // More refusals than the socket has channel slots: refused joins hold none.
    c.join(&unique_topic("after-refusals"), json!({})).await;
    assert_still_serving().await;
}

#[tokio::test]
async fn a_refresh_with_a_forged_token_closes_the_channel_with_a_system_error() {
    for (case, token, _) in forgeries().into_iter().take(6) {
        let topic = unique_topic("forged-refresh");
        let mut c = Client::connect(ADA, Vsn::V2).await;
        let join_ref = c.join(&topic, json!({})).await;
        c.push(&topic, "access_token", json!({"access_token": token}), Some(&join_ref)).await;
        let system = c.recv_until("the system error", |f| f.event == "system").await;
        assert_eq!(system.payload["status"], "error", "{case}");
        c.recv_until("phx_close", |f| f.event == "phx_close").await;
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn a_fractional_exp_is_honoured_to_the_second_and_the_channel_stays_open() {
    let token = sign(&ada(json!({"exp": (now() + 600) as f64 + 0.5})));
    let topic = unique_topic("float-exp");
    let mut c = Client::connect_with_token(&token, Vsn::V2).await;
    let join_ref = c.join(&topic, json!({"broadcast": {"self": true}})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    c.push(&topic, "broadcast", json!({"type": "broadcast", "event": "e", "payload": {"n": 1}}), Some(&join_ref)).await;
    let got =
        c.recv_until("its own broadcast, not a system close", |f| f.event == "broadcast" || f.event == "system").await;
    assert_eq!(got.event, "broadcast", "the channel was not closed as expired: {got:?}");
}

#[tokio::test]
async fn a_token_with_large_user_metadata_connects_and_joins_its_private_inbox() {
    // user_metadata is not carried into the policies, so its size does not matter.
    let token = sign(&ada(json!({"user_metadata": {"bio": "x".repeat(20_000)}})));
    let mut c = Client::connect_with_token(&token, Vsn::V2).await;
    c.join(&format!("realtime:user:{ADA}"), json!({"private": true})).await;
    let direct_topic = format!("realtime:user:{ADA}");
    let mut d = Client::connect_direct(&token, &direct_topic, true, Vsn::V2).await;
    d.join(&direct_topic, json!({"private": true})).await;
}

#[tokio::test]
async fn a_sub_that_is_not_a_uuid_is_a_policy_refusal_not_a_database_outage() {
    let token =
        sign(&json!({"sub": "not-a-uuid", "role": "authenticated", "aud": "authenticated", "exp": now() + 600}));
    let mut c = Client::connect_with_token(&token, Vsn::V2).await;
    let (_, reply) = c.join_reply("realtime:user:not-a-uuid", json!({"private": true})).await;
    let reason = reply["response"]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("Unauthorized: The access policies could not evaluate this token"), "{reason}");
    let (_, reply) = c.join_reply("realtime:garden\u{0}", json!({})).await;
    assert_eq!(
        reply["response"]["reason"],
        "InvalidTopic: Topic names are at most 246 bytes, without control characters"
    );
    assert_still_serving().await;
}

#[tokio::test]
async fn claims_just_under_the_limit_full_of_characters_to_escape_work_on_both_sockets() {
    // app_metadata is carried to the policies; quotes and non-ASCII text grow on every
    // encoding the identity goes through between Worker and room.
    let mut claims = ada(json!({}));
    let budget = edge_auth::MAX_POLICY_CLAIMS_BYTES - claims.to_string().len() - 64;
    // Each of these characters takes two bytes in JSON.
    let filler: String = "\"é\\".chars().cycle().take(budget / 2).collect();
    claims["app_metadata"] = json!({"note": filler});
    let size = claims.to_string().len();
    assert!(size > 3800 && size <= edge_auth::MAX_POLICY_CLAIMS_BYTES, "claims of {size} bytes");
    let token = sign(&claims);
    let inbox = format!("realtime:user:{ADA}");
    let mut relayed = Client::connect_with_token(&token, Vsn::V2).await;
    relayed.join(&inbox, json!({"private": true})).await;
    let mut direct = Client::connect_direct(&token, &inbox, true, Vsn::V2).await;
    direct.join(&inbox, json!({"private": true})).await;
}
