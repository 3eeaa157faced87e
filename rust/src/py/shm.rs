//! `SharedCounters`: a handle over `crate::shm::CounterTable`.

use std::path::PathBuf;

use pyo3::prelude::*;

use super::errors::SharedMemoryError;
use crate::shm::{CounterTable, Increment, ShmError, COUNTERS_BYTES};

fn to_py(error: ShmError) -> PyErr {
    SharedMemoryError::new_err(error.to_string())
}

#[pyclass(name = "SharedCounters", module = "dataplane._core", frozen)]
pub struct PySharedCounters {
    inner: CounterTable,
}

#[pymethods]
impl PySharedCounters {
    /// The region's size when no slot count is given: Kong's 12m.
    #[classattr]
    const DEFAULT_BYTES: usize = COUNTERS_BYTES;

    /// Makes the table's file at `path` afresh (a file there is replaced).
    #[staticmethod]
    #[pyo3(signature = (path, slots = None))]
    fn create(path: PathBuf, slots: Option<u64>) -> PyResult<Self> {
        let slots = slots.unwrap_or_else(|| CounterTable::slots_for(COUNTERS_BYTES));
        Ok(PySharedCounters { inner: CounterTable::create(&path, slots).map_err(to_py)? })
    }

    /// Maps the table another process created at `path`.
    #[staticmethod]
    fn open(path: PathBuf) -> PyResult<Self> {
        Ok(PySharedCounters { inner: CounterTable::open(&path).map_err(to_py)? })
    }

    /// A table of this process alone.
    #[staticmethod]
    #[pyo3(signature = (slots = None))]
    fn private(slots: Option<u64>) -> PyResult<Self> {
        let slots = slots.unwrap_or_else(|| CounterTable::slots_for(COUNTERS_BYTES));
        Ok(PySharedCounters { inner: CounterTable::anonymous(slots).map_err(to_py)? })
    }

    #[getter]
    fn slots(&self) -> u64 {
        self.inner.slots()
    }

    #[getter]
    fn path(&self) -> &str {
        self.inner.path()
    }

    /// `(True, count)` when `n` was added, `(False, count)` when that would pass `limit`.
    fn increment(&self, key: &str, n: u64, limit: u64, expires_at: u64, now: u64) -> PyResult<(bool, u64)> {
        Ok(
            match self.inner.increment(key.as_bytes(), n, limit, expires_at, now).map_err(to_py)? {
                Increment::Counted(count) => (true, count),
                Increment::Refused(count) => (false, count),
            },
        )
    }

    fn get(&self, key: &str, expires_at: u64) -> PyResult<u64> {
        self.inner.get(key.as_bytes(), expires_at).map_err(to_py)
    }

    fn decrement(&self, key: &str, n: u64, expires_at: u64) -> PyResult<()> {
        self.inner.decrement(key.as_bytes(), n, expires_at).map_err(to_py)
    }

    fn live(&self, now: u64) -> u64 {
        self.inner.live(now)
    }

    fn __repr__(&self) -> String {
        format!(
            "<SharedCounters {} ({} slots)>",
            self.inner.path(),
            self.inner.slots()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySharedCounters>()
}
