//! Audit log and deployment history against real databases: SQLite always, PostgreSQL too when
//! `TEST_DATABASE_URL` is set.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod audit;
mod history;
mod support;
