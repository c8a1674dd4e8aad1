//! Integration tests: every endpoint over real HTTP against `emulator::spawn` on port 0.
//! One binary (modules below) so the crate links once.

mod concurrency;
mod contract;
mod control_api;
mod faults;
mod github_api;
mod github_oauth;
mod helpers;
mod render_api;
