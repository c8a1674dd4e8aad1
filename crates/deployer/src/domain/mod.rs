//! Validated input types: once constructed, a value is known to be well formed.

pub mod names;
