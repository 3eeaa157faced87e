//! `Store` and `Snapshot`: handles over `crate::lmdb`.

use super::balancer::PyBalancer;
use super::errors::{RouterError as PyRouterError, StoreError as PyStoreError};
use super::router::PyRouter;
use crate::lmdb::{Changes, Previous, Records, Snapshot, Store, StoreError};
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
    /// routes and services did), and its balancers are taken over except those of the
    /// upstreams that changed or whose targets did.
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
    /// What changed since the previous snapshot; None when loaded without one.
    changes: Option<Changes>,
}

impl PySnapshot {
    /// What `snapshot` did not compile is shared with `previous` (the same Python objects).
    fn from_core(py: Python<'_>, snapshot: Snapshot, previous: Option<&PySnapshot>) -> PyResult<Self> {
        let mut balancers = previous.map(|p| p.balancers(py)).unwrap_or_default();
        for name in &snapshot.balancers.dropped {
            balancers.remove(name);
        }
        for (name, balancer) in snapshot.balancers.compiled {
            balancers.insert(name, Py::new(py, PyBalancer::from_core(balancer))?);
        }
        let router = match (snapshot.router, previous) {
            (Some(router), _) => Py::new(py, PyRouter::from_core(router))?,
            (None, Some(previous)) => previous.router.clone_ref(py),
            (None, None) => {
                return Err(PyStoreError::new_err(
                    "nothing to reuse without a previous snapshot",
                ))
            }
        };
        Ok(PySnapshot {
            version: snapshot.version,
            hash: snapshot.hash,
            hashes: snapshot.hashes,
            router,
            balancers,
            records: snapshot.records,
            changes: snapshot.changes,
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

    /// The JSON of the entities of a type added or changed since the previous snapshot, and the
    /// ids of those removed; None when loaded without a previous snapshot (all are new).
    fn changed<'py>(&self, py: Python<'py>, entity_type: &str) -> Option<(Vec<Bound<'py, PyBytes>>, Vec<String>)> {
        let diff = self.changes.as_ref()?.of(entity_type);
        let upserted = diff.upserted.iter().map(|record| PyBytes::new(py, &record.json)).collect();
        Some((upserted, diff.removed.iter().map(|id| id.to_string()).collect()))
    }

    /// One entity's JSON, by bisecting its type's records; None when not stored.
    fn entity<'py>(&self, py: Python<'py>, entity_type: &str, id: &str) -> Option<Bound<'py, PyBytes>> {
        self.records.get(entity_type, id).map(|record| PyBytes::new(py, &record.json))
    }

    fn __repr__(&self) -> String {
        format!("<Snapshot version={} hash={}>", self.version, self.hash)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStore>()?;
    m.add_class::<PySnapshot>()
}
