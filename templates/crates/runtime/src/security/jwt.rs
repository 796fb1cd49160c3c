//! Signed tokens: EdDSA (Ed25519) JWTs, the only algorithm issued and accepted.
//!
//! Fixing one algorithm makes the classic attacks impossible by construction: a token whose
//! header says `none`, `HS256` or anything but `EdDSA` is refused before any key is looked at,
//! and every token must name its key (`kid`). [`Signer`] issues tokens (the auth service);
//! [`Verifier`] checks signature, expiry, not-before and audience against keys from a JWKS
//! endpoint, cached and fetched again when a token names an unknown `kid` (at most every few
//! seconds) and whenever the cached set is older than its maximum age ([`KEYS_MAX_AGE`], or
//! `with_max_age`): a key the auth service no longer lists (rotated out, revoked) stops being
//! trusted within that age, and the tokens it signed with it. A rotation needs no restart
//! anywhere. If the endpoint cannot be reached, the keys held are kept (and the refresh tried
//! again at the next token). A token's signature is verified once; the verified claims are
//! remembered (bounded) and re-checked for expiry, key and audience at every use.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::service::http_client::HttpClient;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// How long fetched signing keys are trusted before they are fetched again.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(60);

/// The shortest pause between two fetches for an unknown `kid`.
const UNKNOWN_KID_PAUSE: Duration = Duration::from_secs(5);

/// Verified tokens remembered (the cache is emptied when it is full).
const VERIFIED_CACHE: usize = 10_000;

/// What a token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, or the client id for `client_credentials`.
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub jti: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// The user name, for logs and UIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The process this token identifies (a service identity: `client_credentials` of a client
    /// the auth service provisioned for one of the system's processes), `None` for users and
    /// other clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svc: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
}

/// A public key as published in a JWKS (RFC 8037: `OKP`, `Ed25519`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(rename = "use", default)]
    pub use_: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("algorithm `{0}` is not accepted")]
    Algorithm(String),
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token is for another audience")]
    Audience,
    #[error("token from another issuer")]
    Issuer,
    #[error("keys unavailable: {0}")]
    Keys(String),
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// 32 random bytes from the operating system.
pub fn random_seed() -> Result<[u8; 32], getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    Ok(seed)
}

/// One signing key with its id.
pub struct Signer {
    pub kid: String,
    key: SigningKey,
}

impl Signer {
    pub fn from_seed(kid: &str, seed: &[u8; 32]) -> Self {
        Self {
            kid: kid.to_string(),
            key: SigningKey::from_bytes(seed),
        }
    }

    pub fn jwk(&self) -> Jwk {
        public_jwk(&self.kid, &self.key.verifying_key())
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let header = Header {
            alg: "EdDSA".into(),
            kid: Some(self.kid.clone()),
            typ: Some("JWT".into()),
        };
        let h = B64.encode(serde_json::to_vec(&header).unwrap_or_default());
        let c = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{h}.{c}");
        let sig = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(sig.to_bytes()))
    }
}

pub fn public_jwk(kid: &str, key: &VerifyingKey) -> Jwk {
    Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: B64.encode(key.to_bytes()),
        kid: kid.to_string(),
        alg: Some("EdDSA".into()),
        use_: Some("sig".into()),
    }
}

fn key_of(jwk: &Jwk) -> Option<VerifyingKey> {
    if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
        return None;
    }
    let bytes: [u8; 32] = B64.decode(&jwk.x).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Checks tokens against a set of public keys, refreshed from a JWKS URL on unknown `kid`s.
pub struct Verifier {
    /// Tokens whose signature already verified, with their claims: a signature is checked
    /// once per token, expiry and audience at every use.
    verified: std::sync::Mutex<HashMap<String, (String, Claims)>>,
    audience: String,
    /// The `iss` tokens must carry, when set.
    issuer: Option<String>,
    jwks_url: Option<String>,
    keys: RwLock<HashMap<String, VerifyingKey>>,
    /// When the keys were last fetched (successfully or not).
    refresh: Mutex<Option<std::time::Instant>>,
    /// Until when the keys held are fresh.
    fresh_until: RwLock<Option<std::time::Instant>>,
    max_age: Duration,
    http: HttpClient,
}

impl Verifier {
    /// Keys fetched from `jwks_url` (lazily, on the first token).
    pub fn remote(jwks_url: &str, audience: &str) -> Self {
        Self::new(Some(jwks_url.to_string()), audience, Jwks::default())
    }

    /// Fixed keys (the auth service checks its own tokens; tests).
    pub fn fixed(jwks: Jwks, audience: &str) -> Self {
        Self::new(None, audience, jwks)
    }

    fn new(jwks_url: Option<String>, audience: &str, jwks: Jwks) -> Self {
        let v = Self {
            verified: std::sync::Mutex::new(HashMap::new()),
            audience: audience.to_string(),
            issuer: None,
            jwks_url,
            keys: RwLock::new(HashMap::new()),
            refresh: Mutex::new(None),
            fresh_until: RwLock::new(None),
            max_age: KEYS_MAX_AGE,
            http: HttpClient::new(),
        };
        v.set_keys(&jwks);
        v
    }

    /// Also requires `iss` to be `issuer`.
    #[must_use]
    pub fn with_issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.to_string());
        self
    }

    /// Trusts fetched keys for `max_age` instead of [`KEYS_MAX_AGE`].
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Whether the remote keys are due to be fetched again.
    fn stale(&self) -> bool {
        self.jwks_url.is_some()
            && self
                .fresh_until
                .read()
                .map_or(true, |f| f.is_none_or(|t| std::time::Instant::now() >= t))
    }

    fn set_keys(&self, jwks: &Jwks) {
        let keys: HashMap<String, VerifyingKey> = jwks
            .keys
            .iter()
            .filter_map(|k| Some((k.kid.clone(), key_of(k)?)))
            .collect();
        if let Ok(mut guard) = self.keys.write() {
            *guard = keys;
        }
    }

    fn key(&self, kid: &str) -> Option<VerifyingKey> {
        self.keys.read().ok()?.get(kid).copied()
    }

    /// Fetches the JWKS again, unless it was fetched within `pause`.
    async fn refresh(&self, pause: Duration) -> Result<(), TokenError> {
        let Some(url) = &self.jwks_url else {
            return Ok(());
        };
        let mut last = self.refresh.lock().await;
        if last.is_some_and(|t| t.elapsed() < pause) {
            return Ok(());
        }
        *last = Some(std::time::Instant::now());
        let (status, jwks) = self
            .http
            .json::<Jwks>(http::Method::GET, url, None, Duration::from_secs(3))
            .await
            .map_err(|e| TokenError::Keys(e.to_string()))?;
        let jwks = jwks.ok_or_else(|| TokenError::Keys(format!("JWKS answered {status}")))?;
        tracing::debug!(keys = jwks.keys.len(), "signing keys refreshed");
        self.set_keys(&jwks);
        if let Ok(mut f) = self.fresh_until.write() {
            *f = Some(std::time::Instant::now() + self.max_age);
        }
        Ok(())
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if self.stale()
            && let Err(e) = self.refresh(self.max_age.min(UNKNOWN_KID_PAUSE)).await
        {
            tracing::warn!(error = %e, "signing keys not refreshed; keeping those held");
        }
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|c| c.get(token).cloned())
            // A key dropped from the JWKS since takes its tokens with it.
            .filter(|(kid, _)| self.key(kid).is_some());
        let claims = match cached {
            Some((_, c)) => c,
            None => {
                let (kid, c) = self.verify_signature(token).await?;
                if let Ok(mut cache) = self.verified.lock() {
                    if cache.len() >= VERIFIED_CACHE {
                        cache.clear();
                    }
                    cache.insert(token.to_string(), (kid, c.clone()));
                }
                c
            }
        };
        let now = now_secs();
        if claims.exp + LEEWAY_SECS < now {
            return Err(TokenError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
            return Err(TokenError::NotYetValid);
        }
        if claims.aud != self.audience {
            return Err(TokenError::Audience);
        }
        if self.issuer.as_ref().is_some_and(|i| *i != claims.iss) {
            return Err(TokenError::Issuer);
        }
        Ok(claims)
    }

    /// Checks the header, the key and the signature; returns the key id and the claims
    /// (not checked otherwise).
    async fn verify_signature(&self, token: &str) -> Result<(String, Claims), TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.alg != "EdDSA" {
            return Err(TokenError::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = match self.key(&kid) {
            Some(k) => k,
            None => {
                self.refresh(UNKNOWN_KID_PAUSE).await?;
                self.key(&kid).ok_or(TokenError::UnknownKey)?
            }
        };
        let sig: [u8; 64] = B64
            .decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(TokenError::Malformed)?;
        key.verify(format!("{h}.{c}").as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| TokenError::Signature)?;
        let claims = B64
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        Ok((kid, claims))
    }
}

/// The bearer token of an `Authorization` header.
pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(aud: &str, exp: u64) -> Claims {
        Claims {
            sub: "u1".into(),
            iss: "auth".into(),
            aud: aud.into(),
            exp,
            iat: now_secs(),
            nbf: None,
            jti: "j1".into(),
            roles: vec!["admin".into()],
            name: None,
            svc: None,
        }
    }

    fn setup() -> (Signer, Verifier) {
        let signer = Signer::from_seed("k1", &[7u8; 32]);
        let verifier = Verifier::fixed(
            Jwks {
                keys: vec![signer.jwk()],
            },
            "shop",
        );
        (signer, verifier)
    }

    /// Attack (issue 22): after a rotation, a leaked old key kept minting accepted tokens until
    /// every process restarted, because keys were fetched only for an unknown `kid`.
    #[tokio::test]
    async fn a_key_no_longer_published_is_distrusted_within_the_max_age() {
        let old = Signer::from_seed("old", &[1u8; 32]);
        let new = Signer::from_seed("new", &[2u8; 32]);
        let published = std::sync::Arc::new(RwLock::new(Jwks {
            keys: vec![old.jwk(), new.jwk()],
        }));
        let served = published.clone();
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let jwks = served.read().map(|j| j.clone()).unwrap_or_default();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let verifier = Verifier::remote(&format!("http://{addr}/jwks"), "shop")
            .with_max_age(Duration::from_millis(200));
        let leaked = old.sign(&claims("shop", now_secs() + 600));
        assert!(verifier.verify(&leaked).await.is_ok());
        // Rotated out: the auth service lists only the new key.
        *published.write().unwrap() = Jwks {
            keys: vec![new.jwk()],
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(verifier.verify(&leaked).await, Err(TokenError::UnknownKey));
        let fresh = new.sign(&claims("shop", now_secs() + 600));
        assert!(verifier.verify(&fresh).await.is_ok());
    }

    #[tokio::test]
    async fn a_signed_token_verifies() {
        let (signer, verifier) = setup();
        let token = signer.sign(&claims("shop", now_secs() + 60));
        assert_eq!(verifier.verify(&token).await.unwrap().roles, vec!["admin"]);
    }

    #[tokio::test]
    async fn forged_expired_foreign_and_unsigned_tokens_are_refused() {
        let (signer, verifier) = setup();
        let good = signer.sign(&claims("shop", now_secs() + 60));
        let other = Signer::from_seed("k1", &[9u8; 32]).sign(&claims("shop", now_secs() + 60));
        assert_eq!(verifier.verify(&other).await, Err(TokenError::Signature));
        let expired = signer.sign(&claims("shop", now_secs() - 3600));
        assert_eq!(verifier.verify(&expired).await, Err(TokenError::Expired));
        let foreign = signer.sign(&claims("bank", now_secs() + 60));
        assert_eq!(verifier.verify(&foreign).await, Err(TokenError::Audience));
        // alg: none, with the good token's claims and no signature.
        let payload = good.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", B64.encode(br#"{"alg":"none","kid":"k1"}"#));
        assert_eq!(
            verifier.verify(&none).await,
            Err(TokenError::Algorithm("none".into()))
        );
        let hs = format!(
            "{}.{payload}.c2ln",
            B64.encode(br#"{"alg":"HS256","kid":"k1"}"#)
        );
        assert!(matches!(
            verifier.verify(&hs).await,
            Err(TokenError::Algorithm(_))
        ));
        // A tampered payload breaks the signature.
        let mut parts: Vec<&str> = good.split('.').collect();
        let tampered = B64.encode(
            serde_json::to_vec(&Claims {
                roles: vec!["root".into()],
                ..claims("shop", now_secs() + 60)
            })
            .unwrap(),
        );
        parts[1] = &tampered;
        assert_eq!(
            verifier.verify(&parts.join(".")).await,
            Err(TokenError::Signature)
        );
        assert_eq!(verifier.verify("a.b").await, Err(TokenError::Malformed));
        let strict = Verifier::fixed(
            Jwks {
                keys: vec![signer.jwk()],
            },
            "shop",
        )
        .with_issuer("bank-auth");
        assert_eq!(strict.verify(&good).await, Err(TokenError::Issuer));
    }

    #[test]
    fn bearer_is_read_case_insensitively() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
