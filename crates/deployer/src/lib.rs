//! Render Deployer.
