//! `cargo bench -p deployer --bench hot_paths`: the per-request costs of the
//! vault (store key, seal, open), of loading a session from the memory
//! store, and of recording an audit event (what a request waits for) next to
//! how fast the writer commits them to SQLite. Plain timing loops (no extra
//! crates); figures go in BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deployer::clock::SystemClock;
use deployer::credentials::{GitHubToken, SessionToken};
use deployer::db::Database;
use deployer::db::audit::{AuditDetails, AuditEvent, AuditKind, AuditLog, AuditStatus};
use deployer::session::store::MemoryStore;
use deployer::session::vault::{Purpose, TokenKind, Vault, open, seal};
use deployer::session::{ClientToken, GitHubIdentity, LoadOutcome, SessionManager};
use secrecy::SecretString;

fn measure(name: &str, iterations: u32, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let started = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let per = started.elapsed() / iterations;
    println!(
        "{name:<40} {:>10.2} µs/op  ({iterations} iterations)",
        per.as_secs_f64() * 1e6
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let vault = Vault::new(SecretString::from("b".repeat(64)));
    let token = SessionToken::generate();
    let key = vault.store_key(TokenKind::Cookie, token.secret());
    let render_key = SecretString::from("rnd_benchmarkKey0123456789abcd".to_owned());
    let sealed = seal(token.secret(), &key, Purpose::RenderApiKey, &render_key);

    measure("vault: store key (HMAC-SHA256)", 200_000, || {
        black_box(vault.store_key(TokenKind::Cookie, black_box(token.secret())));
    });
    measure("vault: seal Render key (HKDF + AES-GCM)", 100_000, || {
        black_box(seal(
            token.secret(),
            &key,
            Purpose::RenderApiKey,
            &render_key,
        ));
    });
    measure("vault: open Render key", 100_000, || {
        black_box(open(token.secret(), &key, Purpose::RenderApiKey, &sealed).ok());
    });
    measure("vault: CSRF token check", 200_000, || {
        black_box(vault.csrf_matches(token.secret(), "not-the-token"));
    });

    let clock = Arc::new(SystemClock);
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let manager = SessionManager::new(
        store,
        vault.clone(),
        clock,
        Duration::from_secs(1800),
        Duration::from_secs(8 * 3600),
    );
    let user = GitHubIdentity {
        id: 1,
        login: "bench".into(),
    };
    let gh = GitHubToken::parse("gho_benchmark").expect("valid token");
    // A store holding 10,000 other sessions, as a busy instance would.
    for i in 0..10_000u64 {
        let other = GitHubIdentity {
            id: i + 2,
            login: format!("u{i}"),
        };
        manager.create(&other, &gh, None).await.expect("create");
    }
    let session = manager.create(&user, &gh, None).await.expect("create");
    let cookie = session.session_token().expect("cookie").clone();
    let iterations = 50_000u32;
    let started = Instant::now();
    for _ in 0..iterations {
        let outcome = manager
            .load(ClientToken::Cookie(cookie.clone()), None)
            .await
            .expect("load");
        assert!(matches!(outcome, LoadOutcome::Active(_)));
    }
    let per = started.elapsed() / iterations;
    println!(
        "{:<40} {:>10.2} µs/op  ({iterations} iterations, 10,001 sessions stored)",
        "session: load from memory store",
        per.as_secs_f64() * 1e6
    );

    audit().await;
}

/// A request only queues its event; the writer commits in batches behind it.
async fn audit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Database::connect(&url).await.expect("database");
    let log = AuditLog::start(db, Arc::new(SystemClock));
    let event = || AuditEvent {
        user_id: Some(42),
        kind: AuditKind::DeploymentRequested,
        status: AuditStatus::Success,
        details: AuditDetails {
            request_id: Some("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into()),
            route: Some("/api/render/deploy".into()),
            repo: Some("octo/app".into()),
            ..AuditDetails::default()
        },
    };
    // Batches of 1,000 stay well inside the queue, so none is dropped.
    let (batches, per_batch) = (20u32, 1_000u32);
    let mut queued = Duration::ZERO;
    let started = Instant::now();
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..per_batch {
            log.record(event());
        }
        queued += t.elapsed();
        log.flush().await;
    }
    let committed = started.elapsed();
    let events = batches * per_batch;
    println!(
        "{:<40} {:>10.2} µs/op  ({events} events)",
        "audit: record (queue only)",
        (queued / events).as_secs_f64() * 1e6
    );
    println!(
        "{:<40} {:>10.0} events/s  (SQLite, synchronous=FULL, hash chain)",
        "audit: committed by the writer",
        f64::from(events) / committed.as_secs_f64()
    );
}
