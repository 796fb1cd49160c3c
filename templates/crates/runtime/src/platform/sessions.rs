//! The central session store (`[auth] sessions = "redis"`, setting `sessions`).
//!
//! With sessions on, the auth service hands signed-in users an *opaque* session token instead
//! of the JWT: the JWT is kept in Redis under the token's SHA-256, expiring with it. The gateway
//! looks the session up on every request and forwards the JWT it finds to the service (the
//! "phantom token" pattern), so services keep verifying JWTs (defence in depth) while a revoked
//! session is refused at the gateway at once — there is no cache between the two.
//!
//! Keys: `session:<sha256(token)>` → the JWT; `user-sessions:<sub>` → the set of that user's
//! session keys, so every session of a user can be ended together.
//!
//! The store is chosen once at start ([`configure`]) from the settings `sessions` (`jwt`, the
//! default, or `redis`) and `redis-url`; [`store`] gives it to the gateway and the auth service.
//! Redis itself needs the `sessions` feature; without it, `sessions = "redis"` fails at start.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::service::config::Settings;

/// A boxed future of a session store operation.
pub type SessionFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SessionError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session settings: {0}")]
    Config(String),
    #[error("session store unavailable: {0}")]
    Unavailable(String),
}

/// Where sessions live.
pub trait Sessions: Send + Sync {
    /// Stores `jwt` (the access token of `sub`) for `ttl`; returns the opaque session token.
    fn create<'a>(&'a self, sub: &'a str, jwt: &'a str, ttl: Duration)
    -> SessionFuture<'a, String>;
    /// The JWT behind a session token, `None` when unknown, expired or revoked.
    fn lookup<'a>(&'a self, token: &'a str) -> SessionFuture<'a, Option<String>>;
    /// Ends one session; `true` when it existed.
    fn revoke<'a>(&'a self, token: &'a str) -> SessionFuture<'a, bool>;
    /// Ends every session of `sub`; returns how many there were.
    fn revoke_user<'a>(&'a self, sub: &'a str) -> SessionFuture<'a, usize>;
}

/// Session tokens are opaque (base64url, no dots); JWTs have three dot-separated parts.
pub fn is_session_token(token: &str) -> bool {
    !token.is_empty() && !token.contains('.')
}

/// A new opaque session token: 256 random bits, base64url.
pub fn new_token() -> Result<String, SessionError> {
    use base64::Engine;
    let seed = crate::security::jwt::random_seed()
        .map_err(|e| SessionError::Unavailable(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seed))
}

/// The Redis key of a session token (its SHA-256, so a read of Redis gives no usable token).
pub fn session_key(token: &str) -> String {
    format!(
        "session:{}",
        crate::platform::auth_server::sha256_hex(token)
    )
}

static STORE: OnceLock<Option<Arc<dyn Sessions>>> = OnceLock::new();

/// The store chosen from the settings: `None` in `jwt` mode.
pub fn from_settings(settings: &Settings) -> Result<Option<Arc<dyn Sessions>>, SessionError> {
    match settings.text("sessions").unwrap_or("jwt") {
        "jwt" => Ok(None),
        "redis" => {
            let url = settings
                .text("redis_url")
                .unwrap_or("redis://127.0.0.1:6379");
            redis_store(url).map(Some)
        }
        other => Err(SessionError::Config(format!(
            "sessions = \"{other}\": use \"jwt\" or \"redis\""
        ))),
    }
}

#[cfg(feature = "sessions")]
fn redis_store(url: &str) -> Result<Arc<dyn Sessions>, SessionError> {
    Ok(Arc::new(redis_store::RedisSessions::new(url)?))
}

#[cfg(not(feature = "sessions"))]
fn redis_store(_url: &str) -> Result<Arc<dyn Sessions>, SessionError> {
    Err(SessionError::Config(
        "sessions = \"redis\" needs the runtime's `sessions` feature".into(),
    ))
}

/// Chooses the process's session store; called once at start.
pub fn configure(settings: &Settings) -> Result<(), SessionError> {
    let store = from_settings(settings)?;
    if store.is_some() {
        tracing::info!("sessions kept in Redis");
    }
    let _ = STORE.set(store);
    Ok(())
}

/// The configured store, `None` in `jwt` mode.
pub fn store() -> Option<Arc<dyn Sessions>> {
    STORE.get().cloned().flatten()
}

#[cfg(feature = "sessions")]
mod redis_store {
    use std::time::Duration;

    use redis::aio::{ConnectionManager, ConnectionManagerConfig};

    use super::{SessionError, SessionFuture, Sessions, new_token, session_key};

    impl From<redis::RedisError> for SessionError {
        fn from(e: redis::RedisError) -> Self {
            Self::Unavailable(e.to_string())
        }
    }

    /// Sessions in Redis over one multiplexed, self-reconnecting connection.
    pub struct RedisSessions {
        conn: ConnectionManager,
    }

    impl RedisSessions {
        /// Connects lazily: a Redis that is not up yet fails requests, not the start.
        pub fn new(url: &str) -> Result<Self, SessionError> {
            let client =
                redis::Client::open(url).map_err(|e| SessionError::Config(e.to_string()))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(2)))
                .set_number_of_retries(2);
            Ok(Self {
                conn: client.get_connection_manager_lazy(config)?,
            })
        }
    }

    fn user_key(sub: &str) -> String {
        format!("user-sessions:{sub}")
    }

    impl Sessions for RedisSessions {
        fn create<'a>(
            &'a self,
            sub: &'a str,
            jwt: &'a str,
            ttl: Duration,
        ) -> SessionFuture<'a, String> {
            Box::pin(async move {
                let token = new_token()?;
                let key = session_key(&token);
                let secs = ttl.as_secs().max(1);
                let mut conn = self.conn.clone();
                redis::pipe()
                    .atomic()
                    .set_ex(&key, jwt, secs)
                    .ignore()
                    .sadd(user_key(sub), &key)
                    .ignore()
                    .expire(user_key(sub), secs as i64)
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await?;
                Ok(token)
            })
        }

        fn lookup<'a>(&'a self, token: &'a str) -> SessionFuture<'a, Option<String>> {
            Box::pin(async move {
                let mut conn = self.conn.clone();
                Ok(redis::cmd("GET")
                    .arg(session_key(token))
                    .query_async(&mut conn)
                    .await?)
            })
        }

        fn revoke<'a>(&'a self, token: &'a str) -> SessionFuture<'a, bool> {
            Box::pin(async move {
                let mut conn = self.conn.clone();
                let n: usize = redis::cmd("DEL")
                    .arg(session_key(token))
                    .query_async(&mut conn)
                    .await?;
                Ok(n > 0)
            })
        }

        fn revoke_user<'a>(&'a self, sub: &'a str) -> SessionFuture<'a, usize> {
            Box::pin(async move {
                let mut conn = self.conn.clone();
                let keys: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(user_key(sub))
                    .query_async(&mut conn)
                    .await?;
                let mut pipe = redis::pipe();
                pipe.atomic();
                for k in &keys {
                    pipe.del(k);
                }
                pipe.del(user_key(sub));
                let removed: Vec<usize> = pipe.query_async(&mut conn).await?;
                // The last count is the set itself.
                Ok(removed.iter().rev().skip(1).sum())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_are_told_apart_from_jwts() {
        let t = new_token().unwrap();
        assert!(is_session_token(&t), "{t}");
        assert_eq!(t.len(), 43);
        assert!(!is_session_token("a.b.c"));
        assert!(!is_session_token(""));
        assert_ne!(new_token().unwrap(), t);
    }

    #[test]
    fn keys_hash_the_token() {
        let k = session_key("abc");
        assert_eq!(
            k,
            "session:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!k.contains("abc"));
    }
}
