//! HTTP heads in one call each: `RequestHeadParser` (the client's head, for the proxy's fast
//! lane), `parse_response_head` / `ResponseHead` (the upstream's) and `ClientHeadFilter` (the
//! head sent to the client).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use super::errors::HttpHeadError;
use crate::http::request_head::METHODS;
use crate::http::client_head::Exchange as ClientExchange;
use crate::http::{parse_response_head, ClientHeadFilter, Limits, RequestHeadParser, ResponseHead};

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

/// The parsed head stays in Rust: the header filter reads it there, and a field read from
/// Python is converted when read (the proxy reads a few scalars per response).
#[pyclass(frozen, name = "ResponseHead", module = "dataplane._core")]
pub struct PyResponseHead {
    head: ResponseHead,
}

#[pymethods]
impl PyResponseHead {
    #[getter]
    fn status(&self) -> u16 {
        self.head.status
    }
    #[getter]
    fn length(&self) -> usize {
        self.head.length
    }
    #[getter]
    fn forwarded<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.head.forwarded)
    }
    #[getter]
    fn content_length<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.head.content_length.as_deref().map(|value| PyBytes::new(py, value))
    }
    #[getter]
    fn chunked(&self) -> bool {
        self.head.chunked
    }
    #[getter]
    fn via<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.head.via.as_deref().map(|value| PyBytes::new(py, value))
    }
    #[getter]
    fn has_server(&self) -> bool {
        self.head.has_server
    }
    #[getter]
    fn has_date(&self) -> bool {
        self.head.has_date
    }
    #[getter]
    fn closes(&self) -> bool {
        self.head.closes
    }
    #[getter]
    fn body_length(&self) -> Option<u64> {
        self.head.body_length
    }
    #[getter]
    fn plain(&self) -> bool {
        self.head.plain
    }
    #[getter]
    fn reusable(&self) -> bool {
        self.head.reusable
    }

    fn __repr__(&self) -> String {
        format!("<ResponseHead {} ({} bytes)>", self.head.status, self.head.length)
    }
}

/// The header filter's default work for one worker (see `crate::http::client_head`).
#[pyclass(frozen, name = "ClientHeadFilter", module = "dataplane._core")]
pub struct PyClientHeadFilter {
    filter: ClientHeadFilter,
}

#[pymethods]
impl PyClientHeadFilter {
    #[new]
    fn new(
        status_lines: Vec<Vec<u8>>,
        via: Option<Vec<u8>>,
        server_line: Option<Vec<u8>>,
        upstream_latency: bool,
        proxy_latency: bool,
        request_id: bool,
    ) -> Self {
        PyClientHeadFilter {
            filter: ClientHeadFilter::new(status_lines, via, server_line, upstream_latency, proxy_latency, request_id),
        }
    }

    /// `Date: <IMF-fixdate>\r\n` for the current second.
    fn date_line<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let mut line = Vec::with_capacity(40);
        self.filter.date_line(&mut line);
        PyBytes::new(py, &line)
    }

    /// `(head bytes, chunked, keep_alive)` for the client, from the upstream `head`.
    #[allow(clippy::too_many_arguments)]
    fn build<'py>(
        &self,
        py: Python<'py>,
        head: &PyResponseHead,
        head_request: bool,
        http10_client: bool,
        keep_alive: bool,
        upstream_latency_ms: i64,
        proxy_latency_ms: i64,
        request_id: &[u8],
    ) -> (Bound<'py, PyBytes>, bool, bool) {
        let exchange = ClientExchange {
            head_request,
            http10_client,
            keep_alive,
            upstream_latency_ms,
            proxy_latency_ms,
            request_id,
        };
        let built = self.filter.build(&head.head, &exchange);
        (PyBytes::new(py, &built.bytes), built.chunked, built.keep_alive)
    }
}

/// The response head at the start of `data`, or None while it is incomplete.
#[pyfunction(name = "parse_response_head")]
fn py_parse_response_head(data: &[u8]) -> PyResult<Option<PyResponseHead>> {
    match parse_response_head(data) {
        Ok(head) => Ok(head.map(|head| PyResponseHead { head })),
        Err(error) => Err(HttpHeadError::new_err(error.to_string())),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRequestHeadParser>()?;
    m.add_class::<PyResponseHead>()?;
    m.add_class::<PyClientHeadFilter>()?;
    m.add_function(wrap_pyfunction!(py_parse_response_head, m)?)
}
