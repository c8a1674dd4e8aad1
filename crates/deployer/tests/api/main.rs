//! The service over real HTTP against the real emulator.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod audit_metrics;
mod auth;
mod helpers;
mod security;
mod sessions;
