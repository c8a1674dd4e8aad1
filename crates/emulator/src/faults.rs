//! The layer every upstream request passes through: it applies injected faults, adds the
//! upstreams' rate-limit headers and records the request for `GET /_emulator/requests`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::control::{Fault, FaultKind, LoggedRequest, Upstream};
use crate::ids::fingerprint;
use crate::state::{AppState, RateWindow};
use crate::{github, render};

/// Set by a handler when the credential is not in the `Authorization` header
/// (a client secret in the token request's form body).
#[derive(Clone)]
pub(crate) struct CredentialUsed(pub(crate) String);

/// Listener whose connections can be cut by a `drop` fault.
pub(crate) struct KillableListener(pub(crate) TcpListener);

impl axum::serve::Listener for KillableListener {
    type Io = KillableStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.0).await;
        let stream = KillableStream {
            inner: stream,
            killed: Arc::default(),
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

pub(crate) struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

/// Handle to one connection, available to handlers as `ConnectInfo<ConnectionHandle>`.
#[derive(Clone)]
pub(crate) struct ConnectionHandle(Arc<AtomicBool>);

impl ConnectionHandle {
    /// After this, every read or write on the connection fails, so the server closes it
    /// before a single byte of the answer goes out.
    fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnectionHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        Self(Arc::clone(&stream.io().killed))
    }
}

fn killed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by a fault",
    )
}

impl KillableStream {
    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_killed() {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn upstream_of(path: &str) -> Upstream {
    if path == "/v1" || path.starts_with("/v1/") {
        Upstream::Render
    } else {
        Upstream::Github
    }
}

/// The credential in `Authorization`: a bearer/`token` value, or the password of Basic auth
/// (the OAuth client secret).
fn header_credential(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_, secret) = decoded.split_once(':')?;
        return Some(secret.to_owned());
    }
    None
}

/// Seconds left (at least 1) of a rate limit in force for this request, if any.
fn rate_window(state: &AppState, upstream: Upstream, path: &str) -> Option<u64> {
    let mut guard = state.lock();
    let now = Instant::now();
    guard.rate_windows.retain(|w| w.until > now);
    guard
        .rate_windows
        .iter()
        .filter(|w| w.upstream == upstream && path.starts_with(&w.path_prefix))
        .map(|w| (w.until - now).as_secs_f64().ceil() as u64)
        .max()
        .map(|s| s.max(1))
}

fn take_fault(state: &AppState, upstream: Upstream, path: &str) -> Option<Fault> {
    let mut guard = state.lock();
    let index = guard
        .faults
        .iter()
        .position(|f| f.upstream == upstream && f.count > 0 && path.starts_with(&f.path_prefix))?;
    let fault = &mut guard.faults[index];
    fault.count -= 1;
    let taken = fault.clone();
    if fault.count == 0 {
        guard.faults.remove(index);
    }
    Some(taken)
}

pub(crate) async fn upstream_layer(
    State(state): State<AppState>,
    ConnectInfo(connection): ConnectInfo<ConnectionHandle>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().to_string();
    let upstream = upstream_of(&path);
    let header_credential = header_credential(request.headers());

    // A rate limit in force answers before any fault is taken (windows are Render-only).
    let fault = match rate_window(&state, upstream, &path) {
        Some(seconds) => Err(render::rate_limited_response(seconds)),
        None => Ok(take_fault(&state, upstream, &path)),
    };
    let mut response = match fault {
        Err(limited) => limited,
        Ok(None) => next.run(request).await,
        Ok(Some(fault)) => match fault.kind {
            FaultKind::Delay => {
                tokio::time::sleep(Duration::from_millis(fault.delay_ms.unwrap_or(1000))).await;
                next.run(request).await
            }
            FaultKind::Drop => {
                connection.kill();
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
            FaultKind::Status => {
                let status = fault
                    .status
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                match upstream {
                    Upstream::Render => render::error_response(status, "injected fault"),
                    Upstream::Github => github::error_response(status, "Server Error"),
                }
            }
            FaultKind::Malformed => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                Body::from("{\"id\": \"srv-trunc"),
            )
                .into_response(),
            FaultKind::RateLimit => match (upstream, fault.retry_after_s) {
                (Upstream::Render, Some(seconds)) => {
                    state.lock().rate_windows.push(RateWindow {
                        upstream,
                        path_prefix: fault.path_prefix.clone(),
                        until: Instant::now() + Duration::from_secs(seconds),
                    });
                    render::rate_limited_response(seconds)
                }
                (Upstream::Render, None) => render::rate_limited_response(30),
                (Upstream::Github, _) => github::rate_limited_response(),
            },
        },
    };

    let credential = response
        .extensions_mut()
        .remove::<CredentialUsed>()
        .map(|c| c.0)
        .or(header_credential);
    add_rate_limit_headers(upstream, response.headers_mut());
    state.lock().requests.push(LoggedRequest {
        upstream,
        method,
        path,
        status: response.status().as_u16(),
        credential_fingerprint: credential.as_deref().map(fingerprint),
    });
    response
}

/// The headers both upstreams send on every answer. The emulator enforces no quota of its own
/// (a `rate_limit` fault does that), so it reports a full budget.
fn add_rate_limit_headers(upstream: Upstream, headers: &mut HeaderMap) {
    let pairs: [(&str, HeaderValue); 3] = match upstream {
        Upstream::Render => [
            ("ratelimit-limit", HeaderValue::from_static("400")),
            ("ratelimit-remaining", HeaderValue::from_static("399")),
            ("ratelimit-reset", HeaderValue::from_static("60")),
        ],
        Upstream::Github => [
            ("x-ratelimit-limit", HeaderValue::from_static("5000")),
            ("x-ratelimit-remaining", HeaderValue::from_static("4999")),
            ("x-ratelimit-used", HeaderValue::from_static("1")),
        ],
    };
    for (name, value) in pairs {
        if !headers.contains_key(name) {
            headers.insert(name, value);
        }
    }
    if upstream == Upstream::Github {
        if !headers.contains_key("x-ratelimit-reset") {
            let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
            if let Ok(value) = HeaderValue::from_str(&reset.to_string()) {
                headers.insert("x-ratelimit-reset", value);
            }
        }
        headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    }
}
