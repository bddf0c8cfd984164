//! `devtool jwt --sub <uuid> [--role authenticated] [--ttl 3600] [--email e]`
//!   Mints an HS256 token signed with `JWT_SECRET` (from the environment) for local
//!   development, shaped like the tokens Supabase Auth issues.
//! `devtool jwks [--es256 PEM KID] [--rs256 PEM KID]`
//!   Prints the JWKS (public keys) of PKCS#8 private keys, for the test stack's `JWKS`.
//!
//! Never used by the edge.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    if let Err(message) = run(std::env::args().skip(1).collect()) {
        eprintln!("devtool: {message}");
        eprintln!("usage: devtool jwt [--sub UUID] [--role ROLE] [--ttl SECONDS] [--email EMAIL]");
        eprintln!("       devtool jwks [--es256 PEM KID] [--rs256 PEM KID]");
        std::process::exit(2);
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or("missing command")?;
    match command.as_str() {
        "jwt" => jwt(rest),
        "jwks" => jwks(rest),
        other => Err(format!("unknown command {other:?}")),
    }
}

fn jwks(rest: &[String]) -> Result<(), String> {
    use edge_auth::asymmetric::{public_jwk, KeyKind};
    let mut keys = Vec::new();
    for chunk in rest.chunks(3) {
        let [flag, path, kid] = chunk else { return Err("jwks takes --es256|--rs256 PEM KID triples".into()) };
        let kind = match flag.as_str() {
            "--es256" => KeyKind::Es256,
            "--rs256" => KeyKind::Rs256,
            other => return Err(format!("unknown flag {other}")),
        };
        let pem = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        keys.push(public_jwk(kind, &pem, kid)?);
    }
    println!("{}", serde_json::json!({ "keys": keys }));
    Ok(())
}

fn jwt(rest: &[String]) -> Result<(), String> {
    let mut sub = None;
    let mut email = None;
    let mut role = "authenticated".to_string();
    let mut ttl: u64 = 3600;
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sub" => sub = Some(value.clone()),
            "--email" => email = Some(value.clone()),
            "--role" => role = value.clone(),
            "--ttl" => ttl = value.parse().map_err(|_| "--ttl takes seconds")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let secret = std::env::var("JWT_SECRET").map_err(|_| "JWT_SECRET is not set")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let mut claims = serde_json::json!({
        "iss": "supabase-demo",
        "role": role,
        "iat": now,
        "exp": now + ttl,
    });
    if role == "authenticated" {
        claims["aud"] = "authenticated".into();
    }
    if let Some(sub) = sub {
        claims["sub"] = sub.into();
    }
    if let Some(email) = email {
        claims["email"] = email.into();
    }
    let token = edge_auth::mint_hs256(secret.as_bytes(), &claims).map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}
