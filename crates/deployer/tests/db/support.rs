//! Runs each test body once per backend, each time on a fresh database.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use deployer::db::Database;
use deployer::db::audit::{AuditLog, Clock};
use futures::FutureExt;
use sqlx::{Connection, PgConnection, SqliteConnection};
use time::{Duration, OffsetDateTime};

/// A fresh, migrated database and the URL it was opened with (to open more pools on it).
pub struct TestDb {
    pub url: String,
    pub db: Database,
}

impl TestDb {
    /// Runs raw SQL behind the service's back, as someone with database access could.
    pub async fn tamper(&self, sql: &str) {
        if self.url.starts_with("sqlite:") {
            let mut c = SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        } else {
            let mut c = PgConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        }
    }

    /// An audit log whose clock starts at [`T0`] and ticks one second per event.
    pub fn audit_log(&self) -> (AuditLog, Arc<StepClock>) {
        let clock = Arc::new(StepClock(Mutex::new(T0)));
        (AuditLog::start(self.db.clone(), clock.clone()), clock)
    }
}

pub const T0: OffsetDateTime = time::macros::datetime!(2025-01-02 03:04:05.678901 UTC);

/// Returns the current time, then moves it one second on.
pub struct StepClock(Mutex<OffsetDateTime>);

impl Clock for StepClock {
    fn now(&self) -> OffsetDateTime {
        let mut t = self.0.lock().unwrap();
        let now = *t;
        *t += Duration::seconds(1);
        now
    }
}

/// Runs `test` on a temporary SQLite file, then on a fresh PostgreSQL database if
/// `TEST_DATABASE_URL` points at a server where it may create databases.
pub async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("deployer.db").display());
    let db = Database::connect(&url).await.unwrap();
    eprintln!("backend: sqlite");
    test(TestDb { url, db }).await;

    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL not set: PostgreSQL run skipped");
        return;
    };
    let name = format!("deployer_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    // Identifiers cannot be bound; `name` is generated above from a UUID.
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    let url = url.to_string();
    eprintln!("backend: postgres");
    let outcome = AssertUnwindSafe(async {
        let db = Database::connect(&url).await.unwrap();
        test(TestDb {
            url: url.clone(),
            db: db.clone(),
        })
        .await;
        db.close().await;
    })
    .catch_unwind()
    .await;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
