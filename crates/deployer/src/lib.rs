//! Render Deployer: deploy a GitHub repository into the user's own Render
//! account, with the Render key sealed in the user's session.

pub mod domain;
pub mod plan;
pub mod upstream;
