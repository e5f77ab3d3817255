//! Tokio driver over wa-core.
