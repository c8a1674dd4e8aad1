//! The service over real HTTP against the real emulator.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod audit_metrics;
mod auth;
mod deploy;
mod deploy_faults;
mod helpers;
mod plan;
mod security;
mod sessions;
mod startup;
