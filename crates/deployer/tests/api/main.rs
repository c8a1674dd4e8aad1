//! The service over real HTTP against the real emulator.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod auth;
mod helpers;
mod sessions;
mod security;
mod audit_metrics;
