//! HTTP heads in one call each: `parse_response_head` / `ResponseHead` (the upstream's head),
//! `ClientHeadFilter` (the head sent to the client) and request ids. The client's head is read
//! by `RequestPlanner` (`super::planner`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::errors::HttpHeadError;
use crate::http::access_log::{write_line, AccessEntry};
use crate::http::client_head::Exchange as ClientExchange;
use crate::http::header_ops::{apply_scoped, HeaderOp, OpKind, Scope};
use crate::http::{parse_response_head, request_id, ClientHeadFilter, ResponseHead};

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
        format!(
            "<ResponseHead {} ({} bytes)>",
            self.head.status, self.head.length
        )
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
            filter: ClientHeadFilter::new(
                status_lines,
                via,
                server_line,
                upstream_latency,
                proxy_latency,
                request_id,
            ),
        }
    }

    /// `Date: <IMF-fixdate>\r\n` for the current second.
    fn date_line<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let mut line = Vec::with_capacity(40);
        self.filter.date_line(&mut line);
        PyBytes::new(py, &line)
    }

    /// The fast lane's response head: `(head length, status, body length, reusable, client
    /// head bytes, chunked, keep_alive)` when the head at the start of `data` is whole, plain
    /// and framed by a length, else None (see `crate::http::ClientHeadFilter::relay`).
    // One argument per Python parameter: bundling them in a Python object costs one more per call.
    #[allow(clippy::too_many_arguments)]
    fn relay<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        head_request: bool,
        http10_client: bool,
        keep_alive: bool,
        upstream_latency_ms: i64,
        proxy_latency_ms: i64,
        request_id: &[u8],
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let exchange = client_exchange(
            head_request,
            http10_client,
            keep_alive,
            upstream_latency_ms,
            proxy_latency_ms,
            request_id,
        );
        let Some(relayed) = self.filter.relay(data, &exchange) else {
            return Ok(None);
        };
        let client = relayed.client;
        let items = (
            relayed.head_length,
            relayed.status,
            relayed.body_length,
            relayed.reusable,
            PyBytes::new(py, &client.bytes),
            client.chunked,
            client.keep_alive,
        );
        items.into_pyobject(py).map(Some)
    }

    /// `(head bytes, chunked, keep_alive)` for the client, from the upstream `head`;
    /// `upgrade`: the client asked for a WebSocket.
    // One argument per Python parameter: bundling them in a Python object costs one more per call.
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
        upgrade: bool,
    ) -> (Bound<'py, PyBytes>, bool, bool) {
        let exchange = ClientExchange {
            upgrade,
            ..client_exchange(
                head_request,
                http10_client,
                keep_alive,
                upstream_latency_ms,
                proxy_latency_ms,
                request_id,
            )
        };
        let built = self.filter.build(&head.head, &exchange);
        (PyBytes::new(py, &built.bytes), built.chunked, built.keep_alive)
    }
}

/// The per-response inputs of the header filter, in the order the Python methods take them.
fn client_exchange(
    head_request: bool,
    http10_client: bool,
    keep_alive: bool,
    upstream_latency_ms: i64,
    proxy_latency_ms: i64,
    request_id: &[u8],
) -> ClientExchange<'_> {
    ClientExchange {
        head_request,
        http10_client,
        keep_alive,
        upstream_latency_ms,
        proxy_latency_ms,
        request_id,
        upgrade: false,
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

/// One access log line (Kong's format, see `crate::http::access_log`).
#[pyfunction]
// One argument per Python parameter: bundling them in a Python object costs one more per call.
#[allow(clippy::too_many_arguments)]
fn format_access_line<'py>(
    py: Python<'py>,
    remote_addr: &str,
    authorization: Option<&[u8]>,
    referer: Option<&[u8]>,
    user_agent: Option<&[u8]>,
    time_local: &[u8],
    method: &[u8],
    url: &[u8],
    version: &[u8],
    status: u16,
    body_bytes_sent: u64,
    request_id: &[u8],
) -> Bound<'py, PyBytes> {
    let entry = AccessEntry {
        remote_addr: remote_addr.as_bytes(),
        authorization,
        time_local,
        method,
        url,
        version,
        status,
        body_bytes_sent,
        referer,
        user_agent,
        request_id,
    };
    let mut line = Vec::with_capacity(256);
    write_line(&entry, &mut line);
    PyBytes::new(py, &line)
}

/// A new request id: 32 hex digits (ASCII bytes).
#[pyfunction]
fn new_request_id(py: Python<'_>) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &request_id::next())
}

/// Starts this process's request id sequence under `prefix` (drawn at random by the caller,
/// again in each forked child).
#[pyfunction]
fn seed_request_ids(prefix: u64) {
    request_id::seed(prefix);
}

/// The upstream head's fields (`after`: from the CRLF after Host to the blank line) changed by
/// plugins' ops, `(kind, name, value)` as `dataplane.pdk.headers` records them; with
/// `content_length`, the framing fields replaced by that length. ValueError for an op that
/// names a field the gateway sets or could split the head (nothing applied). `response`: the
/// client's response head, where any token may be changed.
#[pyfunction]
#[pyo3(signature = (after, ops, content_length=None, response=false))]
fn apply_header_ops<'py>(
    py: Python<'py>,
    after: &[u8],
    ops: &Bound<'py, PyList>,
    content_length: Option<u64>,
    response: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut held: Vec<(OpKind, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> = Vec::with_capacity(ops.len());
    for item in ops.iter() {
        let (code, name, value): (i64, Bound<'py, PyBytes>, Bound<'py, PyBytes>) = item.extract()?;
        let kind = OpKind::from_code(code).map_err(|error| PyValueError::new_err(error.to_string()))?;
        held.push((kind, name, value));
    }
    let list: Vec<HeaderOp<'_>> = held
        .iter()
        .map(|(kind, name, value)| HeaderOp { kind: *kind, name: name.as_bytes(), value: value.as_bytes() })
        .collect();
    let scope = if response {
        Scope::Response
    } else {
        Scope::Upstream
    };
    let out =
        apply_scoped(after, &list, content_length, scope).map_err(|error| PyValueError::new_err(error.to_string()))?;
    Ok(PyBytes::new(py, &out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(apply_header_ops, m)?)?;
    m.add_function(wrap_pyfunction!(new_request_id, m)?)?;
    m.add_function(wrap_pyfunction!(format_access_line, m)?)?;
    m.add_function(wrap_pyfunction!(seed_request_ids, m)?)?;
    m.add_class::<PyResponseHead>()?;
    m.add_class::<PyClientHeadFilter>()?;
    m.add_function(wrap_pyfunction!(py_parse_response_head, m)?)
}
