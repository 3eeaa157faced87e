//! `parse_response_head` and `ResponseHead`: the upstream response head in one call.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::errors::HttpHeadError;
use crate::http::{parse_response_head, ResponseHead};

/// Fields are Python objects made once, so reading them costs no conversion.
#[pyclass(frozen, name = "ResponseHead", module = "dataplane._core")]
pub struct PyResponseHead {
    #[pyo3(get)]
    status: u16,
    #[pyo3(get)]
    length: usize,
    #[pyo3(get)]
    forwarded: Py<PyBytes>,
    #[pyo3(get)]
    content_length: Option<Py<PyBytes>>,
    #[pyo3(get)]
    chunked: bool,
    #[pyo3(get)]
    via: Option<Py<PyBytes>>,
    #[pyo3(get)]
    has_server: bool,
    #[pyo3(get)]
    has_date: bool,
    #[pyo3(get)]
    closes: bool,
}

impl PyResponseHead {
    fn new(py: Python<'_>, head: ResponseHead) -> Self {
        let bytes = |value: &[u8]| PyBytes::new(py, value).unbind();
        PyResponseHead {
            status: head.status,
            length: head.length,
            forwarded: bytes(&head.forwarded),
            content_length: head.content_length.as_deref().map(bytes),
            chunked: head.chunked,
            via: head.via.as_deref().map(bytes),
            has_server: head.has_server,
            has_date: head.has_date,
            closes: head.closes,
        }
    }
}

#[pymethods]
impl PyResponseHead {
    fn __repr__(&self) -> String {
        format!("<ResponseHead {} ({} bytes)>", self.status, self.length)
    }
}

/// The response head at the start of `data`, or None while it is incomplete.
#[pyfunction(name = "parse_response_head")]
fn py_parse_response_head(py: Python<'_>, data: &[u8]) -> PyResult<Option<PyResponseHead>> {
    match parse_response_head(data) {
        Ok(head) => Ok(head.map(|head| PyResponseHead::new(py, head))),
        Err(error) => Err(HttpHeadError::new_err(error.to_string())),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyResponseHead>()?;
    m.add_function(wrap_pyfunction!(py_parse_response_head, m)?)
}
