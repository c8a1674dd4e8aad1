//! Identifiers, credentials, fingerprints and timestamps in the shapes GitHub and Render use.

use rand::Rng as _;
use rand::distributions::Alphanumeric;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

fn alphanumeric(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn lowercase_alphanumeric(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect()
}

/// A Render resource id: a prefix such as `srv` plus 20 lowercase alphanumerics.
pub(crate) fn render_id(prefix: &str) -> String {
    format!("{prefix}-{}", lowercase_alphanumeric(20))
}

/// A Render API key: `rnd_` plus 32 alphanumerics.
pub(crate) fn render_api_key() -> String {
    format!("rnd_{}", alphanumeric(32))
}

/// A GitHub OAuth App user token: `gho_` plus 36 alphanumerics.
pub(crate) fn github_token() -> String {
    format!("gho_{}", alphanumeric(36))
}

pub(crate) fn oauth_code() -> String {
    hex::encode(rand::random::<[u8; 10]>())
}

/// OAuth App client ids today look like `Ov23li` plus 14 alphanumerics.
pub(crate) fn oauth_client_id() -> String {
    format!("Ov23li{}", alphanumeric(14))
}

pub(crate) fn oauth_client_secret() -> String {
    hex::encode(rand::random::<[u8; 20]>())
}

/// Four lowercase alphanumerics, the suffix Render adds to a slug that is already taken.
pub(crate) fn slug_suffix() -> String {
    lowercase_alphanumeric(4)
}

/// First 16 hex digits of SHA-256 of a credential: enough to tell credentials apart, useless to replay.
pub fn fingerprint(credential: &str) -> String {
    let digest = Sha256::digest(credential.as_bytes());
    hex::encode(&digest[..8])
}

/// A stable 40-hex "git object id" for some content (SHA-256 cut down; clients treat it as opaque).
pub(crate) fn object_sha(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(&hasher.finalize()[..20])
}

/// Render's timestamps: RFC 3339, UTC, microseconds (`2025-01-13T16:41:48.081145Z`).
pub(crate) fn render_time(at: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// GitHub's timestamps: RFC 3339, UTC, whole seconds.
pub(crate) fn github_time(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_ids_have_a_prefix_and_twenty_lowercase_alphanumerics() {
        let id = render_id("srv");
        let body = id.strip_prefix("srv-").expect("prefix");
        assert_eq!(body.len(), 20);
        assert!(
            body.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn credentials_have_their_real_shapes() {
        let key = render_api_key();
        assert_eq!(key.len(), 36);
        assert!(key[4..].chars().all(|c| c.is_ascii_alphanumeric()));
        let token = github_token();
        assert!(token.starts_with("gho_"));
        assert_eq!(token.len(), 40);
    }

    #[test]
    fn fingerprint_is_the_first_16_hex_digits_of_sha256() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223...
        assert_eq!(fingerprint("abc"), "ba7816bf8f01cfea");
    }

    #[test]
    fn render_time_has_microseconds_and_z() {
        let at = time::macros::datetime!(2025-01-13 16:41:48.081145 UTC);
        assert_eq!(render_time(at), "2025-01-13T16:41:48.081145Z");
        assert_eq!(github_time(at), "2025-01-13T16:41:48Z");
    }
}
