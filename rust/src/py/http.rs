//! HTTP heads in one call each: `RequestHeadParser` (the client's head, for the proxy's fast
//! lane) and `parse_response_head` / `ResponseHead` (the upstream's).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use super::errors::HttpHeadError;
use crate::http::request_head::METHODS;
use crate::http::{parse_response_head, Limits, RequestHeadParser, ResponseHead};

/// Parses client request heads with one worker's limits; method and version objects are made
/// once and shared by every request.
#[pyclass(frozen, name = "RequestHeadParser", module = "dataplane._core")]
pub struct PyRequestHeadParser {
    parser: RequestHeadParser,
    methods: Vec<Py<PyBytes>>,
    versions: [Py<PyBytes>; 2],
}

#[pymethods]
impl PyRequestHeadParser {
    #[new]
    fn new(py: Python<'_>, request_line: usize, header_line: usize, head: usize, body: u64, dropped: Vec<Vec<u8>>) -> Self {
        let limits = Limits { request_line, header_line, head, body };
        PyRequestHeadParser {
            parser: RequestHeadParser::new(limits, dropped),
            methods: METHODS.iter().map(|m| PyBytes::new(py, m.as_bytes()).unbind()).collect(),
            versions: [PyBytes::new(py, b"1.1").unbind(), PyBytes::new(py, b"1.0").unbind()],
        }
    }

    /// The head at the start of `data` as a tuple (see the stub), or None when the fast lane
    /// declines it: incomplete, unusual or invalid, all left to the general parser.
    fn parse<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Ok(head) = self.parser.parse(data) else {
            return Ok(None);
        };
        let bytes = |value: &[u8]| PyBytes::new(py, value);
        let optional = |value: &Option<Vec<u8>>| value.as_deref().map(bytes);
        let fields = PyList::empty(py);
        for (name, value) in &head.fields {
            fields.append((bytes(name), bytes(value)))?;
        }
        let host_text = match head.host {
            // plain ASCII (checked by the parser), so this is its latin-1 text too
            Some(host) => PyString::new(py, std::str::from_utf8(host).unwrap_or_default()),
            None => PyString::new(py, ""),
        };
        let items: [Bound<'py, PyAny>; 15] = [
            head.length.into_pyobject(py)?.into_any(),
            self.methods[head.method].bind(py).clone().into_any(),
            bytes(head.target).into_any(),
            self.versions[usize::from(head.http10)].bind(py).clone().into_any(),
            pyo3::types::PyBool::new(py, head.keep_alive).to_owned().into_any(),
            fields.into_any(),
            head.host.map(bytes).into_pyobject(py)?.into_any(),
            bytes(&head.host_name).into_any(),
            host_text.into_any(),
            head.content_length.into_pyobject(py)?.into_any(),
            optional(&head.connection).into_pyobject(py)?.into_any(),
            optional(&head.x_forwarded_for).into_pyobject(py)?.into_any(),
            optional(&head.via).into_pyobject(py)?.into_any(),
            pyo3::types::PyBool::new(py, head.te_trailers).to_owned().into_any(),
            bytes(&head.forwarded).into_any(),
        ];
        PyTuple::new(py, items).map(Some)
    }
}

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
    #[pyo3(get)]
    body_length: Option<u64>,
    #[pyo3(get)]
    plain: bool,
    #[pyo3(get)]
    reusable: bool,
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
            body_length: head.body_length,
            plain: head.plain,
            reusable: head.reusable,
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
    m.add_class::<PyRequestHeadParser>()?;
    m.add_class::<PyResponseHead>()?;
    m.add_function(wrap_pyfunction!(py_parse_response_head, m)?)
}
