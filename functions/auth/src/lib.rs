//! JWT verification for every door of the edge (the realtime upgrade, channel joins,
//! token refresh, edge functions), kept free of platform code so it is tested natively.
//!
//! Map of the crate:
//! - [`Verifier`]: checks a token against the project's keys (HS256 secret, JWKS of ES256
//!   and RS256 keys by `kid`) and returns [`Claims`].
//! - [`AuthError`]: why a token is refused, mapped onto the protocol's refusals.
//! - [`mint_hs256`], [`asymmetric`]: sign tokens (and make JWKs) for development and tests.
//!
//! Rules, the same everywhere: the algorithm is pinned per key (HS256 for the shared
//! secret, the JWK's own `alg` for each asymmetric key), `exp` and `role` are required, `aud` must be `authenticated` for the
//! `authenticated` role, and the clock is passed in, never read here.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use realtime_protocol::ConnectRefusal;
use serde_json::{Map, Value};

/// The verified contents of a token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// The user id (`sub`); absent for the project's anon and service keys.
    pub sub: Option<String>,
    pub role: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// The signed claims without `user_metadata`, as JSON, at most
    /// [`MAX_POLICY_CLAIMS_BYTES`]: what `request.jwt.claims` is set to in Postgres.
    pub policy_claims: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token uses an algorithm this key does not allow")]
    AlgorithmNotAllowed,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the token has no `role` or no `exp`")]
    MissingRoleOrExp,
    #[error("the token expired {0} seconds ago")]
    Expired(u64),
    #[error("the token's audience is not `authenticated`")]
    WrongAudience,
    #[error("the token's `nbf` is in the future")]
    NotYetValid,
    #[error("the token's claims are over {MAX_POLICY_CLAIMS_BYTES} bytes")]
    ClaimsTooLarge,
}

impl AuthError {
    /// How the realtime upgrade refuses this token.
    pub fn connect_refusal(&self) -> ConnectRefusal {
        match self {
            AuthError::Malformed | AuthError::AlgorithmNotAllowed | AuthError::WrongAudience => ConnectRefusal::NotAJwt,
            AuthError::BadSignature => ConnectRefusal::BadSignature,
            AuthError::MissingRoleOrExp => ConnectRefusal::RoleAndExpRequired,
            AuthError::Expired(_) => ConnectRefusal::TokenExpired,
            AuthError::NotYetValid => ConnectRefusal::NotYetValid,
            AuthError::ClaimsTooLarge => ConnectRefusal::ClaimsTooLarge,
        }
    }
}

/// Verifies tokens against the project's keys: the shared secret (HS256) and, when
/// configured, a JWKS of asymmetric keys (ES256, RS256) chosen by `kid`. Each key
/// accepts only its own algorithm.
#[derive(Clone, Default)]
pub struct Verifier {
    secret: Option<DecodingKey>,
    keys: Vec<(String, Algorithm, DecodingKey)>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(kid, _, _)| kid.as_str()).collect();
        write!(f, "Verifier {{ secret: {}, kids: {kids:?} }}", if self.secret.is_some() { "<hidden>" } else { "none" })
    }
}

/// Why a JWKS could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JWKS: {0}")]
pub struct JwksError(String);

impl Verifier {
    pub fn hs256(secret: &[u8]) -> Verifier {
        Verifier { secret: Some(DecodingKey::from_secret(secret)), keys: Vec::new() }
    }

    /// Adds the ES256 and RS256 keys of a JWKS document (`{"keys": [...]}`). Every key
    /// needs a `kid` and an `alg`; keys of other algorithms are refused, not ignored.
    pub fn with_jwks(mut self, jwks: &str) -> Result<Verifier, JwksError> {
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(jwks).map_err(|e| JwksError(e.to_string()))?;
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone().ok_or_else(|| JwksError("a key has no kid".into()))?;
            let alg = match jwk.common.key_algorithm.map(|a| a.to_string()).as_deref() {
                Some("ES256") => Algorithm::ES256,
                Some("RS256") => Algorithm::RS256,
                other => return Err(JwksError(format!("key {kid}: algorithm {other:?} is not ES256 or RS256"))),
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| JwksError(format!("key {kid}: {e}")))?;
            self.keys.push((kid, alg, key));
        }
        Ok(self)
    }

    /// Verifies `token` at time `now` (seconds since the epoch).
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let key = match header.alg {
            Algorithm::HS256 => self.secret.as_ref().ok_or(AuthError::AlgorithmNotAllowed)?,
            Algorithm::ES256 | Algorithm::RS256 => {
                let kid = header.kid.as_deref().ok_or(AuthError::BadSignature)?;
                let (_, alg, key) = self.keys.iter().find(|(k, _, _)| k == kid).ok_or(AuthError::BadSignature)?;
                // The algorithm is the key's, never the token's choice.
                if *alg != header.alg {
                    return Err(AuthError::AlgorithmNotAllowed);
                }
                key
            }
            _ => return Err(AuthError::AlgorithmNotAllowed),
        };
        // Time and audience are checked below, with the caller's clock and our own
        // messages; the library only checks structure and signature.
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => AuthError::BadSignature,
            _ => AuthError::Malformed,
        })?;
        claims_from(data.claims, now)
    }
}

/// Largest `request.jwt.claims` the edge carries for a token, in bytes, once
/// `user_metadata` is left out (users can write it themselves, so no policy may trust it,
/// and it is the part that grows). Rooms keep these claims with each socket, in an
/// attachment of at most 16 KB; a token over this is refused rather than half-stored.
pub const MAX_POLICY_CLAIMS_BYTES: usize = 4096;

/// The latest `exp` accepted (year 5138): later values would overflow the millisecond
/// timers that close expired channels.
const MAX_EXP: u64 = 100_000_000_000;

/// A NumericDate claim: RFC 7519 allows fractions, which count down to the second.
/// Anything else (a string, a negative number) is not a date.
fn numeric_date(value: Option<&Value>) -> Option<Option<u64>> {
    match value {
        None => Some(None),
        Some(v) => v.as_u64().or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64)).map(Some),
    }
}

fn claims_from(raw: Map<String, Value>, now: u64) -> Result<Claims, AuthError> {
    let role = raw.get("role").and_then(Value::as_str).map(str::to_string);
    let exp = numeric_date(raw.get("exp")).flatten();
    let (Some(role), Some(exp)) = (role, exp) else {
        return Err(AuthError::MissingRoleOrExp);
    };
    if exp > MAX_EXP {
        return Err(AuthError::Malformed);
    }
    if exp <= now {
        return Err(AuthError::Expired(now - exp));
    }
    match numeric_date(raw.get("nbf")) {
        None => return Err(AuthError::Malformed),
        Some(Some(nbf)) if nbf > now => return Err(AuthError::NotYetValid),
        Some(_) => {}
    }
    if role == "authenticated" && !audience_includes(raw.get("aud"), "authenticated") {
        return Err(AuthError::WrongAudience);
    }
    let sub = match raw.get("sub") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(AuthError::Malformed),
    };
    let mut policy = raw;
    policy.remove("user_metadata");
    let policy_claims = Value::Object(policy).to_string();
    if policy_claims.len() > MAX_POLICY_CLAIMS_BYTES {
        return Err(AuthError::ClaimsTooLarge);
    }
    Ok(Claims { sub, role, exp, policy_claims })
}

fn audience_includes(aud: Option<&Value>, wanted: &str) -> bool {
    match aud {
        Some(Value::String(s)) => s == wanted,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(wanted)),
        _ => false,
    }
}

/// Signs `claims` with HS256. For development tools and tests; the edge never mints.
pub fn mint_hs256(secret: &[u8], claims: &Value) -> Result<String, AuthError> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
        .map_err(|_| AuthError::Malformed)
}

/// Test and tooling support for asymmetric keys (PKCS#8 PEM private keys).
#[cfg(any(test, feature = "mint"))]
pub mod asymmetric {
    use super::*;

    /// The algorithm a test key signs with.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum KeyKind {
        Es256,
        Rs256,
    }

    fn encoding_key(kind: KeyKind, pem: &str) -> Result<(EncodingKey, Algorithm), String> {
        match kind {
            KeyKind::Es256 => EncodingKey::from_ec_pem(pem.as_bytes()).map(|k| (k, Algorithm::ES256)),
            KeyKind::Rs256 => EncodingKey::from_rsa_pem(pem.as_bytes()).map(|k| (k, Algorithm::RS256)),
        }
        .map_err(|e| e.to_string())
    }

    /// Signs `claims` with a private key, naming it `kid`.
    pub fn mint(kind: KeyKind, pem: &str, kid: &str, claims: &Value) -> Result<String, String> {
        let (key, alg) = encoding_key(kind, pem)?;
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| e.to_string())
    }

    /// The public JWK of a private key, with its `kid` and `alg`.
    pub fn public_jwk(kind: KeyKind, pem: &str, kid: &str) -> Result<Value, String> {
        let (key, alg) = encoding_key(kind, pem)?;
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, alg).map_err(|e| e.to_string())?;
        jwk.common.key_id = Some(kid.to_string());
        serde_json::to_value(jwk).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";
    const NOW: u64 = 1_800_000_000;

    fn token(claims: Value) -> String {
        mint_hs256(SECRET, &claims).unwrap()
    }

    fn user(exp: u64) -> Value {
        json!({"sub": "7b0c5a4e-0000-4000-8000-000000000001", "role": "authenticated", "aud": "authenticated", "exp": exp})
    }

    #[test]
    fn a_valid_user_token_yields_its_claims() {
        let claims = Verifier::hs256(SECRET).verify(&token(user(NOW + 60)), NOW).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("7b0c5a4e-0000-4000-8000-000000000001"));
        assert_eq!(claims.role, "authenticated");
        assert_eq!(claims.exp, NOW + 60);
    }

    #[test]
    fn an_anon_key_without_aud_or_sub_is_accepted() {
        let claims = Verifier::hs256(SECRET).verify(&token(json!({"role": "anon", "exp": NOW + 1})), NOW).unwrap();
        assert_eq!((claims.sub, claims.role.as_str()), (None, "anon"));
    }

    #[test]
    fn an_expired_token_says_how_long_ago() {
        assert_eq!(Verifier::hs256(SECRET).verify(&token(user(NOW - 30)), NOW), Err(AuthError::Expired(30)));
        assert_eq!(Verifier::hs256(SECRET).verify(&token(user(NOW)), NOW), Err(AuthError::Expired(0)));
    }

    #[test]
    fn role_and_exp_are_required() {
        let v = Verifier::hs256(SECRET);
        assert_eq!(v.verify(&token(json!({"role": "anon"})), NOW), Err(AuthError::MissingRoleOrExp));
        assert_eq!(v.verify(&token(json!({"exp": NOW + 10})), NOW), Err(AuthError::MissingRoleOrExp));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let other = mint_hs256(b"another-secret-another-secret-another-secret", &user(NOW + 60)).unwrap();
        assert_eq!(Verifier::hs256(SECRET).verify(&other, NOW), Err(AuthError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed() {
        let v = Verifier::hs256(SECRET);
        for bad in ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30", "....."] {
            assert_eq!(v.verify(bad, NOW), Err(AuthError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn the_algorithm_is_pinned() {
        use base64::Engine;
        // alg "none", and HS384 signed with the right secret: both refused.
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!("{}.{}.", b64(json!({"alg": "none", "typ": "JWT"})), b64(user(NOW + 60)));
        assert_eq!(Verifier::hs256(SECRET).verify(&none, NOW), Err(AuthError::Malformed));
        let hs384 =
            jsonwebtoken::encode(&Header::new(Algorithm::HS384), &user(NOW + 60), &EncodingKey::from_secret(SECRET))
                .unwrap();
        assert_eq!(Verifier::hs256(SECRET).verify(&hs384, NOW), Err(AuthError::AlgorithmNotAllowed));
    }

    #[test]
    fn authenticated_tokens_need_the_authenticated_audience() {
        let v = Verifier::hs256(SECRET);
        let no_aud = json!({"sub": "u", "role": "authenticated", "exp": NOW + 9});
        assert_eq!(v.verify(&token(no_aud), NOW), Err(AuthError::WrongAudience));
        let wrong = json!({"sub": "u", "role": "authenticated", "aud": "other", "exp": NOW + 9});
        assert_eq!(v.verify(&token(wrong), NOW), Err(AuthError::WrongAudience));
        let list = json!({"sub": "u", "role": "authenticated", "aud": ["x", "authenticated"], "exp": NOW + 9});
        assert!(v.verify(&token(list), NOW).is_ok());
    }

    const EC_PEM: &str = include_str!("../testdata/es256-test-only.pem");
    const RSA_PEM: &str = include_str!("../testdata/rs256-test-only.pem");

    fn jwks_verifier() -> Verifier {
        use asymmetric::{public_jwk, KeyKind};
        let jwks = json!({"keys": [
            public_jwk(KeyKind::Es256, EC_PEM, "ec-1").unwrap(),
            public_jwk(KeyKind::Rs256, RSA_PEM, "rsa-1").unwrap(),
        ]});
        Verifier::hs256(SECRET).with_jwks(&jwks.to_string()).unwrap()
    }

    #[test]
    fn es256_and_rs256_tokens_verify_against_the_jwks_by_kid() {
        use asymmetric::{mint, KeyKind};
        let v = jwks_verifier();
        let es = mint(KeyKind::Es256, EC_PEM, "ec-1", &user(NOW + 60)).unwrap();
        assert_eq!(v.verify(&es, NOW).unwrap().role, "authenticated");
        let rs = mint(KeyKind::Rs256, RSA_PEM, "rsa-1", &user(NOW + 60)).unwrap();
        assert_eq!(v.verify(&rs, NOW).unwrap().role, "authenticated");
        // HS256 keeps working beside the JWKS.
        assert!(v.verify(&token(user(NOW + 60)), NOW).is_ok());
    }

    #[test]
    fn an_unknown_kid_a_missing_kid_or_a_kid_of_another_algorithm_is_refused() {
        use asymmetric::{mint, KeyKind};
        let v = jwks_verifier();
        let unknown = mint(KeyKind::Es256, EC_PEM, "nope", &user(NOW + 60)).unwrap();
        assert_eq!(v.verify(&unknown, NOW), Err(AuthError::BadSignature));
        // An RS256 token presenting the EC key's kid: the key decides the algorithm.
        let confused = mint(KeyKind::Rs256, RSA_PEM, "ec-1", &user(NOW + 60)).unwrap();
        assert_eq!(v.verify(&confused, NOW), Err(AuthError::AlgorithmNotAllowed));
        // An ES256 token naming the RSA key's kid: refused the same way.
        let wrong_key = mint(KeyKind::Es256, EC_PEM, "rsa-1", &user(NOW + 60)).unwrap();
        assert_eq!(v.verify(&wrong_key, NOW), Err(AuthError::AlgorithmNotAllowed));
    }

    #[test]
    fn asymmetric_tokens_are_refused_without_a_jwks_and_the_usual_claim_rules_apply() {
        use asymmetric::{mint, KeyKind};
        let es = mint(KeyKind::Es256, EC_PEM, "ec-1", &user(NOW + 60)).unwrap();
        assert_eq!(Verifier::hs256(SECRET).verify(&es, NOW), Err(AuthError::BadSignature));
        let expired = mint(KeyKind::Es256, EC_PEM, "ec-1", &user(NOW - 5)).unwrap();
        assert_eq!(jwks_verifier().verify(&expired, NOW), Err(AuthError::Expired(5)));
    }

    #[test]
    fn a_jwks_with_keys_of_other_algorithms_or_without_kid_is_refused() {
        let hs = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "h"}]});
        assert!(Verifier::default().with_jwks(&hs.to_string()).is_err());
        let mut no_kid = asymmetric::public_jwk(asymmetric::KeyKind::Es256, EC_PEM, "x").unwrap();
        no_kid.as_object_mut().unwrap().remove("kid");
        assert!(Verifier::default().with_jwks(&json!({"keys": [no_kid]}).to_string()).is_err());
        assert!(Verifier::default().with_jwks("not json").is_err());
    }

    #[test]
    fn a_token_whose_nbf_lies_ahead_is_not_valid_yet() {
        let v = Verifier::hs256(SECRET);
        let mut claims = user(NOW + 60);
        claims["nbf"] = json!(NOW + 30);
        assert_eq!(v.verify(&token(claims.clone()), NOW), Err(AuthError::NotYetValid));
        claims["nbf"] = json!(NOW);
        assert!(v.verify(&token(claims.clone()), NOW).is_ok());
        claims["nbf"] = json!("soon");
        assert_eq!(v.verify(&token(claims), NOW), Err(AuthError::Malformed));
    }

    #[test]
    fn a_fractional_exp_counts_to_the_second_and_a_string_exp_is_no_exp() {
        let v = Verifier::hs256(SECRET);
        let mut claims = user(0);
        claims["exp"] = json!((NOW + 60) as f64 + 0.75);
        assert_eq!(v.verify(&token(claims.clone()), NOW).unwrap().exp, NOW + 60);
        claims["exp"] = json!((NOW + 60).to_string());
        assert_eq!(v.verify(&token(claims.clone()), NOW), Err(AuthError::MissingRoleOrExp));
        claims["exp"] = json!(-5.0);
        assert_eq!(v.verify(&token(claims.clone()), NOW), Err(AuthError::MissingRoleOrExp));
        claims["exp"] = json!(1e300);
        assert_eq!(v.verify(&token(claims), NOW), Err(AuthError::Malformed));
    }

    #[test]
    fn policy_claims_leave_out_user_metadata_and_are_bounded() {
        let v = Verifier::hs256(SECRET);
        let mut claims = user(NOW + 60);
        claims["user_metadata"] = json!({"bio": "x".repeat(20_000)});
        let verified = v.verify(&token(claims.clone()), NOW).unwrap();
        let policy: Value = serde_json::from_str(&verified.policy_claims).unwrap();
        assert_eq!(policy["sub"], claims["sub"]);
        assert!(policy.get("user_metadata").is_none());
        claims["app_metadata"] = json!({"roles": "x".repeat(MAX_POLICY_CLAIMS_BYTES)});
        assert_eq!(v.verify(&token(claims), NOW), Err(AuthError::ClaimsTooLarge));
    }

    #[test]
    fn a_sub_that_is_not_a_string_is_malformed() {
        let mut claims = user(NOW + 60);
        claims["sub"] = json!(42);
        assert_eq!(Verifier::hs256(SECRET).verify(&token(claims), NOW), Err(AuthError::Malformed));
    }

    #[test]
    fn refusals_map_onto_the_protocol_messages() {
        assert_eq!(AuthError::Expired(3).connect_refusal().message(), "Token has expired");
        assert_eq!(AuthError::BadSignature.connect_refusal().message(), "Failed to validate JWT signature");
        assert_eq!(AuthError::Malformed.connect_refusal().message(), "The token provided is not a valid JWT");
    }
}
