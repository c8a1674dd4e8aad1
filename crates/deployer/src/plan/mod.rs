//! Deploy planning: from a repository snapshot to the Render services to create, with reasons.

pub mod source;
