//! The only pyo3 code: thin handles over the pure-Rust core, error mapping, no logic.
//!
//! Built only with the `python` feature; the module is importable as `dataplane._core`.

use pyo3::prelude::*;

mod balancer;
mod chunked;
mod errors;
mod fields;
mod http;
mod lmdb;
mod planner;
mod router;
mod shm;

#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    fields::register(m)?;
    router::register(m)?;
    balancer::register(m)?;
    lmdb::register(m)?;
    http::register(m)?;
    planner::register(m)?;
    chunked::register(m)?;
    shm::register(m)?;
    Ok(())
}
