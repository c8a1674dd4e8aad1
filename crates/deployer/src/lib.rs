//! Render Deployer: deploy a GitHub repository into the user's own Render
//! account, with the Render key sealed in the user's session.

pub mod account;
pub mod alerts;
pub mod app;
pub mod clock;
pub mod config;
pub mod context;
pub mod credentials;
pub mod db;
#[cfg(feature = "demo")]
pub mod demo;
pub mod deploy;
pub mod domain;
pub mod error;
pub mod http;
pub mod login;
pub mod openapi;
pub mod plan;
pub mod ratelimit;
pub mod session;
pub mod telemetry;
pub mod upstream;
pub mod web;
