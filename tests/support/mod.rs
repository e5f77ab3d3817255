//! Helpers shared by the integration tests (`mod support;` in a test file).
//! Each test binary uses only part of them.

#![allow(dead_code)]

pub mod matrix;
pub mod synapse;
