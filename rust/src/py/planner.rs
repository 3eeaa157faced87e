//! `RequestPlanner`: the fast lane's request side (`crate::http::planner`) and the upstream
//! head builder of the general lane, over one worker's rules.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString, PyTuple};

use super::fields::PyRequestFields;
use super::router::PyRouter;
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
    /// Made once, shared by every request.
    methods: Arc<[Py<PyBytes>]>,
    versions: Arc<[Py<PyBytes>; 2]>,
}

type UpstreamHeadPieces<'py> = (Bound<'py, PyBytes>, Bound<'py, PyBytes>);

#[pymethods]
impl PyRequestPlanner {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        request_line: usize,
        header_line: usize,
        head: usize,
        body: u64,
        dropped: Vec<Vec<u8>>,
        inbound_via: (Vec<u8>, Vec<u8>),
        server_name: Vec<u8>,
        request_id_upstream: bool,
    ) -> Self {
        let limits = Limits { request_line, header_line, head, body };
        let planner = Planner {
            parser: RequestHeadParser::new(limits, dropped),
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
            methods: METHODS.iter().map(|m| PyBytes::new(py, m.as_bytes()).unbind()).collect(),
            versions: Arc::new([PyBytes::new(py, b"1.1").unbind(), PyBytes::new(py, b"1.0").unbind()]),
        }
    }

    /// A planner with these rules that routes with `router` and hands back the objects of
    /// `services` (by service id).
    fn routed(&self, router: Bound<'_, PyRouter>, services: Bound<'_, PyDict>) -> Self {
        PyRequestPlanner {
            planner: Arc::clone(&self.planner),
            router: Some(router.unbind()),
            services: Some(services.unbind()),
            methods: Arc::clone(&self.methods),
            versions: Arc::clone(&self.versions),
        }
    }

    /// The head at the start of `data` as a tuple (see the stub), or None when the fast lane
    /// declines it: incomplete, unusual or invalid, all left to the general parser.
    #[allow(clippy::too_many_arguments)]
    fn plan<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        peer: &[u8],
        port: &[u8],
        https: bool,
        sni: Option<&str>,
        trusted: bool,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let downstream = Downstream { peer, port, https };
        let id = request_id::next();
        let router = self.router.as_ref().map(|router| router.get().core());
        let Ok(plan) = self.planner.plan(data, router, &downstream, sni, trusted, &id) else {
            return Ok(None);
        };
        let head = plan.head;
        let mut routed = None;
        if let (Some((found, upstream)), Some(services)) = (plan.routed, &self.services) {
            if let Some(id) = found.service_id.as_deref() {
                if let Some(service) = services.bind(py).get_item(id)? {
                    routed = Some((service, found.preserve_host, upstream));
                }
            }
        }
        let bytes = |value: &[u8]| PyBytes::new(py, value).into_any();
        let optional = |value: Option<&[u8]>| value.map_or_else(|| py.None().into_bound(py), bytes);
        let fields = Bound::new(py, PyRequestFields::new(&data[..head.length], &head.fields))?;
        // plain ASCII (checked by the parser), so this is its latin-1 text too
        let host_text = PyString::new(py, head.host.map_or("", |h| std::str::from_utf8(h).unwrap_or_default()));
        let flag = |value: bool| PyBool::new(py, value).to_owned().into_any();
        let (service, preserve_host, before, after, forwarded) = match routed {
            Some((service, preserve_host, upstream)) => {
                (service, preserve_host, bytes(&upstream.before), bytes(&upstream.after), py.None().into_bound(py))
            }
            None => (py.None().into_bound(py), false, py.None().into_bound(py), py.None().into_bound(py), bytes(&head.forwarded)),
        };
        let items: [Bound<'py, PyAny>; 20] = [
            head.length.into_pyobject(py)?.into_any(),
            self.methods[head.method].bind(py).clone().into_any(),
            bytes(head.target),
            self.versions[usize::from(head.http10)].bind(py).clone().into_any(),
            flag(head.keep_alive),
            fields.into_any(),
            optional(head.host),
            bytes(&head.host_name),
            host_text.into_any(),
            head.content_length.into_pyobject(py)?.into_any(),
            optional(head.connection.as_deref()),
            optional(head.x_forwarded_for.as_deref()),
            optional(head.via.as_deref()),
            flag(head.te_trailers),
            forwarded,
            bytes(&id),
            service,
            flag(preserve_host),
            before,
            after,
        ];
        PyTuple::new(py, items).map(Some)
    }

    /// The upstream request head in two pieces around the Host value, for a request the
    /// general lane read or the fast lane left unplanned (see the stub).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (method, target, http10, host_name, x_forwarded_for, via, te_trailers, websocket, fields,
                        chunked, content_length, upstream_path, forwarded_prefix, peer, port, https, trusted,
                        request_id))]
    fn upstream_head<'py>(
        &self,
        py: Python<'py>,
        method: &[u8],
        target: &[u8],
        http10: bool,
        host_name: Option<&[u8]>,
        x_forwarded_for: Option<&[u8]>,
        via: Option<&[u8]>,
        te_trailers: bool,
        websocket: bool,
        fields: &[u8],
        chunked: bool,
        content_length: Option<u64>,
        upstream_path: &str,
        forwarded_prefix: Option<&str>,
        peer: &[u8],
        port: &[u8],
        https: bool,
        trusted: Option<TrustedValues>,
        request_id: &[u8],
    ) -> UpstreamHeadPieces<'py> {
        let framing = match (chunked, content_length) {
            (true, _) => Framing::Chunked,
            (false, Some(length)) => Framing::Length(length),
            (false, None) => Framing::None,
        };
        let request = Forwarding {
            method,
            target,
            http10,
            host_name,
            x_forwarded_for,
            via,
            te_trailers,
            websocket,
            fields,
            framing,
        };
        let route = RouteTarget { upstream_path, forwarded_prefix };
        let downstream = Downstream { peer, port, https };
        let trusted = trusted.as_ref().map_or_else(Trusted::default, |t| Trusted {
            remote: t.0.as_deref(),
            proto: t.1.as_deref(),
            host: t.2.as_deref(),
            port: t.3.as_deref(),
            path: t.4.as_deref(),
            prefix: t.5.as_deref(),
        });
        let head = self.planner.rules.build(&request, &route, &downstream, &trusted, request_id);
        (PyBytes::new(py, &head.before), PyBytes::new(py, &head.after))
    }
}

/// `(remote, proto, host, port, path, prefix)` from a trusted client, each None when absent.
type TrustedValues = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRequestPlanner>()
}
