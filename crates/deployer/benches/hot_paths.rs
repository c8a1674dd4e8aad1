//! `cargo bench -p deployer --bench hot_paths`: the per-request costs of the
//! vault (store key, seal, open) and of loading a session from the memory
//! store. Plain timing loops (no extra crates); figures go in BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deployer::clock::SystemClock;
use deployer::credentials::{GitHubToken, SessionToken};
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
}
