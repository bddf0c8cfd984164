//! Who is behind a channel: what a room needs of a verified token, derived once from it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The verified `sub`; None for the project's anon key.
    pub user_id: Option<String>,
    pub role: String,
    /// Token expiry, seconds since the epoch.
    pub exp: u64,
    /// The claims the access policies see (`request.jwt.claims`), bounded by the verifier
    /// (`edge_auth::MAX_POLICY_CLAIMS_BYTES`) so they fit a socket's attachment.
    pub claims: String,
}

impl Identity {
    /// What counts as one user for the users-per-channel limit: the user id, or the
    /// connection for anonymous sockets (each anonymous connection is its own user).
    pub fn user_key(&self, conn_id: &str) -> String {
        match &self.user_id {
            Some(id) => format!("user:{id}"),
            None => format!("conn:{conn_id}"),
        }
    }

    /// The database role this identity's statements run as, from an allow-list: a token's
    /// `role` claim is never put into SQL verbatim. `None` for a role no policy is written
    /// for (anything else a token might carry); the service role bypasses policies.
    pub fn pg_role(&self) -> Option<PgRole> {
        match self.role.as_str() {
            "anon" => Some(PgRole::Anon),
            "authenticated" => Some(PgRole::Authenticated),
            "service_role" => Some(PgRole::ServiceRole),
            _ => None,
        }
    }

    /// The system itself, for work no caller asked for (a user's global presence): the
    /// service role, whose claims say only that.
    pub fn service() -> Identity {
        Identity {
            user_id: None,
            role: "service_role".into(),
            exp: u64::MAX,
            claims: r#"{"role":"service_role"}"#.into(),
        }
    }

    /// The user this identity signs in, for global presence: a user's token, not the
    /// anon key or the service role.
    pub fn signed_in_user(&self) -> Option<&str> {
        self.user_id.as_deref().filter(|_| self.role == "authenticated")
    }

    /// Whose access decision this is, for remembering it: the role and the user.
    pub fn access_key(&self) -> String {
        format!("{}/{}", self.role, self.user_id.as_deref().unwrap_or(""))
    }
}

impl From<&edge_auth::Claims> for Identity {
    fn from(claims: &edge_auth::Claims) -> Identity {
        Identity {
            user_id: claims.sub.clone(),
            role: claims.role.clone(),
            exp: claims.exp,
            claims: claims.policy_claims.clone(),
        }
    }
}

/// The roles a verified token may act as in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgRole {
    Anon,
    Authenticated,
    ServiceRole,
}

impl PgRole {
    /// The role's name, for `set local role`.
    pub fn name(self) -> &'static str {
        match self {
            PgRole::Anon => "anon",
            PgRole::Authenticated => "authenticated",
            PgRole::ServiceRole => "service_role",
        }
    }
}
