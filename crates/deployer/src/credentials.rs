//! Credential types. Each wraps a `SecretString`: `Debug` prints a redaction,
//! and the plaintext is reachable only through `expose_secret()` where a
//! request is built.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

/// A user's Render API key, shape-checked before any network call.
#[derive(Clone)]
pub struct RenderApiKey(SecretString);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RenderKeyError {
    #[error("a Render API key starts with `rnd_`")]
    MissingPrefix,
    #[error("a Render API key has only letters and digits after `rnd_`")]
    BadCharacter,
    #[error("a Render API key is between {min} and {max} characters long", min = RenderApiKey::MIN_LEN, max = RenderApiKey::MAX_LEN)]
    BadLength,
}

impl RenderApiKey {
    const PREFIX: &'static str = "rnd_";
    /// Render does not document the length; real keys are about 30 characters.
    /// The bounds only stop junk and oversized input.
    const MIN_LEN: usize = 12;
    const MAX_LEN: usize = 128;

    pub fn parse(raw: SecretString) -> Result<Self, RenderKeyError> {
        let text = raw.expose_secret().trim();
        if text.len() < Self::MIN_LEN || text.len() > Self::MAX_LEN {
            return Err(RenderKeyError::BadLength);
        }
        let body = text
            .strip_prefix(Self::PREFIX)
            .ok_or(RenderKeyError::MissingPrefix)?;
        if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(RenderKeyError::BadCharacter);
        }
        Ok(Self(SecretString::from(text.to_owned())))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl std::fmt::Debug for RenderApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderApiKey([REDACTED])")
    }
}

/// A GitHub OAuth access token (from the login flow or a bearer header).
#[derive(Clone)]
pub struct GitHubToken(SecretString);

impl GitHubToken {
    /// GitHub tokens are short ASCII strings; anything else is refused
    /// before it reaches GitHub or a hash.
    const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| Self(SecretString::from(raw.to_owned())))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl From<SecretString> for GitHubToken {
    fn from(secret: SecretString) -> Self {
        Self(secret)
    }
}

impl std::fmt::Debug for GitHubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitHubToken([REDACTED])")
    }
}

/// 256 random bits, held only by the browser (in the session cookie).
#[derive(Clone)]
pub struct SessionToken(SecretString);

impl SessionToken {
    const BYTES: usize = 32;
    /// base64url without padding of 32 bytes.
    const ENCODED_LEN: usize = 43;

    pub fn generate() -> Self {
        let mut bytes = [0u8; Self::BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A cookie value of the right shape; anything else is treated as no session.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == Self::ENCODED_LEN && URL_SAFE_NO_PAD.decode(raw).is_ok();
        ok.then(|| Self(SecretString::from(raw.to_owned())))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken([REDACTED])")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn key(raw: &str) -> Result<RenderApiKey, RenderKeyError> {
        RenderApiKey::parse(SecretString::from(raw.to_owned()))
    }

    #[test]
    fn render_key_shape() {
        assert!(key("rnd_abcdefghijklmnop1234").is_ok());
        assert!(
            key("  rnd_abcdefghijklmnop1234\n").is_ok(),
            "pasted whitespace is trimmed"
        );
        assert_eq!(
            key("abc_abcdefghijklmnop").unwrap_err(),
            RenderKeyError::MissingPrefix
        );
        assert_eq!(
            key("rnd_abcdefgh-ijklmn").unwrap_err(),
            RenderKeyError::BadCharacter
        );
        assert_eq!(key("rnd_abc").unwrap_err(), RenderKeyError::BadLength);
        assert_eq!(
            key(&format!("rnd_{}", "a".repeat(200))).unwrap_err(),
            RenderKeyError::BadLength
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let canary = "rnd_canaryCANARY12345678";
        let printed = format!(
            "{:?} {:?} {:?}",
            key(canary).expect("valid"),
            GitHubToken::parse("gho_canary").expect("valid"),
            SessionToken::generate()
        );
        assert!(!printed.contains("canary"), "{printed}");
    }

    #[test]
    fn session_tokens_are_unique_and_parse_back() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a.secret().expose_secret(), b.secret().expose_secret());
        assert!(SessionToken::parse(a.secret().expose_secret()).is_some());
        assert!(SessionToken::parse("short").is_none());
        assert!(SessionToken::parse(&"!".repeat(43)).is_none());
    }
}
