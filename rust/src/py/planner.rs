//! `RequestPlanner`: the request side (`crate::http::planner`) and the upstream head builder,
//! over one worker's rules; `Downstream`, one client connection's facts; `RequestHead`, one
//! head as the proxy reads it.

use std::collections::HashSet;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::errors::RequestRefused;
use super::fields::PyRequestFields;
use super::router::{PyRouteMatch, PyRouter};
use crate::http::request_head::METHODS;
use crate::http::{
    request_id, Downstream, Forwarding, Framing, Limits, Planner, RequestHeadParser, RouteTarget, Trusted,
    UpstreamHeadRules,
};

/// The rules of one worker, and for a config version its router and service objects.
#[pyclass(frozen, name = "RequestPlanner", module = "dataplane._core")]
pub struct PyRequestPlanner {
    planner: Arc<Planner>,
    router: Option<Py<PyRouter>>,
    /// The proxy's service objects by id, handed back with a planned head (the runtime's dict,
    /// not copied: a config version with many services costs nothing more to swap in).
    services: Option<Py<PyDict>>,
    /// Route and service ids whose requests a plugin may see: never planned (the phases run).
    unplanned: Arc<HashSet<String>>,
    /// Made once, shared by every request.
    methods: Arc<[Py<PyBytes>]>,
    versions: Arc<[Py<PyBytes>; 2]>,
}

/// One client connection: who it is from and how it came in, made once per connection.
#[pyclass(frozen, name = "Downstream", module = "dataplane._core")]
pub struct PyDownstream {
    peer: Vec<u8>,
    port: Vec<u8>,
    #[pyo3(get)]
    https: bool,
    #[pyo3(get)]
    sni: Option<String>,
    #[pyo3(get)]
    trusted: bool,
}

#[pymethods]
impl PyDownstream {
    #[new]
    #[pyo3(signature = (peer, port, https, sni, trusted))]
    fn new(peer: Vec<u8>, port: Vec<u8>, https: bool, sni: Option<String>, trusted: bool) -> Self {
        PyDownstream { peer, port, https, sni, trusted }
    }
}

impl PyDownstream {
    fn core(&self) -> Downstream<'_> {
        Downstream { peer: &self.peer, port: &self.port, https: self.https }
    }
}

/// One request head as the proxy reads it (see the stub).
#[pyclass(frozen, get_all, name = "RequestHead", module = "dataplane._core")]
pub struct PyRequestHead {
    length: usize,
    method: Py<PyBytes>,
    url: Py<PyBytes>,
    version: Py<PyBytes>,
    keep_alive: bool,
    headers: Py<PyRequestFields>,
    host: Option<Py<PyBytes>>,
    host_name: Py<PyBytes>,
    host_text: Py<PyString>,
    content_length: Option<u64>,
    chunked: bool,
    connection: Option<Py<PyBytes>>,
    x_forwarded_for: Option<Py<PyBytes>>,
    via: Option<Py<PyBytes>>,
    te_trailers: bool,
    expect_continue: bool,
    upgrade: bool,
    websocket: bool,
    forwarded: Option<Py<PyBytes>>,
    plain: bool,
    refusal: Option<(u16, &'static str)>,
    request_id: Py<PyBytes>,
    service: Option<Py<PyAny>>,
    preserve_host: bool,
    upstream_before: Option<Py<PyBytes>>,
    upstream_after: Option<Py<PyBytes>>,
}

type UpstreamHeadPieces<'py> = (Bound<'py, PyBytes>, Bound<'py, PyBytes>);

#[pymethods]
impl PyRequestPlanner {
    #[new]
    // One argument per Python parameter: the worker's settings, as the stub declares them.
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        request_line: usize,
        header_line: usize,
        head: usize,
        body: u64,
        dropped: Vec<Vec<u8>>,
        underscores: bool,
        inbound_via: (Vec<u8>, Vec<u8>),
        server_name: Vec<u8>,
        request_id_upstream: bool,
    ) -> Self {
        let limits = Limits { request_line, header_line, head, body };
        let planner = Planner {
            parser: RequestHeadParser::new(limits, dropped, underscores),
            rules: UpstreamHeadRules {
                inbound_via: [inbound_via.0, inbound_via.1],
                server_name,
                request_id: request_id_upstream,
            },
        };
        PyRequestPlanner {
            planner: Arc::new(planner),
            router: None,
            services: None,
            unplanned: Arc::default(),
            methods: METHODS.iter().map(|m| PyBytes::new(py, m.as_bytes()).unbind()).collect(),
            versions: Arc::new([PyBytes::new(py, b"1.1").unbind(), PyBytes::new(py, b"1.0").unbind()]),
        }
    }

    /// A planner with these rules that routes with `router` and hands back the objects of
    /// `services` (by service id); a head routed to a route or service of `unplanned` is not
    /// planned.
    #[pyo3(signature = (router, services, unplanned = Vec::new()))]
    fn routed(&self, router: Bound<'_, PyRouter>, services: Bound<'_, PyDict>, unplanned: Vec<String>) -> Self {
        PyRequestPlanner {
            planner: Arc::clone(&self.planner),
            router: Some(router.unbind()),
            services: Some(services.unbind()),
            unplanned: Arc::new(unplanned.into_iter().collect()),
            methods: Arc::clone(&self.methods),
            versions: Arc::clone(&self.versions),
        }
    }

    /// The head at the start of `data`, None while it is incomplete; raises `RequestRefused`.
    fn plan(
        &self,
        py: Python<'_>,
        data: &[u8],
        downstream: &Bound<'_, PyDownstream>,
    ) -> PyResult<Option<PyRequestHead>> {
        let downstream = downstream.get();
        let id = request_id::next();
        let router = self.router.as_ref().map(|router| router.get().core());
        let plan = match self.planner.plan(
            data,
            router,
            &downstream.core(),
            downstream.sni.as_deref(),
            downstream.trusted,
            &id,
        ) {
            Ok(Some(plan)) => plan,
            Ok(None) => return Ok(None),
            Err(refusal) => return Err(RequestRefused::new_err((refusal.status(), refusal.reason()))),
        };
        let head = plan.head;
        let mut routed = None;
        if let (Some((found, upstream)), Some(services)) = (plan.routed, &self.services) {
            let seen = |id: &str| self.unplanned.contains(id);
            if let Some(id) = found.service_id.as_deref().filter(|id| !seen(id) && !seen(&found.route_id)) {
                if let Some(service) = services.bind(py).get_item(id)? {
                    routed = Some((service.unbind(), found.preserve_host, upstream));
                }
            }
        }
        let bytes = |value: &[u8]| PyBytes::new(py, value).unbind();
        let optional = |value: Option<&[u8]>| value.map(bytes);
        let method = match METHODS.iter().position(|m| *m == head.method) {
            Some(known) => self.methods[known].clone_ref(py),
            None => bytes(head.method.as_bytes()),
        };
        // the Host value passed the reg-name / IP-literal check: ASCII, so this is its latin-1 text
        let host_text = PyString::new(
            py,
            head.host.map_or("", |h| std::str::from_utf8(h).unwrap_or_default()),
        )
        .unbind();
        let (service, preserve_host, upstream_before, upstream_after, forwarded) = match routed {
            Some((service, preserve_host, upstream)) => (
                Some(service),
                preserve_host,
                Some(bytes(&upstream.before)),
                Some(bytes(&upstream.after)),
                None,
            ),
            None => (None, false, None, None, Some(bytes(&head.forwarded))),
        };
        Ok(Some(PyRequestHead {
            length: head.length,
            method,
            url: bytes(head.target),
            version: self.versions[usize::from(head.http10)].clone_ref(py),
            keep_alive: head.keep_alive,
            headers: Py::new(py, PyRequestFields::new(&data[..head.length], &head.fields))?,
            host: optional(head.host),
            host_name: bytes(&head.host_name),
            host_text,
            content_length: head.content_length,
            chunked: head.chunked,
            connection: optional(head.connection.as_deref()),
            x_forwarded_for: optional(head.x_forwarded_for.as_deref()),
            via: optional(head.via.as_deref()),
            te_trailers: head.te_trailers,
            expect_continue: head.expect_continue,
            upgrade: head.upgrade,
            websocket: head.websocket,
            forwarded,
            plain: head.plain,
            refusal: head.refusal.map(|refusal| (refusal.status(), refusal.reason())),
            request_id: bytes(&id),
            service,
            preserve_host,
            upstream_before,
            upstream_after,
        }))
    }

    /// The upstream request head in two pieces around the Host value, for a head that was not
    /// planned (see the stub).
    #[pyo3(signature = (head, route, downstream, trusted, request_id))]
    fn upstream_head<'py>(
        &self,
        py: Python<'py>,
        head: &Bound<'py, PyRequestHead>,
        route: &Bound<'py, PyRouteMatch>,
        downstream: &Bound<'py, PyDownstream>,
        trusted: Option<TrustedValues>,
        request_id: &[u8],
    ) -> UpstreamHeadPieces<'py> {
        let head = head.get();
        let found = route.get().core();
        let framing = match (head.chunked, head.content_length) {
            (true, _) => Framing::Chunked,
            (false, Some(length)) => Framing::Length(length),
            (false, None) => Framing::None,
        };
        let request = Forwarding {
            method: as_bytes(py, &head.method),
            target: as_bytes(py, &head.url),
            http10: as_bytes(py, &head.version) == b"1.0",
            host_name: head.host.as_ref().map(|_| as_bytes(py, &head.host_name)),
            x_forwarded_for: optional(py, &head.x_forwarded_for),
            via: optional(py, &head.via),
            te_trailers: head.te_trailers,
            websocket: head.websocket,
            fields: optional(py, &head.forwarded).unwrap_or_default(),
            framing,
        };
        let route =
            RouteTarget { upstream_path: &found.upstream_path, forwarded_prefix: found.forwarded_prefix.as_deref() };
        let trusted = trusted.as_ref().map_or_else(Trusted::default, |t| Trusted {
            remote: t.0.as_deref(),
            proto: t.1.as_deref(),
            host: t.2.as_deref(),
            port: t.3.as_deref(),
            path: t.4.as_deref(),
            prefix: t.5.as_deref(),
        });
        let built = self.planner.rules.build(&request, &route, &downstream.get().core(), &trusted, request_id);
        (PyBytes::new(py, &built.before), PyBytes::new(py, &built.after))
    }
}

fn as_bytes<'a>(py: Python<'_>, value: &'a Py<PyBytes>) -> &'a [u8] {
    value.as_bytes(py)
}

fn optional<'a>(py: Python<'_>, value: &'a Option<Py<PyBytes>>) -> Option<&'a [u8]> {
    value.as_ref().map(|v| v.as_bytes(py))
}

/// `(remote, proto, host, port, path, prefix)` from a trusted client, each None when absent.
type TrustedValues = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRequestPlanner>()?;
    m.add_class::<PyDownstream>()?;
    m.add_class::<PyRequestHead>()
}
