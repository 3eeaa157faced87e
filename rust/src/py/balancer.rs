//! `Balancer`: a handle over `crate::balancer::Balancer`; `InflightCounts`: the node's table of
//! in-flight counts (`crate::shm::InflightTable`) that least-connections balancers count in.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::errors::{CoreError, SharedMemoryError};
use crate::balancer::active::ActiveChecker;
use crate::balancer::health::Outcome;
use crate::balancer::{force_health, Balancer, Forced};
use crate::entities::{Target, Upstream};
use crate::shm::{inflight, InflightTable, INFLIGHT_SLOTS, INFLIGHT_WORKERS};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

#[pyclass(name = "Balancer", module = "dataplane._core", frozen)]
pub struct PyBalancer {
    inner: Balancer,
}

impl PyBalancer {
    pub fn from_core(inner: Balancer) -> Self {
        PyBalancer { inner }
    }
}

#[pymethods]
impl PyBalancer {
    /// Builds a balancer from an upstream and its targets, each a JSON object.
    #[staticmethod]
    fn from_json(upstream: &[u8], targets: Vec<PyBackedBytes>) -> PyResult<Self> {
        let upstream: Upstream =
            serde_json::from_slice(upstream).map_err(|e| CoreError::new_err(format!("upstream: {e}")))?;
        let targets = targets
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                serde_json::from_slice::<Target>(raw).map_err(|e| CoreError::new_err(format!("targets[{i}]: {e}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let inner = Balancer::new(&upstream, targets)
            .map_err(|e| CoreError::new_err(format!("upstream {}: {e}", upstream.name)))?;
        Ok(PyBalancer { inner })
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    #[getter]
    fn algorithm(&self) -> &str {
        self.inner.algorithm()
    }

    #[getter]
    fn healthy(&self) -> bool {
        self.inner.healthy()
    }

    #[getter]
    fn live(&self) -> usize {
        self.inner.live()
    }

    fn pick(&self) -> Option<(String, u16)> {
        self.inner.pick().map(|a| (a.host.clone(), a.port))
    }

    #[pyo3(signature = (value = b"".as_slice(), tried = Vec::new()))]
    fn peer(&self, value: &[u8], tried: Vec<usize>) -> Option<(usize, String, u16)> {
        let slot = self.inner.peer(value, &tried)?;
        let address = self.inner.address(slot)?;
        Some((slot, address.host.clone(), address.port))
    }

    /// `outcome`: 0 for nothing to report, an HTTP status (504 counts as a timeout), -1 for
    /// a connection that failed, -2 for a timeout.
    #[pyo3(signature = (slot, rtt = None, outcome = 0))]
    fn release(&self, slot: usize, rtt: Option<f64>, outcome: i32) {
        let outcome = match outcome {
            -1 => Some(Outcome::TcpFailure),
            -2 => Some(Outcome::Timeout),
            status => u16::try_from(status).ok().filter(|&s| s > 0).map(Outcome::Status),
        };
        self.inner.release(slot, rtt, outcome)
    }

    #[getter]
    fn checks_health(&self) -> bool {
        self.inner.checks_health()
    }

    /// Each live target's health: (host, port, healthy); empty without health checks.
    fn target_health(&self) -> Vec<(String, u16, bool)> {
        (0..self.inner.live())
            .filter_map(|slot| {
                let healthy = self.inner.target_healthy(slot)?;
                let address = self.inner.address(slot)?;
                Some((address.host.clone(), address.port, healthy))
            })
            .collect()
    }

    fn in_flight(&self, slot: usize) -> u64 {
        self.inner.in_flight(slot)
    }

    fn address(&self, slot: usize) -> Option<(String, u16)> {
        self.inner.address(slot).map(|a| (a.host.clone(), a.port))
    }

    fn inherit(&self, previous: &PyBalancer) {
        self.inner.inherit(&previous.inner)
    }

    fn targets(&self) -> Vec<(String, u16, u32)> {
        self.inner.targets().iter().map(|t| (t.address.host.clone(), t.address.port, t.weight)).collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<Balancer {} ({}), {} targets>",
            self.inner.name(),
            self.inner.algorithm(),
            self.inner.targets().len()
        )
    }
}

fn shm_error(error: crate::shm::ShmError) -> PyErr {
    SharedMemoryError::new_err(error.to_string())
}

#[pyclass(name = "InflightCounts", module = "dataplane._core", frozen)]
pub struct PyInflightCounts {
    inner: Arc<InflightTable>,
}

#[pymethods]
impl PyInflightCounts {
    #[classattr]
    const DEFAULT_SLOTS: u64 = INFLIGHT_SLOTS;

    #[staticmethod]
    #[pyo3(signature = (path, workers = None, slots = None))]
    fn create(path: PathBuf, workers: Option<u64>, slots: Option<u64>) -> PyResult<Self> {
        let table = InflightTable::create(
            &path,
            slots.unwrap_or(INFLIGHT_SLOTS),
            workers.unwrap_or(INFLIGHT_WORKERS),
        )
        .map_err(shm_error)?;
        Ok(PyInflightCounts { inner: Arc::new(table) })
    }

    #[staticmethod]
    fn open(path: PathBuf) -> PyResult<Self> {
        Ok(PyInflightCounts { inner: Arc::new(InflightTable::open(&path).map_err(shm_error)?) })
    }

    #[getter]
    fn slots(&self) -> u64 {
        self.inner.slots()
    }

    #[getter]
    fn workers(&self) -> u64 {
        self.inner.workers()
    }

    #[getter]
    fn path(&self) -> &str {
        self.inner.path()
    }

    fn recover(&self, worker: u64) -> u64 {
        self.inner.recover(worker)
    }

    fn install(&self, worker: u64) {
        inflight::install(self.inner.clone(), worker)
    }

    fn __repr__(&self) -> String {
        format!(
            "<InflightCounts {} ({} slots)>",
            self.inner.path(),
            self.inner.slots()
        )
    }
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, items: &[PyBackedBytes]) -> PyResult<Vec<T>> {
    items
        .iter()
        .enumerate()
        .map(|(i, raw)| serde_json::from_slice::<T>(raw).map_err(|e| CoreError::new_err(format!("{what}[{i}]: {e}"))))
        .collect()
}

#[pyclass(name = "ActiveChecks", module = "dataplane._core", frozen)]
pub struct PyActiveChecks {
    inner: Mutex<ActiveChecker>,
}

#[pymethods]
impl PyActiveChecks {
    /// Starts the node's probe thread over the installed in-flight table; https probes verify
    /// against `trusted` (`lua_ssl_trusted_certificate`: "system", PEM files or PEM text).
    #[new]
    #[pyo3(signature = (trusted = vec!["system".to_owned()]))]
    fn new(trusted: Vec<String>) -> PyResult<Self> {
        let (table, _) = inflight::node_table().map_err(shm_error)?;
        let checker = ActiveChecker::start(table, &trusted).map_err(|e| CoreError::new_err(e.to_string()))?;
        Ok(PyActiveChecks { inner: Mutex::new(checker) })
    }

    /// What to probe from now on (every upstream and target, JSON); returns how many targets.
    fn configure(&self, upstreams: Vec<PyBackedBytes>, targets: Vec<PyBackedBytes>) -> PyResult<usize> {
        let upstreams: Vec<Upstream> = parse("upstreams", &upstreams)?;
        let targets: Vec<Target> = parse("targets", &targets)?;
        let checker = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        checker.configure(&upstreams, targets).map_err(|e| CoreError::new_err(e.to_string()))
    }

    #[getter]
    fn rounds(&self) -> (u64, u64) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).rounds()
    }

    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.inner.lock().unwrap_or_else(|e| e.into_inner()).stop())
    }
}

/// Kong's `PUT /upstreams/{u}/targets/{t}[/{address}]/healthy|unhealthy` on this node's
/// health table (`crate::balancer::force_health`): None when the upstream runs no health
/// checks, False when `address` is not the target's (nothing changed), True once set.
#[pyfunction]
#[pyo3(signature = (upstream, target, healthy, address = None))]
fn set_target_health(upstream: &[u8], target: &str, healthy: bool, address: Option<&str>) -> PyResult<Option<bool>> {
    let upstream: Upstream =
        serde_json::from_slice(upstream).map_err(|e| CoreError::new_err(format!("upstream: {e}")))?;
    match force_health(&upstream, target, address, healthy) {
        Ok(Forced::NoChecks) => Ok(None),
        Ok(Forced::NotTheTarget) => Ok(Some(false)),
        Ok(Forced::Set) => Ok(Some(true)),
        Err(e) => Err(CoreError::new_err(e.to_string())),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBalancer>()?;
    m.add_function(wrap_pyfunction!(set_target_health, m)?)?;
    m.add_class::<PyActiveChecks>()?;
    m.add_class::<PyInflightCounts>()
}
