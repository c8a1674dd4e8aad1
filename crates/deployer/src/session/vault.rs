//! The credential vault's cryptography.
//!
//! - The store never sees a token: records are keyed by
//!   `HMAC-SHA256(SECRET_KEY, kind || token)`, so a dump of the store cannot be
//!   replayed as a cookie or a bearer header.
//! - Credentials are sealed with AES-256-GCM under a key derived (HKDF-SHA256)
//!   from the token itself, which only the client holds. The record's store key
//!   and the purpose are bound in as associated data, so a sealed value cannot
//!   be moved to another record or field.
//! - CSRF tokens are `HMAC(SECRET_KEY, "csrf" || token)`: verifiable without
//!   storage, and they change whenever the session token does.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Version of the sealed format; bumped if the scheme ever changes.
const SEAL_VERSION: u8 = 1;
const HKDF_SALT: &[u8] = b"render-deployer/vault/v1";

/// How the client authenticates; part of the store key so a session cookie
/// and a bearer token can never map to the same record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Cookie,
    Bearer,
}

impl TokenKind {
    fn tag(self) -> &'static [u8] {
        match self {
            TokenKind::Cookie => b"cookie\0",
            TokenKind::Bearer => b"bearer\0",
        }
    }
}

/// What a sealed value is for; bound into the ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    RenderApiKey,
    GitHubToken,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::RenderApiKey => b"render-api-key",
            Purpose::GitHubToken => b"github-token",
        }
    }
}

/// The record id in the store: hex of an HMAC of the token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoreKey(String);

impl StoreKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }
}

/// A sealed credential: nonce and ciphertext (with tag), base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    v: u8,
    nonce: String,
    ct: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed credential cannot be opened with this token")]
pub struct OpenError;

/// Keyed operations that need the server's `SECRET_KEY`.
#[derive(Clone)]
pub struct Vault {
    secret_key: SecretString,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl Vault {
    pub fn new(secret_key: SecretString) -> Self {
        Self { secret_key }
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(self.secret_key.expose_secret().as_bytes())
                .expect("HMAC accepts keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }

    pub fn store_key(&self, kind: TokenKind, token: &SecretString) -> StoreKey {
        StoreKey(hex::encode(
            self.mac(&[kind.tag(), token.expose_secret().as_bytes()]),
        ))
    }

    pub fn csrf_token(&self, session_token: &SecretString) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(&[b"csrf\0", session_token.expose_secret().as_bytes()]))
    }

    /// Constant-time comparison of a client-supplied CSRF token.
    pub fn csrf_matches(&self, session_token: &SecretString, provided: &str) -> bool {
        let expected = self.csrf_token(session_token);
        expected.as_bytes().ct_eq(provided.as_bytes()).into()
    }
}

fn cipher(token: &SecretString, purpose: Purpose) -> Aes256Gcm {
    let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), token.expose_secret().as_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf.expand(purpose.label(), key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new_from_slice(key.as_ref()).expect("AES-256 key is 32 bytes")
}

fn aad(store_key: &StoreKey, purpose: Purpose) -> Vec<u8> {
    [store_key.0.as_bytes(), b"\0", purpose.label()].concat()
}

/// Encrypts `plaintext` so that only the holder of `token` can read it back.
pub fn seal(
    token: &SecretString,
    store_key: &StoreKey,
    purpose: Purpose,
    plaintext: &SecretString,
) -> Sealed {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ct = cipher(token, purpose)
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext.expose_secret().as_bytes(),
                aad: &aad(store_key, purpose),
            },
        )
        .expect("AES-GCM encryption of a short message cannot fail");
    Sealed {
        v: SEAL_VERSION,
        nonce: STANDARD_NO_PAD.encode(nonce),
        ct: STANDARD_NO_PAD.encode(ct),
    }
}

pub fn open(
    token: &SecretString,
    store_key: &StoreKey,
    purpose: Purpose,
    sealed: &Sealed,
) -> Result<SecretString, OpenError> {
    if sealed.v != SEAL_VERSION {
        return Err(OpenError);
    }
    let nonce = STANDARD_NO_PAD
        .decode(&sealed.nonce)
        .map_err(|_| OpenError)?;
    let ct = STANDARD_NO_PAD.decode(&sealed.ct).map_err(|_| OpenError)?;
    if nonce.len() != 12 {
        return Err(OpenError);
    }
    let plain = Zeroizing::new(
        cipher(token, purpose)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: &aad(store_key, purpose),
                },
            )
            .map_err(|_| OpenError)?,
    );
    let text = std::str::from_utf8(&plain).map_err(|_| OpenError)?;
    Ok(SecretString::from(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn sealed_value_opens_only_with_its_token_record_and_purpose() {
        let vault = Vault::new(secret("k".repeat(32).as_str()));
        let token = secret("token-a");
        let key = vault.store_key(TokenKind::Cookie, &token);
        let sealed = seal(&token, &key, Purpose::RenderApiKey, &secret("rnd_canary"));

        let opened = open(&token, &key, Purpose::RenderApiKey, &sealed).expect("opens");
        assert_eq!(opened.expose_secret(), "rnd_canary");

        let other_token = secret("token-b");
        let other_key = vault.store_key(TokenKind::Cookie, &other_token);
        assert!(open(&other_token, &key, Purpose::RenderApiKey, &sealed).is_err());
        assert!(open(&token, &other_key, Purpose::RenderApiKey, &sealed).is_err());
        assert!(open(&token, &key, Purpose::GitHubToken, &sealed).is_err());
    }

    #[test]
    fn sealed_form_holds_no_plaintext() {
        let token = secret("token-a");
        let key = Vault::new(secret("k")).store_key(TokenKind::Cookie, &token);
        let sealed = seal(&token, &key, Purpose::RenderApiKey, &secret("rnd_canary"));
        let stored = serde_json::to_string(&sealed).expect("serializes");
        assert!(
            !stored.contains("canary") && !stored.contains("token-a"),
            "{stored}"
        );
    }

    #[test]
    fn store_key_depends_on_secret_kind_and_token() {
        let a = Vault::new(secret("secret-one"));
        let b = Vault::new(secret("secret-two"));
        let t = secret("tok");
        assert_ne!(
            a.store_key(TokenKind::Cookie, &t),
            b.store_key(TokenKind::Cookie, &t)
        );
        assert_ne!(
            a.store_key(TokenKind::Cookie, &t),
            a.store_key(TokenKind::Bearer, &t)
        );
        assert!(!a.store_key(TokenKind::Cookie, &t).as_str().contains("tok"));
    }

    #[test]
    fn csrf_tokens_are_per_session() {
        let vault = Vault::new(secret("secret"));
        let t1 = secret("one");
        let t2 = secret("two");
        let csrf = vault.csrf_token(&t1);
        assert!(vault.csrf_matches(&t1, &csrf));
        assert!(!vault.csrf_matches(&t2, &csrf));
        assert!(!vault.csrf_matches(&t1, ""));
    }
}
