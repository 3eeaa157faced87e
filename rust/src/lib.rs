//! Gantry's native core. Pure Rust: the router, the balancers, the LMDB reader, HTTP head
//! parsing for the proxy and the node-wide tables in shared memory.
//!
//! This file only declares modules; logic lives in them, with unit tests beside it.
//! The Python binding (`dataplane._core`) is compiled only with the `python` feature.

// An undocumented public item fails the build: the binding, the Rust tests and the fuzz
// targets all build on this API.
#![deny(missing_docs)]

pub mod balancer;
pub mod entities;
pub mod http;
pub mod lmdb;
pub mod router;
pub mod shm;

#[cfg(feature = "python")]
mod py;
