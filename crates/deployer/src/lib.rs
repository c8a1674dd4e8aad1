//! Render Deployer: deploy a GitHub repository into the user's own Render
//! account, with the Render key sealed in the user's session.

pub mod clock;
pub mod config;
pub mod credentials;
pub mod plan;
pub mod session;
pub mod upstream;
