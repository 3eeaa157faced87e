//! `Store` and `Snapshot`: handles over `crate::store`.

use super::balancer::PyBalancer;
use super::errors::{RouterError as PyRouterError, StoreError as PyStoreError};
use super::router::PyRouter;
use crate::store::{Previous, Records, Snapshot, Store, StoreError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn to_py(error: StoreError) -> PyErr {
    match error {
        StoreError::Router(e) => PyRouterError::new_err(e.to_string()),
        other => PyStoreError::new_err(other.to_string()),
    }
}

#[pyclass(name = "Store", module = "dataplane._core", frozen)]
pub struct PyStore {
    inner: Store,
}

#[pymethods]
impl PyStore {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = py.detach(|| Store::open(&path)).map_err(to_py)?;
        Ok(PyStore { inner })
    }

    fn meta(&self) -> PyResult<Option<(u64, String)>> {
        self.inner.meta().map_err(to_py)
    }

    /// Reading and compiling a big config takes a while: other Python threads run meanwhile.
    /// With `previous`, only the entities whose stored JSON changed are decoded and compiled:
    /// its router is updated with the routes that changed (or taken over when none of the
    /// routes and services did), and its balancers are taken over unless an upstream or
    /// target changed.
    #[pyo3(signature = (cache_size = 4096, previous = None))]
    fn load(&self, py: Python<'_>, cache_size: usize, previous: Option<&PySnapshot>) -> PyResult<PySnapshot> {
        let snapshot = match previous {
            None => py.detach(|| self.inner.load(cache_size)),
            Some(previous) => {
                let since = Previous {
                    version: previous.version,
                    hash: &previous.hash,
                    records: &previous.records,
                    router: previous.router.get().core(),
                };
                py.detach(|| self.inner.load_since(cache_size, since))
            }
        }
        .map_err(to_py)?;
        PySnapshot::from_core(py, snapshot, previous)
    }
}

#[pyclass(name = "Snapshot", module = "dataplane._core", frozen)]
pub struct PySnapshot {
    #[pyo3(get)]
    version: u64,
    #[pyo3(get)]
    hash: String,
    #[pyo3(get)]
    hashes: BTreeMap<String, String>,
    #[pyo3(get)]
    router: Py<PyRouter>,
    balancers: BTreeMap<String, Py<PyBalancer>>,
    /// What the next load compares the stored entities with.
    records: Records,
}

impl PySnapshot {
    /// The parts `snapshot` leaves None are shared with `previous` (the same Python objects).
    fn from_core(py: Python<'_>, snapshot: Snapshot, previous: Option<&PySnapshot>) -> PyResult<Self> {
        let reused = || previous.ok_or_else(|| PyStoreError::new_err("nothing to reuse without a previous snapshot"));
        let balancers = match snapshot.balancers {
            Some(compiled) => compiled
                .into_iter()
                .map(|(name, balancer)| Ok((name, Py::new(py, PyBalancer::from_core(balancer))?)))
                .collect::<PyResult<_>>()?,
            None => reused()?.balancers(py),
        };
        let router = match snapshot.router {
            Some(router) => Py::new(py, PyRouter::from_core(router))?,
            None => reused()?.router.clone_ref(py),
        };
        Ok(PySnapshot {
            version: snapshot.version,
            hash: snapshot.hash,
            hashes: snapshot.hashes,
            router,
            balancers,
            records: snapshot.records,
        })
    }
}

#[pymethods]
impl PySnapshot {
    /// A new dict each time, so callers cannot alter the snapshot's own map.
    #[getter]
    fn balancers(&self, py: Python<'_>) -> BTreeMap<String, Py<PyBalancer>> {
        self.balancers.iter().map(|(name, b)| (name.clone(), b.clone_ref(py))).collect()
    }

    fn entities<'py>(&self, py: Python<'py>, entity_type: &str) -> Vec<Bound<'py, PyBytes>> {
        self.records.of(entity_type).iter().map(|record| PyBytes::new(py, &record.json)).collect()
    }

    fn __repr__(&self) -> String {
        format!("<Snapshot version={} hash={}>", self.version, self.hash)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStore>()?;
    m.add_class::<PySnapshot>()
}
