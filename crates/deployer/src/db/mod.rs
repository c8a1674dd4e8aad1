//! The database adapter: audit log and deployment history, on SQLite (default) or PostgreSQL.
//!
//! One portable set of migrations (`crates/deployer/migrations/`) and one body of SQL serve both
//! backends: every statement uses `$n` placeholders (which SQLite also accepts), BIGINT/TEXT/BOOLEAN
//! columns, and timestamps as Unix microseconds. `on_pool!` expands a body once per backend so
//! each query is written once and type-checked against both drivers.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use time::OffsetDateTime;

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend `$db` uses.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}

pub mod audit;
pub mod history;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Errors of the database layer. None of them carries a connection URL or row contents.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with `sqlite:` or `postgres:`")]
    UnsupportedUrl,
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded (e.g. an unknown status string).
    #[error("stored {0} is malformed")]
    Corrupt(&'static str),
    /// A value does not fit its column (e.g. a timestamp outside the representable range).
    #[error("{0} is out of range for the database")]
    OutOfRange(&'static str),
    #[error("no such row")]
    NotFound,
    #[error("could not encode a row: {0}")]
    Json(#[from] serde_json::Error),
    #[error("could not write the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Which database engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A connection pool to the audit/history database. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
}

impl std::fmt::Debug for Database {
    // The URL (and any password in it) is never kept, so there is nothing to leak here.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend())
            .finish()
    }
}

impl Database {
    /// Connects and runs pending migrations.
    ///
    /// `sqlite:` URLs create the file if missing and use WAL with `synchronous=FULL`, so a
    /// committed audit batch survives a power loss; `postgres:` URLs are used as given.
    /// Opens (creating a missing SQLite file) and migrates: what the service does.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::open(url, true).await
    }

    /// As [`Database::connect`], but a missing SQLite file is an error: `audit verify` on a
    /// mistyped path must not report a new, empty log as intact.
    pub async fn connect_existing(url: &str) -> Result<Self, DbError> {
        Self::open(url, false).await
    }

    async fn open(url: &str, create_if_missing: bool) -> Result<Self, DbError> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(create_if_missing)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                // Writers from other processes queue behind `BEGIN IMMEDIATE` instead of failing.
                .busy_timeout(Duration::from_secs(30));
            // Never close idle connections: that would discard a `sqlite::memory:` database.
            let pool = SqlitePoolOptions::new()
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            Pool::Postgres(PgPoolOptions::new().connect_with(options).await?)
        } else {
            return Err(DbError::UnsupportedUrl);
        };
        let db = Database { pool };
        on_pool!(db, pool => { MIGRATOR.run(pool).await?; });
        Ok(db)
    }

    /// One round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

/// Every audit and history row as text, so canary tests can assert that no secret was stored.
pub async fn all_rows_text(db: &Database) -> Result<Vec<String>, DbError> {
    let mut text = audit::rows_text(db).await?;
    text.extend(history::rows_text(db).await?);
    Ok(text)
}

/// Timestamps are stored as Unix microseconds: both backends order and compare them alike.
fn to_micros(t: OffsetDateTime) -> Result<i64, DbError> {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).map_err(|_| DbError::OutOfRange("timestamp"))
}

fn from_micros(us: i64) -> Result<OffsetDateTime, DbError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .map_err(|_| DbError::Corrupt("timestamp"))
}

/// GitHub ids are positive and far below `i64::MAX`; the column is a signed BIGINT.
fn user_to_db(user_id: u64) -> Result<i64, DbError> {
    i64::try_from(user_id).map_err(|_| DbError::OutOfRange("user id"))
}

fn user_from_db(user_id: i64) -> Result<u64, DbError> {
    u64::try_from(user_id).map_err(|_| DbError::Corrupt("user id"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip_truncates_below_a_microsecond() {
        let t = time::macros::datetime!(2025-03-04 05:06:07.123456789 UTC);
        let back = from_micros(to_micros(t).unwrap()).unwrap();
        assert_eq!(
            back,
            time::macros::datetime!(2025-03-04 05:06:07.123456 UTC)
        );
    }

    #[test]
    fn user_ids_beyond_bigint_are_refused() {
        assert!(matches!(user_to_db(u64::MAX), Err(DbError::OutOfRange(_))));
        assert_eq!(user_from_db(user_to_db(42).unwrap()).unwrap(), 42);
    }
}
