//! Python handles for the router: `Router` and `RouteMatch` (see `dataplane/_core.pyi`).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::errors::RouterError as PyRouterError;
use crate::entities::{Route, Service};
use crate::router::{CaptureKey, Match, RequestInput, Router};

/// `Router`: routes compiled once per config version.
#[pyclass(frozen, name = "Router", module = "dataplane._core")]
pub struct PyRouter {
    inner: Router,
}

impl PyRouter {
    /// Wraps a router compiled in Rust (the LMDB reader builds one per snapshot).
    pub fn from_core(router: Router) -> Self {
        PyRouter { inner: router }
    }

    /// The core router, which a later `Store::load` derives the next one from.
    pub fn core(&self) -> &Router {
        &self.inner
    }
}

#[pymethods]
impl PyRouter {
    #[staticmethod]
    #[pyo3(signature = (routes, services, cache_size = 4096))]
    fn from_json(
        routes: Vec<Bound<'_, PyBytes>>,
        services: Vec<Bound<'_, PyBytes>>,
        cache_size: usize,
    ) -> PyResult<Self> {
        let routes = decode_all::<Route>("routes", &routes)?;
        let services = decode_all::<Service>("services", &services)?;
        let router = Router::new(routes, &services, cache_size).map_err(|e| PyRouterError::new_err(e.to_string()))?;
        Ok(PyRouter::from_core(router))
    }

    #[getter]
    fn header_names(&self) -> Vec<&str> {
        self.inner.header_names().iter().map(|n| &**n).collect()
    }

    #[pyo3(signature = (method, scheme, host, path, sni = None, headers = None))]
    fn find(
        &self,
        method: &str,
        scheme: &str,
        host: &str,
        path: &str,
        sni: Option<&str>,
        headers: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Option<PyRouteMatch>> {
        // Only the headers some route looks at are converted; none at all in the common case.
        let mut owned: Vec<(Bound<'_, PyString>, Bound<'_, PyString>)> = Vec::new();
        if let (Some(headers), false) = (headers, self.inner.header_names().is_empty()) {
            for item in headers.try_iter()? {
                owned.push(item?.extract()?);
            }
        }
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(owned.len());
        for (name, value) in &owned {
            let name = name.to_str()?;
            if self.inner.header_names().iter().any(|h| name.eq_ignore_ascii_case(h)) {
                pairs.push((name, value.to_str()?));
            }
        }
        let input = RequestInput { method, scheme, host, path, sni, headers: &pairs };
        Ok(self.inner.find(&input).map(|m| PyRouteMatch { inner: m }))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

fn decode_all<T: serde::de::DeserializeOwned>(kind: &str, items: &[Bound<'_, PyBytes>]) -> PyResult<Vec<T>> {
    items
        .iter()
        .enumerate()
        .map(|(i, b)| {
            serde_json::from_slice(b.as_bytes())
                .map_err(|e| PyRouterError::new_err(format!("{kind}[{i}]: invalid entity JSON: {e}")))
        })
        .collect()
}

/// `RouteMatch`: one lookup's result, shared with the router's cache.
#[pyclass(frozen, name = "RouteMatch", module = "dataplane._core")]
pub struct PyRouteMatch {
    inner: Arc<Match>,
}

impl PyRouteMatch {
    /// The core match (the upstream head builder reads its path and prefix).
    pub fn core(&self) -> &Match {
        &self.inner
    }
}

#[pymethods]
impl PyRouteMatch {
    #[getter]
    fn route_id(&self) -> &str {
        &self.inner.route_id
    }

    #[getter]
    fn service_id(&self) -> Option<&str> {
        self.inner.service_id.as_deref()
    }

    #[getter]
    fn upstream_path(&self) -> &str {
        &self.inner.upstream_path
    }

    #[getter]
    fn preserve_host(&self) -> bool {
        self.inner.preserve_host
    }

    #[getter]
    fn request_buffering(&self) -> bool {
        self.inner.request_buffering
    }

    #[getter]
    fn https_redirect_status(&self) -> Option<u16> {
        self.inner.https_redirect_status
    }

    #[getter]
    fn forwarded_prefix(&self) -> Option<&str> {
        self.inner.forwarded_prefix.as_deref()
    }

    #[getter]
    fn captures<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(captures) = &self.inner.captures else {
            return Ok(None);
        };
        let dict = PyDict::new(py);
        for (key, value) in captures {
            match key {
                CaptureKey::Index(i) => dict.set_item(*i, value)?,
                CaptureKey::Name(n) => dict.set_item(&**n, value)?,
            }
        }
        Ok(Some(dict))
    }

    fn __repr__(&self) -> String {
        format!(
            "RouteMatch(route_id={:?}, upstream_path={:?})",
            self.inner.route_id, self.inner.upstream_path
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRouter>()?;
    m.add_class::<PyRouteMatch>()?;
    Ok(())
}
