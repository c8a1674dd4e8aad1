//! The real GitHub and Render clients against the real emulator over HTTP.

mod github;
mod helpers;
mod render;
