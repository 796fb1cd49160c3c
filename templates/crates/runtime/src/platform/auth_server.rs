//! The auth service: users with Argon2id password hashes, OAuth 2 token endpoint, signing keys
//! and their JWKS, in the service's own Postgres database (tables `auth_*`, created by the
//! generated `platform/auth/migrations/0001_auth.sql`).
//!
//! | route | does |
//! |---|---|
//! | `POST /oauth/token` | `grant_type=password` (username, password), `refresh_token`, `client_credentials` (client id and secret, form or HTTP Basic) → access token (EdDSA JWT with `kid`, roles, `aud`), and a refresh token for users |
//! | `POST /oauth/revoke` | revokes a refresh token or a session (RFC 7009: always 200) |
//! | `GET /.well-known/jwks.json` | the public keys: the active one and those retired less than an access-token lifetime ago |
//! | `GET /userinfo` | the bearer's claims |
//! | `POST /users`, `POST /clients` | (role `admin`) create a user or a client with roles of `[auth].roles` |
//! | `POST /users/me/password` | the bearer changes their password (`current_password`, `new_password`); their refresh tokens and sessions end |
//! | `PATCH /users/{username}` | (role `admin`) set `password`, `disabled` or `roles`; a new password or disabling ends the user's refresh tokens and sessions |
//! | `POST /admin/keys/rotate` | (role `admin`) a new signing key; the old one stays published until its tokens expire, or, with `?revoke=true`, leaves the JWKS at once |
//!
//! **Service identities**: every process of the system (`AuthConfig::processes`) gets a client
//! named after it, provisioned at start from the secret the auth service is given by reference
//! (`APP_CLIENT_SECRET_<PROCESS>`, the same value the process gets as `APP_CLIENT_SECRET`). Its
//! `client_credentials` tokens carry `svc` = the process and no role; `POST /clients` cannot
//! take a process's name.
//!
//! Refresh tokens are opaque, stored as SHA-256 hashes, single use: each refresh revokes the
//! presented token and issues a new one; presenting a revoked token again (a stolen token
//! replayed) revokes every refresh token of that user. The first admin comes from the settings
//! `admin-username` (default `admin`) and `admin-password` (give it as `APP_ADMIN_PASSWORD`).
//!
//! With `sessions = "redis"` ([`crate::platform::sessions`]) users get an opaque session token as
//! their access token; the JWT stays in Redis for the gateway. Client-credentials tokens stay JWTs
//! (machines call services directly). Revoking a session, or replaying a refresh token, ends the
//! session(s) at once.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use sqlx::PgPool;

use crate::security::jwt::{Claims, Jwks, Signer, Verifier, now_secs, random_seed};

/// What the blueprint's `[auth]` says, and who the tokens are for.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `iss` of every token.
    pub issuer: String,
    /// `aud` of every token: the system name.
    pub audience: String,
    pub roles: Vec<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// The system's processes: each gets a client (its service identity) whose secret is the
    /// setting `client-secret-<process>` (`APP_CLIENT_SECRET_<PROCESS>`).
    pub processes: Vec<String>,
}

/// The marker role of a provisioned service client. It never appears in a token (the token
/// carries `svc` instead) and no blueprint role can be spelled so (roles are lowercase words),
/// so `POST /clients` can never grant it.
const SERVICE_CLIENT: &str = "@service";

/// The setting that holds the secret of process `name`'s identity.
pub fn secret_setting(name: &str) -> String {
    format!("client_secret_{}", name.replace('-', "_"))
}

/// Creates or updates the client of every process that has a secret in `settings`, so each
/// process can prove who it is. Returns the processes provisioned; a process without a secret
/// is left out (and logged).
pub async fn provision(
    pool: &PgPool,
    processes: &[String],
    settings: &crate::service::config::Settings,
) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    let mut missing = Vec::new();
    for name in processes {
        let Some(secret) = settings
            .text(&secret_setting(name))
            .filter(|s| !s.is_empty())
        else {
            missing.push(name.as_str());
            continue;
        };
        let row: Option<(String, Vec<String>)> =
            sqlx::query_as("SELECT secret_hash, roles FROM auth_clients WHERE client_id = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
                .map_err(|e| e.to_string())?;
        let current = match row {
            Some((hash, roles)) if roles.iter().any(|r| r == SERVICE_CLIENT) => {
                password_matches(secret.to_string(), hash).await
            }
            _ => false,
        };
        if !current {
            let hash = hash_password(secret.to_string()).await?;
            sqlx::query(
                "INSERT INTO auth_clients (client_id, secret_hash, roles) VALUES ($1, $2, $3) \
                 ON CONFLICT (client_id) DO UPDATE SET secret_hash = $2, roles = $3",
            )
            .bind(name)
            .bind(hash)
            .bind(vec![SERVICE_CLIENT.to_string()])
            .execute(pool)
            .await
            .map_err(|e| e.to_string())?;
            tracing::info!(process = %name, "service identity provisioned");
        }
        done.push(name.clone());
    }
    if !missing.is_empty() {
        tracing::warn!(processes = ?missing, "no client secret for these processes: they have no service identity");
    }
    Ok(done)
}

struct Auth {
    pool: PgPool,
    config: AuthConfig,
    throttle: crate::security::login_throttle::LoginThrottle,
    /// Failed logins per client address (a larger allowance: addresses are shared).
    address_throttle: crate::security::login_throttle::LoginThrottle,
    /// Proxies whose `X-Forwarded-For` names the client (`trusted-proxies`; default the
    /// loopback and private ranges the gateway and BFFs call from).
    trusted: Vec<crate::platform::gateway::client_ip::Cidr>,
    /// The central session store when `sessions = "redis"`: users get opaque session tokens.
    sessions: Option<Arc<dyn crate::platform::sessions::Sessions>>,
}

#[derive(Debug, thiserror::Error)]
enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("invalid_client")]
    InvalidClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrant,
    #[error("server_error: {0}")]
    Server(String),
    /// Too many failed logins for this user: try again after the wait.
    #[error("too many failed logins")]
    Throttled(Duration),
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> Self {
        // Class 22 (data exception): the request held a value no column takes.
        match &e {
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("22")) => {
                Self::InvalidRequest("a value of the request cannot be stored".into())
            }
            _ => Self::Server(e.to_string()),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, code, description) = match &self {
            Self::InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d.clone()),
            Self::InvalidGrant(d) => (StatusCode::BAD_REQUEST, "invalid_grant", d.clone()),
            Self::InvalidClient => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client or wrong secret".into(),
            ),
            Self::UnsupportedGrant => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "use password, refresh_token or client_credentials".into(),
            ),
            Self::Throttled(wait) => {
                let secs = wait.as_secs().max(1);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [
                        (header::CACHE_CONTROL, "no-store".to_string()),
                        (header::RETRY_AFTER, secs.to_string()),
                    ],
                    Json(serde_json::json!({
                        "error": "invalid_grant",
                        "error_description": format!("too many failed logins; try again in {secs} s"),
                    })),
                )
                    .into_response();
            }
            Self::Server(d) => {
                tracing::error!(error = %d, "auth failure");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error".into(),
                )
            }
        };
        (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({ "error": code, "error_description": description })),
        )
            .into_response()
    }
}

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: String,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// At most this many Argon2 computations (19 MiB each) run at once; the rest wait.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Hashes a password with Argon2id and a random salt (slow on purpose; run off the reactor).
pub async fn hash_password(password: String) -> Result<String, String> {
    let _permit = HASHING.acquire().await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Whether `password` matches `hash`.
pub async fn password_matches(password: String, hash: String) -> bool {
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A real Argon2 hash of nothing anyone knows, checked for unknown names and client ids.
async fn dummy_hash() -> String {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_init(|| async {
            hash_password("not a password".into())
                .await
                .unwrap_or_default()
        })
        .await
        .clone()
}

/// The lowercase hex SHA-256 of `s` (how tokens are stored: never in clear).
pub(crate) fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Auth {
    async fn signer(&self) -> Result<Signer, OAuthError> {
        let row: Option<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT kid, seed FROM auth_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let (kid, seed) = match row {
            Some(r) => r,
            None => self.new_key(false).await?,
        };
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| OAuthError::Server("a signing key is not 32 bytes".into()))?;
        Ok(Signer::from_seed(&kid, &seed))
    }

    /// Makes a new signing key and retires the active one: it stays published for a token
    /// lifetime (its tokens stay valid), or, with `revoke`, leaves the JWKS at once (a leaked
    /// key: verifiers drop it within their keys' maximum age, its tokens with it).
    async fn new_key(&self, revoke: bool) -> Result<(String, Vec<u8>), OAuthError> {
        let seed = random_seed().map_err(|e| OAuthError::Server(e.to_string()))?;
        let kid = uuid::Uuid::new_v4().simple().to_string();
        let mut tx = self.pool.begin().await?;
        let retired_at = if revoke { 0 } else { now_secs() as i64 };
        let retire = if revoke {
            "UPDATE auth_keys SET retired_at = $1 WHERE retired_at IS NULL OR retired_at > 0"
        } else {
            "UPDATE auth_keys SET retired_at = $1 WHERE retired_at IS NULL"
        };
        sqlx::query(retire)
            .bind(retired_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO auth_keys (kid, seed, created_at) VALUES ($1, $2, $3)")
            .bind(&kid)
            .bind(seed.as_slice())
            .bind(now_secs() as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(%kid, "new signing key");
        Ok((kid, seed.to_vec()))
    }

    async fn jwks(&self) -> Result<Jwks, OAuthError> {
        let keep_after = now_secs()
            .saturating_sub(self.config.access_ttl.as_secs() + crate::security::jwt::LEEWAY_SECS)
            as i64;
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT kid, seed FROM auth_keys WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at",
        )
        .bind(keep_after)
        .fetch_all(&self.pool)
        .await?;
        Ok(Jwks {
            keys: rows
                .into_iter()
                .filter_map(|(kid, seed)| {
                    let seed: [u8; 32] = seed.try_into().ok()?;
                    Some(Signer::from_seed(&kid, &seed).jwk())
                })
                .collect(),
        })
    }

    async fn access_token(
        &self,
        sub: &str,
        name: Option<String>,
        roles: Vec<String>,
        svc: Option<String>,
    ) -> Result<(String, u64), OAuthError> {
        let now = now_secs();
        let ttl = self.config.access_ttl.as_secs().max(1);
        let claims = Claims {
            sub: sub.to_string(),
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            exp: now + ttl,
            iat: now,
            nbf: Some(now),
            jti: uuid::Uuid::new_v4().to_string(),
            roles,
            name,
            svc,
        };
        Ok((self.signer().await?.sign(&claims), ttl))
    }

    async fn refresh_token(
        &self,
        conn: &mut sqlx::PgConnection,
        user: uuid::Uuid,
    ) -> Result<String, OAuthError> {
        let seed = random_seed().map_err(|e| OAuthError::Server(e.to_string()))?;
        let token = URL_SAFE_NO_PAD.encode(seed);
        sqlx::query(
            "INSERT INTO auth_refresh_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(sha256_hex(&token))
        .bind(user)
        .bind((now_secs() + self.config.refresh_ttl.as_secs()) as i64)
        .execute(conn)
        .await?;
        Ok(token)
    }

    /// Issues an access token and a refresh token; the refresh token is stored through
    /// `conn`, so a rotation commits it together with the old token's revocation.
    async fn for_user(
        &self,
        conn: &mut sqlx::PgConnection,
        id: uuid::Uuid,
        name: String,
        roles: Vec<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let sub = id.to_string();
        let (mut access_token, expires_in) =
            self.access_token(&sub, Some(name), roles, None).await?;
        if let Some(sessions) = &self.sessions {
            access_token = sessions
                .create(&sub, &access_token, Duration::from_secs(expires_in))
                .await
                .map_err(|e| OAuthError::Server(e.to_string()))?;
        }
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in,
            refresh_token: Some(self.refresh_token(conn, id).await?),
        })
    }

    async fn password_grant(
        &self,
        r: TokenRequest,
        client: Option<std::net::IpAddr>,
    ) -> Result<TokenResponse, OAuthError> {
        let (Some(username), Some(password)) = (r.username, r.password) else {
            return Err(OAuthError::InvalidRequest(
                "username and password are required".into(),
            ));
        };
        // Guessing backs off per user name and per client address, refused before any hash
        // is computed: a flood costs no hashing capacity that real users need.
        let key = username.to_lowercase();
        let address = client.map(|ip| format!("ip:{ip}"));
        if let Some(a) = &address {
            self.address_throttle
                .check(a)
                .map_err(OAuthError::Throttled)?;
        }
        self.throttle.check(&key).map_err(OAuthError::Throttled)?;
        let row: Option<(uuid::Uuid, String, Vec<String>, Option<i64>)> = sqlx::query_as(
            "SELECT id, password_hash, roles, disabled_at FROM auth_users WHERE username = $1",
        )
        .bind(&username)
        .fetch_optional(&self.pool)
        .await?;
        // Verify against a real hash even for unknown users, so timing does not tell which
        // names exist.
        let (id, hash, roles, disabled_at) = match row {
            Some(r) => r,
            None => (uuid::Uuid::nil(), dummy_hash().await, Vec::new(), None),
        };
        if !password_matches(password, hash).await || id.is_nil() {
            self.throttle.failed(&key);
            if let Some(a) = &address {
                self.address_throttle.failed(a);
            }
            metrics::counter!("auth_logins_total", "outcome" => "refused").increment(1);
            return Err(OAuthError::InvalidGrant(
                "wrong username or password".into(),
            ));
        }
        self.throttle.succeeded(&key);
        if disabled_at.is_some() {
            metrics::counter!("auth_logins_total", "outcome" => "disabled").increment(1);
            return Err(OAuthError::InvalidGrant("this account is disabled".into()));
        }
        metrics::counter!("auth_logins_total", "outcome" => "ok").increment(1);
        let mut conn = self.pool.acquire().await?;
        self.for_user(&mut conn, id, username, roles).await
    }

    async fn refresh_grant(&self, r: TokenRequest) -> Result<TokenResponse, OAuthError> {
        let token = r
            .refresh_token
            .ok_or_else(|| OAuthError::InvalidRequest("refresh_token is required".into()))?;
        let mut tx = self.pool.begin().await?;
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT t.user_id, t.expires_at, t.revoked_at, u.username, u.roles \
             FROM auth_refresh_tokens t JOIN auth_users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 FOR UPDATE OF t",
        )
        .bind(sha256_hex(&token))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(RefreshRow {
            user_id: user,
            expires_at,
            revoked_at,
            username: name,
            roles,
        }) = row
        else {
            return Err(OAuthError::InvalidGrant("unknown refresh token".into()));
        };
        let now = now_secs() as i64;
        if revoked_at.is_some() {
            // Replay of a used token: someone else may hold the new one. Revoke them all.
            self.end_everything(&mut tx, user).await?;
            tx.commit().await?;
            tracing::warn!(%user, "revoked refresh token presented again; all of the user's refresh tokens (and sessions) revoked");
            return Err(OAuthError::InvalidGrant("refresh token revoked".into()));
        }
        if expires_at < now {
            return Err(OAuthError::InvalidGrant("refresh token expired".into()));
        }
        sqlx::query("UPDATE auth_refresh_tokens SET revoked_at = $2 WHERE token_hash = $1")
            .bind(sha256_hex(&token))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // The new token commits with the old one's revocation, or neither happens.
        let issued = self.for_user(&mut tx, user, name, roles).await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Revokes every refresh token of `user` through `conn` and ends their sessions: a
    /// replayed refresh token, a changed password, a disabled account.
    async fn end_everything(
        &self,
        conn: &mut sqlx::PgConnection,
        user: uuid::Uuid,
    ) -> Result<(), OAuthError> {
        sqlx::query("UPDATE auth_refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user)
            .bind(now_secs() as i64)
            .execute(conn)
            .await?;
        if let Some(sessions) = &self.sessions
            && let Err(e) = sessions.revoke_user(&user.to_string()).await
        {
            tracing::error!(%user, error = %e, "sessions of the user not ended");
        }
        Ok(())
    }

    async fn client_grant(
        &self,
        r: TokenRequest,
        headers: &HeaderMap,
    ) -> Result<TokenResponse, OAuthError> {
        let (id, secret) = match (r.client_id, r.client_secret) {
            (Some(i), Some(s)) => (i, s),
            _ => basic_credentials(headers).ok_or(OAuthError::InvalidClient)?,
        };
        let row: Option<(String, Vec<String>)> =
            sqlx::query_as("SELECT secret_hash, roles FROM auth_clients WHERE client_id = $1")
                .bind(&id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((hash, roles)) = row else {
            // Same work as a wrong secret, so timing does not tell which client ids exist.
            let _ = password_matches(secret, dummy_hash().await).await;
            return Err(OAuthError::InvalidClient);
        };
        if !password_matches(secret, hash).await {
            return Err(OAuthError::InvalidClient);
        }
        // A process of the system: its token names it (`svc`) and carries no role.
        let (roles, svc) = if roles.iter().any(|r| r == SERVICE_CLIENT) {
            (Vec::new(), Some(id.clone()))
        } else {
            (roles, None)
        };
        let (access_token, expires_in) = self.access_token(&id, None, roles, svc).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in,
            refresh_token: None,
        })
    }

    /// The bearer's claims, when the token is one of ours.
    async fn bearer(&self, headers: &HeaderMap) -> Result<Claims, crate::ApiError> {
        let unauthorized = |d: &str| crate::ApiError::Unauthorized(d.to_string());
        let mut token = crate::security::jwt::bearer(headers)
            .ok_or_else(|| unauthorized("no bearer token"))?
            .to_string();
        if let Some(sessions) = self.sessions.as_ref()
            && crate::platform::sessions::is_session_token(&token)
        {
            token = sessions
                .lookup(&token)
                .await
                .map_err(|e| crate::ApiError::Unavailable(e.to_string()))?
                .ok_or_else(|| unauthorized("unknown or ended session"))?;
        }
        let jwks = self
            .jwks()
            .await
            .map_err(|e| crate::ApiError::Internal(e.to_string()))?;
        Verifier::fixed(jwks, &self.config.audience)
            .verify(&token)
            .await
            .map_err(|e| unauthorized(&e.to_string()))
    }

    async fn admin(&self, headers: &HeaderMap) -> Result<Claims, crate::ApiError> {
        let claims = self.bearer(headers).await?;
        if claims.roles.iter().any(|r| r == "admin") {
            Ok(claims)
        } else {
            Err(crate::ApiError::Forbidden("role admin required".into()))
        }
    }

    fn check_roles(&self, roles: &[String]) -> Result<(), crate::ApiError> {
        match roles.iter().find(|r| !self.config.roles.contains(r)) {
            Some(r) => Err(crate::ApiError::Validation(vec![crate::FieldError::new(
                "roles",
                format!("`{r}` is not one of {:?}", self.config.roles),
            )])),
            None => Ok(()),
        }
    }
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    user_id: uuid::Uuid,
    expires_at: i64,
    revoked_at: Option<i64>,
    username: String,
    roles: Vec<String>,
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// The shortest first-admin password accepted: the account holds every role.
pub const MIN_ADMIN_PASSWORD: usize = 12;

/// Creates the first admin (every role) when `username` does not exist yet; refuses a password
/// shorter than [`MIN_ADMIN_PASSWORD`].
pub async fn ensure_admin(
    pool: &PgPool,
    config: &AuthConfig,
    username: &str,
    password: &str,
) -> Result<bool, String> {
    if password.chars().count() < MIN_ADMIN_PASSWORD {
        return Err(format!(
            "admin-password must be at least {MIN_ADMIN_PASSWORD} characters"
        ));
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM auth_users WHERE username = $1)")
            .bind(username)
            .fetch_one(pool)
            .await
            .map_err(|e| e.to_string())?;
    if exists {
        return Ok(false);
    }
    let mut roles = config.roles.clone();
    if !roles.iter().any(|r| r == "admin") {
        roles.push("admin".into());
    }
    let hash = hash_password(password.to_string()).await?;
    sqlx::query("INSERT INTO auth_users (id, username, password_hash, roles, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
        .bind(uuid::Uuid::new_v4())
        .bind(username)
        .bind(hash)
        .bind(&roles)
        .bind(now_secs() as i64)
        .execute(pool)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(%username, "first admin created");
    Ok(true)
}

/// The auth service's routes. Creates the first admin from the settings in the background.
pub fn routes(
    pool: PgPool,
    config: AuthConfig,
    settings: &crate::service::config::Settings,
) -> Router {
    let admin = ["admin_username", "admin_password"].map(|k| settings.text(k).map(str::to_string));
    if let [user, Some(password)] = admin {
        let user = user.unwrap_or_else(|| "admin".to_string());
        let (pool, config) = (pool.clone(), config.clone());
        tokio::spawn(async move {
            if let Err(e) = ensure_admin(&pool, &config, &user, &password).await {
                tracing::error!(error = %e, "first admin not created");
            }
        });
    }
    {
        let (pool, processes, settings) =
            (pool.clone(), config.processes.clone(), settings.clone());
        tokio::spawn(async move {
            if let Err(e) = provision(&pool, &processes, &settings).await {
                tracing::error!(error = %e, "service identities not provisioned");
            }
        });
    }
    let auth = Arc::new(Auth {
        pool,
        config,
        throttle: crate::security::login_throttle::LoginThrottle::new(),
        address_throttle: crate::security::login_throttle::LoginThrottle::with_free_failures(
            crate::security::login_throttle::FREE_FAILURES_PER_ADDRESS,
        ),
        trusted: crate::platform::gateway::client_ip::parse_list(
            settings
                .text("trusted_proxies")
                .unwrap_or(DEFAULT_TRUSTED_PROXIES),
        ),
        sessions: crate::platform::sessions::store(),
    });
    Router::new()
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/userinfo", get(userinfo))
        .route("/users", post(create_user))
        .route("/users/me/password", post(change_own_password))
        .route("/users/{username}", axum::routing::patch(update_user))
        .route("/clients", post(create_client))
        .route("/admin/keys/rotate", post(rotate))
        .with_state(auth)
}

fn parse_form<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, OAuthError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let control = if json {
        crate::service::json::json_control(body)
    } else {
        crate::service::json::url_control(&String::from_utf8_lossy(body))
    };
    if let Some(c) = control {
        return Err(OAuthError::InvalidRequest(format!(
            "a control character (U+{:04X}) is not accepted",
            u32::from(c)
        )));
    }
    if json {
        serde_json::from_slice(body).map_err(|e| OAuthError::InvalidRequest(e.to_string()))
    } else {
        serde_urlencoded::from_bytes(body).map_err(|e| OAuthError::InvalidRequest(e.to_string()))
    }
}

/// Where the auth service believes `X-Forwarded-For` by default: the loopback and private
/// ranges, where the gateway and the BFFs call it from (it is never on a public network).
pub const DEFAULT_TRUSTED_PROXIES: &str =
    "127.0.0.0/8, ::1, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7";

async fn token(
    State(auth): State<Arc<Auth>>,
    extensions: http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let client = crate::platform::gateway::client_ip::client_ip(peer, &headers, &auth.trusted);
    let result = async {
        let r: TokenRequest = parse_form(&headers, &body)?;
        match r.grant_type.as_str() {
            "password" => auth.password_grant(r, client).await,
            "refresh_token" => auth.refresh_grant(r).await,
            "client_credentials" => auth.client_grant(r, &headers).await,
            _ => Err(OAuthError::UnsupportedGrant),
        }
    }
    .await;
    match result {
        Ok(t) => ([(header::CACHE_CONTROL, "no-store")], Json(t)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct RevokeRequest {
    token: String,
}

async fn revoke(State(auth): State<Arc<Auth>>, headers: HeaderMap, body: Bytes) -> Response {
    let r: RevokeRequest = match parse_form(&headers, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    // RFC 7009: any of our tokens; an unknown one is not an error.
    if let Some(sessions) = &auth.sessions
        && crate::platform::sessions::is_session_token(&r.token)
    {
        match sessions.revoke(&r.token).await {
            Ok(true) => {
                metrics::counter!("auth_sessions_revoked_total").increment(1);
                return StatusCode::OK.into_response();
            }
            Ok(false) => {}
            Err(e) => return OAuthError::Server(e.to_string()).into_response(),
        }
    }
    let done = sqlx::query("UPDATE auth_refresh_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(sha256_hex(&r.token))
        .bind(now_secs() as i64)
        .execute(&auth.pool)
        .await;
    match done {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => OAuthError::from(e).into_response(),
    }
}

async fn jwks(State(auth): State<Arc<Auth>>) -> Response {
    match auth.jwks().await {
        Ok(j) if j.keys.is_empty() => match auth.signer().await {
            Ok(s) => Json(Jwks {
                keys: vec![s.jwk()],
            })
            .into_response(),
            Err(e) => e.into_response(),
        },
        Ok(j) => ([(header::CACHE_CONTROL, "max-age=60")], Json(j)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn userinfo(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    match auth.bearer(&headers).await {
        Ok(c) => Json(c).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    roles: Vec<String>,
}

async fn create_user(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    Json(u): Json<NewUser>,
) -> Response {
    if let Err(e) = auth.admin(&headers).await {
        return e.into_response();
    }
    if let Err(e) = auth.check_roles(&u.roles) {
        return e.into_response();
    }
    if u.username.trim().is_empty() {
        return crate::ApiError::Validation(vec![crate::FieldError::new(
            "username",
            "a user name is required",
        )])
        .into_response();
    }
    if let Err(e) = check_password(&u.password) {
        return e.into_response();
    }
    let hash = match hash_password(u.password).await {
        Ok(h) => h,
        Err(e) => return crate::ApiError::Internal(e).into_response(),
    };
    let id = uuid::Uuid::new_v4();
    let inserted = sqlx::query("INSERT INTO auth_users (id, username, password_hash, roles, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(&u.username)
        .bind(hash)
        .bind(&u.roles)
        .bind(now_secs() as i64)
        .execute(&auth.pool)
        .await;
    match inserted {
        Ok(_) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "id": id, "username": u.username, "roles": u.roles })),
        )
            .into_response(),
        Err(e) => crate::ApiError::from(e).into_response(),
    }
}

/// The shortest password a user may set.
pub const MIN_PASSWORD: usize = 8;

fn check_password(password: &str) -> Result<(), crate::ApiError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(crate::ApiError::Validation(vec![crate::FieldError::new(
            "password",
            format!("a password of at least {MIN_PASSWORD} characters is required"),
        )]));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /users/me/password`: the signed-in user changes their password, proving the current
/// one; every refresh token and session of theirs ends.
async fn change_own_password(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    Json(c): Json<PasswordChange>,
) -> Result<StatusCode, crate::ApiError> {
    let claims = auth.bearer(&headers).await?;
    let id: uuid::Uuid = claims
        .sub
        .parse()
        .map_err(|_| crate::ApiError::Forbidden("only a user has a password".into()))?;
    check_password(&c.new_password)?;
    let key = claims.name.clone().unwrap_or_default().to_lowercase();
    auth.throttle.check(&key).map_err(|w| {
        crate::ApiError::Unavailable(format!(
            "too many failed attempts; try again in {} s",
            w.as_secs().max(1)
        ))
    })?;
    let hash: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM auth_users WHERE id = $1")
            .bind(id)
            .fetch_optional(&auth.pool)
            .await?;
    let Some(hash) = hash else {
        return Err(crate::ApiError::NotFound("user".into()));
    };
    if !password_matches(c.current_password, hash).await {
        auth.throttle.failed(&key);
        return Err(crate::ApiError::Forbidden(
            "the current password is wrong".into(),
        ));
    }
    let new_hash = hash_password(c.new_password)
        .await
        .map_err(crate::ApiError::Internal)?;
    let mut tx = auth.pool.begin().await?;
    sqlx::query("UPDATE auth_users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(new_hash)
        .execute(&mut *tx)
        .await?;
    auth.end_everything(&mut tx, id)
        .await
        .map_err(|e| crate::ApiError::Internal(e.to_string()))?;
    tx.commit().await?;
    tracing::info!(user = %id, "password changed; refresh tokens and sessions ended");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct UserUpdate {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    roles: Option<Vec<String>>,
}

/// `PATCH /users/{username}` (role `admin`): set a password, disable or enable the account,
/// or change its roles. A new password or a disabled account ends every refresh token and
/// session of the user at once; access tokens already issued expire within their lifetime.
async fn update_user(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    axum::extract::Path(username): axum::extract::Path<String>,
    Json(u): Json<UserUpdate>,
) -> Result<StatusCode, crate::ApiError> {
    auth.admin(&headers).await?;
    if let Some(p) = &u.password {
        check_password(p)?;
    }
    if let Some(r) = &u.roles {
        auth.check_roles(r)?;
    }
    let id: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM auth_users WHERE username = $1")
            .bind(&username)
            .fetch_optional(&auth.pool)
            .await?;
    let id = id.ok_or_else(|| crate::ApiError::NotFound(format!("user {username}")))?;
    let hash = match u.password {
        Some(p) => Some(hash_password(p).await.map_err(crate::ApiError::Internal)?),
        None => None,
    };
    let mut tx = auth.pool.begin().await?;
    if let Some(h) = &hash {
        sqlx::query("UPDATE auth_users SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(h)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(disabled) = u.disabled {
        sqlx::query("UPDATE auth_users SET disabled_at = $2 WHERE id = $1")
            .bind(id)
            .bind(disabled.then_some(now_secs() as i64))
            .execute(&mut *tx)
            .await?;
    }
    if let Some(roles) = &u.roles {
        sqlx::query("UPDATE auth_users SET roles = $2 WHERE id = $1")
            .bind(id)
            .bind(roles)
            .execute(&mut *tx)
            .await?;
    }
    if hash.is_some() || u.disabled == Some(true) {
        auth.end_everything(&mut tx, id)
            .await
            .map_err(|e| crate::ApiError::Internal(e.to_string()))?;
    }
    tx.commit().await?;
    tracing::info!(%username, disabled = ?u.disabled, password = hash.is_some(), "user updated");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct NewClient {
    client_id: String,
    client_secret: String,
    #[serde(default)]
    roles: Vec<String>,
}

async fn create_client(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    Json(c): Json<NewClient>,
) -> Response {
    if let Err(e) = auth.admin(&headers).await {
        return e.into_response();
    }
    if let Err(e) = auth.check_roles(&c.roles) {
        return e.into_response();
    }
    if auth.config.processes.contains(&c.client_id) {
        return crate::ApiError::Conflict(format!(
            "`{}` is a process of the system: its client is provisioned from its secret",
            c.client_id
        ))
        .into_response();
    }
    let hash = match hash_password(c.client_secret).await {
        Ok(h) => h,
        Err(e) => return crate::ApiError::Internal(e).into_response(),
    };
    let inserted =
        sqlx::query("INSERT INTO auth_clients (client_id, secret_hash, roles) VALUES ($1, $2, $3)")
            .bind(&c.client_id)
            .bind(hash)
            .bind(&c.roles)
            .execute(&auth.pool)
            .await;
    match inserted {
        Ok(_) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "client_id": c.client_id, "roles": c.roles })),
        )
            .into_response(),
        Err(e) => crate::ApiError::from(e).into_response(),
    }
}

/// `POST /admin/keys/rotate[?revoke=true]`.
#[derive(Debug, Default, serde::Deserialize)]
struct RotateParams {
    #[serde(default)]
    revoke: bool,
}

async fn rotate(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    axum::extract::Query(p): axum::extract::Query<RotateParams>,
) -> Response {
    if let Err(e) = auth.admin(&headers).await {
        return e.into_response();
    }
    match auth.new_key(p.revoke).await {
        Ok((kid, _)) => Json(serde_json::json!({ "kid": kid })).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_short_admin_password_is_refused_before_anything_is_stored() {
        // Never connects: the length is checked first.
        let pool = PgPool::connect_lazy("postgres://nobody@127.0.0.1:9/none").unwrap();
        let config = AuthConfig {
            issuer: "i".into(),
            audience: "a".into(),
            roles: vec!["admin".into()],
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(60),
            processes: Vec::new(),
        };
        let e = ensure_admin(&pool, &config, "admin", "hunter2")
            .await
            .unwrap_err();
        assert!(e.contains("at least 12"), "{e}");
    }

    #[tokio::test]
    async fn passwords_hash_with_salt_and_verify() {
        let a = hash_password("correct horse".into()).await.unwrap();
        let b = hash_password("correct horse".into()).await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(password_matches("correct horse".into(), a.clone()).await);
        assert!(!password_matches("wrong".into(), a).await);
        assert!(!password_matches("x".into(), "not a hash".into()).await);
    }

    #[test]
    fn basic_credentials_decode() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode("svc:s3cret"))
                .parse()
                .unwrap(),
        );
        assert_eq!(basic_credentials(&h), Some(("svc".into(), "s3cret".into())));
    }
}
