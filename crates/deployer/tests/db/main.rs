//! Audit log and deployment history against real databases: SQLite always, PostgreSQL too when
//! `TEST_DATABASE_URL` is set.

mod audit;
mod history;
mod support;
