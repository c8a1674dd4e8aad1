//! The HTTP plumbing both clients share: one configured `reqwest::Client`,
//! URL building from percent-encoded segments, status classification into
//! [`UpstreamError`], bounded body reads and the request metric.
//!
//! Nothing here ever formats a URL, a header value or a body into an error or
//! a log line: `reqwest::Error`'s `Display` contains the URL (and so any query),
//! so it is reduced to a [`UnavailableReason`] and dropped.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::{UnavailableReason, Upstream, UpstreamError};

/// Bodies larger than this are refused as malformed: no answer we parse is
/// legitimately bigger (GitHub caps a recursive tree at 7 MB).
const MAX_JSON_BODY_BYTES: usize = 8 * 1024 * 1024;

const USER_AGENT: &str = concat!("render-deployer/", env!("CARGO_PKG_VERSION"));

/// Render's rate-limit reset header: seconds until the window resets
/// (observed relative, although Render's docs call it epoch seconds).
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// GitHub's primary rate-limit headers; the reset is UTC epoch seconds.
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Builds the one HTTP client an upstream adapter uses for all its calls.
///
/// Redirects are never followed: a redirect would re-send the bearer
/// credential to wherever the `Location` points.
///
/// # Panics
/// Only if the TLS backend cannot be initialised, which is a broken build,
/// not a runtime condition; it happens once at start-up.
pub(crate) fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(USER_AGENT)
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the rustls HTTP client builds from static configuration")
}

/// One upstream's base URL and client.
#[derive(Clone)]
pub(crate) struct Transport {
    upstream: Upstream,
    base: Url,
    http: reqwest::Client,
}

impl Transport {
    pub(crate) fn new(upstream: Upstream, base: &Url, timeout: Duration) -> Self {
        Self {
            upstream,
            base: base.clone(),
            http: http_client(timeout),
        }
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The base URL with `segments` appended, each percent-encoded as one
    /// path segment (a `/` inside a segment becomes `%2F`).
    ///
    /// An empty, `.` or `..` segment is answered `NotFound` without a request:
    /// `url` would silently drop dot segments (so `services/../x` would hit
    /// `x`), and no GitHub or Render resource can be named like that.
    pub(crate) fn url<'s>(
        &self,
        segments: impl IntoIterator<Item = &'s str>,
    ) -> Result<Url, UpstreamError> {
        let segments: Vec<&str> = segments.into_iter().collect();
        if segments
            .iter()
            .any(|segment| matches!(*segment, "" | "." | ".."))
        {
            return Err(UpstreamError::NotFound(self.upstream));
        }
        let mut url = self.base.clone();
        match url.path_segments_mut() {
            Ok(mut path) => {
                path.pop_if_empty().extend(segments);
            }
            Err(()) => {
                // A `mailto:`-like base: configuration error, reported without the URL.
                tracing::error!(
                    upstream = %self.upstream,
                    "upstream base URL cannot carry a path"
                );
                return Err(self.unavailable(UnavailableReason::Connect));
            }
        }
        Ok(url)
    }

    /// Sends the request, counts it, and turns any non-2xx answer into the
    /// typed error. A 2xx response is returned for the caller to read.
    pub(crate) async fn send(&self, request: RequestBuilder) -> Result<Response, UpstreamError> {
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let reason = transport_reason(&error);
                record(self.upstream, outcome_label(reason));
                tracing::debug!(
                    upstream = %self.upstream,
                    reason = %reason,
                    "upstream request failed"
                );
                return Err(self.unavailable(reason));
            }
        };
        let status = response.status();
        record(self.upstream, status_label(status));
        match classify(self.upstream, status, response.headers(), SystemTime::now()) {
            Ok(()) => Ok(response),
            Err(error) => {
                tracing::debug!(
                    upstream = %self.upstream,
                    http.status = status.as_u16(),
                    "upstream answered with an error status"
                );
                Err(error)
            }
        }
    }

    /// Reads a 2xx body of at most [`MAX_JSON_BODY_BYTES`]; a larger one is malformed.
    pub(crate) async fn bytes(&self, response: Response) -> Result<Vec<u8>, UpstreamError> {
        read_capped(response, MAX_JSON_BODY_BYTES)
            .await
            .map_err(|error| match error {
                BodyError::Upstream(reason) => self.unavailable(reason),
                BodyError::TooLarge => self.unavailable(UnavailableReason::Malformed),
            })
    }

    /// Reads and parses a 2xx JSON body.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        response: Response,
    ) -> Result<T, UpstreamError> {
        let bytes = self.bytes(response).await?;
        self.parse(&bytes)
    }

    /// Parses JSON; the serde error (which may quote the body) is not kept.
    pub(crate) fn parse<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, UpstreamError> {
        serde_json::from_slice(bytes).map_err(|error| {
            tracing::warn!(
                upstream = %self.upstream,
                serde.line = error.line(),
                serde.column = error.column(),
                "upstream answer did not parse"
            );
            self.unavailable(UnavailableReason::Malformed)
        })
    }

    pub(crate) fn unavailable(&self, reason: UnavailableReason) -> UpstreamError {
        UpstreamError::Unavailable {
            upstream: self.upstream,
            reason,
        }
    }
}

/// Why reading a body stopped.
#[derive(Debug)]
pub(crate) enum BodyError {
    Upstream(UnavailableReason),
    TooLarge,
}

/// Reads a 2xx body of at most `cap` bytes.
pub(crate) async fn read_capped(mut response: Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > cap as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(error) => return Err(BodyError::Upstream(transport_reason(&error))),
        }
    }
}

/// Maps a status (and, for rate limits, its headers) to the typed error.
/// `now` is passed in so GitHub's epoch-based reset can be tested.
pub(crate) fn classify(
    upstream: Upstream,
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<(), UpstreamError> {
    if status.is_success() {
        return Ok(());
    }
    let error = match status {
        StatusCode::UNAUTHORIZED => UpstreamError::Unauthorized(upstream),
        StatusCode::FORBIDDEN if is_github_rate_limit(upstream, headers) => {
            UpstreamError::RateLimited {
                upstream,
                retry_after: retry_after(headers, now),
            }
        }
        StatusCode::FORBIDDEN => UpstreamError::Forbidden(upstream),
        StatusCode::NOT_FOUND => UpstreamError::NotFound(upstream),
        StatusCode::CONFLICT => UpstreamError::Conflict(upstream),
        StatusCode::TOO_MANY_REQUESTS => UpstreamError::RateLimited {
            upstream,
            retry_after: retry_after(headers, now),
        },
        status if status.is_server_error() => UpstreamError::Unavailable {
            upstream,
            reason: UnavailableReason::ServerError,
        },
        // Other 4xx, and 1xx/3xx, which we never expect since redirects are
        // not followed: the request was not served.
        status => UpstreamError::Rejected {
            upstream,
            status: status.as_u16(),
        },
    };
    Err(error)
}

/// GitHub answers an exhausted primary limit with 403 and
/// `x-ratelimit-remaining: 0`, and a secondary limit with 403 and `retry-after`.
fn is_github_rate_limit(upstream: Upstream, headers: &HeaderMap) -> bool {
    upstream == Upstream::GitHub
        && (header_u64(headers, &X_RATELIMIT_REMAINING) == Some(0)
            || headers.contains_key(RETRY_AFTER))
}

/// How long to wait, from the first header that says: `Retry-After`
/// (seconds), Render's `Ratelimit-Reset` (relative seconds), then GitHub's
/// `x-ratelimit-reset` (epoch seconds) when the limit is exhausted.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(seconds) = header_u64(headers, &RETRY_AFTER) {
        return Some(Duration::from_secs(seconds));
    }
    if let Some(seconds) = header_u64(headers, &RATELIMIT_RESET) {
        return Some(Duration::from_secs(seconds));
    }
    if header_u64(headers, &X_RATELIMIT_REMAINING) == Some(0) {
        let reset = header_u64(headers, &X_RATELIMIT_RESET)?;
        let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
        return Some(Duration::from_secs(reset.saturating_sub(now)));
    }
    None
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn transport_reason(error: &reqwest::Error) -> UnavailableReason {
    if error.is_timeout() {
        UnavailableReason::Timeout
    } else if error.is_decode() {
        UnavailableReason::Malformed
    } else {
        // Connect failures, resets and bodies cut short all mean the same to a caller.
        UnavailableReason::Connect
    }
}

/// Bounded label values for `upstream_requests_total{status}`.
fn status_label(status: StatusCode) -> &'static str {
    match status.as_u16() {
        429 => "429",
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn outcome_label(reason: UnavailableReason) -> &'static str {
    match reason {
        UnavailableReason::Timeout => "timeout",
        _ => "error",
    }
}

fn record(upstream: Upstream, status: &'static str) {
    metrics::counter!(
        crate::telemetry::UPSTREAM_REQUESTS,
        "upstream" => upstream.as_str(),
        "status" => status
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const NOW_EPOCH: u64 = 1_800_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW_EPOCH)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).expect("test header value"),
            );
        }
        map
    }

    fn classify_status(
        upstream: Upstream,
        status: u16,
        pairs: &[(&'static str, &str)],
    ) -> Result<(), UpstreamError> {
        classify(
            upstream,
            StatusCode::from_u16(status).expect("test status"),
            &headers(pairs),
            now(),
        )
    }

    #[test]
    fn success_statuses_pass() {
        for status in [200, 201, 202, 204] {
            assert!(
                classify_status(Upstream::Render, status, &[]).is_ok(),
                "{status}"
            );
        }
    }

    #[test]
    fn plain_statuses_map_to_their_variant() {
        for upstream in [Upstream::Render, Upstream::GitHub] {
            assert!(
                matches!(classify_status(upstream, 401, &[]), Err(UpstreamError::Unauthorized(u)) if u == upstream)
            );
            assert!(
                matches!(classify_status(upstream, 403, &[]), Err(UpstreamError::Forbidden(u)) if u == upstream)
            );
            assert!(
                matches!(classify_status(upstream, 404, &[]), Err(UpstreamError::NotFound(u)) if u == upstream)
            );
            assert!(
                matches!(classify_status(upstream, 409, &[]), Err(UpstreamError::Conflict(u)) if u == upstream)
            );
            for status in [400, 402, 406, 410, 422] {
                assert!(
                    matches!(classify_status(upstream, status, &[]), Err(UpstreamError::Rejected { upstream: u, status: s }) if u == upstream && s == status),
                    "{status}"
                );
            }
            for status in [500, 502, 503, 504] {
                assert!(
                    matches!(
                        classify_status(upstream, status, &[]),
                        Err(UpstreamError::Unavailable { upstream: u, reason: UnavailableReason::ServerError }) if u == upstream
                    ),
                    "{status}"
                );
            }
        }
    }

    #[test]
    fn redirects_are_rejected_not_followed() {
        assert!(matches!(
            classify_status(
                Upstream::GitHub,
                301,
                &[("location", "https://elsewhere.example/")]
            ),
            Err(UpstreamError::Rejected { status: 301, .. })
        ));
    }

    fn retry_after_of(result: Result<(), UpstreamError>) -> Option<Duration> {
        match result {
            Err(UpstreamError::RateLimited { retry_after, .. }) => retry_after,
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }

    #[test]
    fn too_many_requests_reads_retry_after_seconds() {
        let result = classify_status(Upstream::Render, 429, &[("retry-after", "7")]);
        assert_eq!(retry_after_of(result), Some(Duration::from_secs(7)));
    }

    #[test]
    fn render_ratelimit_reset_is_relative_seconds() {
        let result = classify_status(
            Upstream::Render,
            429,
            &[
                ("ratelimit-limit", "20"),
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "1093"),
            ],
        );
        assert_eq!(retry_after_of(result), Some(Duration::from_secs(1093)));
    }

    #[test]
    fn retry_after_wins_over_ratelimit_reset() {
        let result = classify_status(
            Upstream::Render,
            429,
            &[("retry-after", "3"), ("ratelimit-reset", "50")],
        );
        assert_eq!(retry_after_of(result), Some(Duration::from_secs(3)));
    }

    #[test]
    fn rate_limit_without_hints_has_no_retry_after() {
        assert_eq!(
            retry_after_of(classify_status(Upstream::Render, 429, &[])),
            None
        );
        // An HTTP-date Retry-After is not trusted as a number.
        let dated = classify_status(
            Upstream::Render,
            429,
            &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
        );
        assert_eq!(retry_after_of(dated), None);
    }

    #[test]
    fn github_403_with_exhausted_primary_limit_is_rate_limited() {
        let reset = (NOW_EPOCH + 120).to_string();
        let result = classify_status(
            Upstream::GitHub,
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
        );
        assert_eq!(retry_after_of(result), Some(Duration::from_secs(120)));
    }

    #[test]
    fn github_403_with_secondary_limit_retry_after_is_rate_limited() {
        let result = classify_status(
            Upstream::GitHub,
            403,
            &[("x-ratelimit-remaining", "4000"), ("retry-after", "60")],
        );
        assert_eq!(retry_after_of(result), Some(Duration::from_secs(60)));
    }

    #[test]
    fn github_403_with_remaining_quota_is_forbidden() {
        assert!(matches!(
            classify_status(Upstream::GitHub, 403, &[("x-ratelimit-remaining", "4999")]),
            Err(UpstreamError::Forbidden(Upstream::GitHub))
        ));
    }

    #[test]
    fn render_403_is_forbidden_even_with_rate_headers() {
        assert!(matches!(
            classify_status(Upstream::Render, 403, &[("x-ratelimit-remaining", "0")]),
            Err(UpstreamError::Forbidden(Upstream::Render))
        ));
    }

    #[test]
    fn github_reset_in_the_past_waits_zero() {
        let reset = (NOW_EPOCH - 5).to_string();
        let result = classify_status(
            Upstream::GitHub,
            429,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
        );
        assert_eq!(retry_after_of(result), Some(Duration::ZERO));
    }

    #[test]
    fn status_labels_are_bounded_classes() {
        let labels: Vec<_> = [200, 204, 302, 401, 404, 429, 500, 503]
            .into_iter()
            .map(|s| status_label(StatusCode::from_u16(s).expect("test status")))
            .collect();
        assert_eq!(
            labels,
            ["2xx", "2xx", "3xx", "4xx", "4xx", "429", "5xx", "5xx"]
        );
    }

    #[test]
    fn url_segments_are_percent_encoded() {
        let base = Url::parse("http://127.0.0.1:1/v1").expect("test url");
        let transport = Transport::new(Upstream::Render, &base, Duration::from_secs(1));
        let url = transport
            .url(["services", "srv-1/../x?y#z", "deploys"])
            .expect("base can carry a path");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/v1/services/srv-1%2F..%2Fx%3Fy%23z/deploys"
        );
    }

    #[test]
    fn dot_and_empty_segments_are_not_found_without_a_request() {
        let base = Url::parse("http://127.0.0.1:1/v1").expect("test url");
        let transport = Transport::new(Upstream::Render, &base, Duration::from_secs(1));
        for bad in ["", ".", ".."] {
            assert!(matches!(
                transport.url(["services", bad, "deploys"]),
                Err(UpstreamError::NotFound(Upstream::Render))
            ));
        }
    }

    #[test]
    fn base_with_trailing_slash_is_joined_once() {
        let base = Url::parse("http://127.0.0.1:1/v1/").expect("test url");
        let transport = Transport::new(Upstream::Render, &base, Duration::from_secs(1));
        let url = transport.url(["owners"]).expect("base can carry a path");
        assert_eq!(url.as_str(), "http://127.0.0.1:1/v1/owners");
    }
}
