//! `Balancer`: a handle over `crate::balancer::Balancer`.

use super::errors::CoreError;
use crate::balancer::Balancer;
use crate::entities::{Target, Upstream};
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
        let inner = Balancer::new(&upstream, targets).map_err(|e| CoreError::new_err(e.to_string()))?;
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

    fn pick(&self) -> Option<(String, u16)> {
        self.inner.pick().map(|a| (a.host.clone(), a.port))
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBalancer>()
}
