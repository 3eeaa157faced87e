//! Active health checks: one background thread per node (in the supervisor) probing each
//! target of the upstreams that ask for it, once per interval for the whole node, and
//! reporting into the same health words the workers' balancers read (`health.rs`).
//!
//! Kong's `healthchecks.active`: a target is probed every `healthy.interval` seconds while it
//! is healthy and every `unhealthy.interval` seconds while it is not (0: not probed in that
//! state); `type` http sends `GET <http_path> HTTP/1.0` with `Host` (the upstream's
//! `host_header`, else the target's host, without a port, as lua-resty-healthcheck) and the
//! configured `headers` and reads the status line (a status in `healthy.http_statuses` is a success, in
//! `unhealthy.http_statuses` an HTTP failure), https does the same after a TLS handshake
//! (`probe_tls.rs`: SNI `https_sni`, else the upstream's `host_header`, else the target's
//! host; the certificate verified against `lua_ssl_trusted_certificate` unless
//! `https_verify_certificate` is false; a failed handshake is a TCP failure, as in
//! lua-resty-healthcheck), tcp only connects (a success); a refused connection is a TCP
//! failure and one that does not answer within `timeout` a timeout, each counted against its
//! limit by the rules of `health.rs`. At most `concurrency` probes of one
//! upstream run at once. The thread never touches a worker: it only changes words in the
//! node's table; a panic in a round is caught, logged and the next round runs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::health::{self, Outcome, Rules};
use super::probe_tls::ProbeTls;
use super::{address, BalancerError};
use crate::entities::{Target, Upstream};
use crate::shm::InflightTable;

/// How often the thread looks for due probes.
const TICK: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Https,
    Tcp,
}

/// One upstream's probe settings.
#[derive(Debug)]
struct Probe {
    upstream: String,
    kind: Kind,
    timeout: Duration,
    concurrency: usize,
    path: String,
    headers: Vec<(String, String)>,
    /// The upstream's `host_header`: the probes' Host when set, else the target's host.
    host_header: Option<String>,
    /// https: whether the certificate is verified, and the SNI when not the target's host.
    verify: bool,
    sni: Option<String>,
    healthy_interval: f64,
    unhealthy_interval: f64,
    rules: Rules,
}

/// A due probe, taken out of the job list: its settings, host, port and health slot.
type Due = (Arc<Probe>, String, u16, u64);

/// One target to probe.
#[derive(Debug)]
struct Job {
    probe: Arc<Probe>,
    host: String,
    port: u16,
    slot: u64,
    key: String,
    due: Instant,
}

fn number(value: Option<&Value>, default: f64) -> f64 {
    value.and_then(Value::as_f64).unwrap_or(default)
}

/// Whether an upstream's active checks run: an interval above 0.
pub fn active_on(checks: Option<&Value>) -> bool {
    let active = checks.and_then(|c| c.get("active"));
    ["healthy", "unhealthy"].iter().any(|side| {
        number(
            active.and_then(|a| a.get(*side)).and_then(|s| s.get("interval")),
            0.0,
        ) > 0.0
    })
}

/// What an upstream's active settings ask that is not done: gRPC probes.
pub fn refusal(checks: Option<&Value>) -> Option<String> {
    if !active_on(checks) {
        return None;
    }
    let kind = checks.and_then(|c| c.get("active")).and_then(|a| a.get("type")).and_then(Value::as_str);
    match kind.unwrap_or("http") {
        "http" | "https" | "tcp" => None,
        other => Some(format!(
            "healthchecks.active.type: {other} probes are not run by Gantry yet (http, https and tcp are); \
             set the active intervals to 0 or use http, https or tcp"
        )),
    }
}

fn probe_of(upstream: &Upstream) -> Option<Probe> {
    let checks = upstream.healthchecks.as_ref();
    if !active_on(checks) {
        return None;
    }
    let active = checks.and_then(|c| c.get("active"));
    let get = |key: &str| active.and_then(|a| a.get(key));
    let headers = match get("headers").and_then(Value::as_object) {
        Some(map) => map
            .iter()
            .flat_map(|(name, values)| match values {
                Value::Array(list) => {
                    list.iter().filter_map(|v| v.as_str().map(|v| (name.clone(), v.to_owned()))).collect::<Vec<_>>()
                }
                Value::String(v) => vec![(name.clone(), v.clone())],
                _ => vec![],
            })
            .collect(),
        None => vec![],
    };
    Some(Probe {
        upstream: upstream.name.clone(),
        kind: match get("type").and_then(Value::as_str) {
            Some("tcp") => Kind::Tcp,
            Some("https") => Kind::Https,
            _ => Kind::Http,
        },
        timeout: Duration::from_secs_f64(number(get("timeout"), 1.0).clamp(0.001, 65535.0)),
        concurrency: number(get("concurrency"), 10.0).clamp(1.0, 256.0) as usize,
        path: get("http_path").and_then(Value::as_str).unwrap_or("/").to_owned(),
        headers,
        host_header: upstream.host_header.clone().filter(|name| !name.is_empty()),
        verify: get("https_verify_certificate").and_then(Value::as_bool).unwrap_or(true),
        sni: get("https_sni")
            .and_then(Value::as_str)
            .or(upstream.host_header.as_deref())
            .filter(|name| !name.is_empty())
            .map(str::to_owned),
        healthy_interval: number(get("healthy").and_then(|h| h.get("interval")), 0.0),
        unhealthy_interval: number(get("unhealthy").and_then(|h| h.get("interval")), 0.0),
        rules: Rules::active(checks),
    })
}

fn after(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.clamp(0.0, 65535.0))
}

/// One probe of a target: what it ended with.
fn run_probe(probe: &Probe, tls: &ProbeTls, host: &str, port: u16) -> Outcome {
    let addresses: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(found) => found.collect(),
        Err(_) => return Outcome::TcpFailure,
    };
    let Some(address) = addresses.first() else {
        return Outcome::TcpFailure;
    };
    let stream = match TcpStream::connect_timeout(address, probe.timeout) {
        Ok(stream) => stream,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Outcome::Timeout,
        Err(_) => return Outcome::TcpFailure,
    };
    if probe.kind == Kind::Tcp {
        return Outcome::Connected;
    }
    let _ = stream.set_read_timeout(Some(probe.timeout));
    let _ = stream.set_write_timeout(Some(probe.timeout));
    if probe.kind == Kind::Http {
        let mut stream = stream;
        return http_status(probe, &mut stream, host);
    }
    let sni = probe.sni.as_deref().unwrap_or(host);
    match tls.connect(stream, probe.verify, sni) {
        Ok(mut stream) => {
            let outcome = http_status(probe, &mut stream, host);
            stream.conn.send_close_notify();
            let _ = stream.flush();
            outcome
        }
        Err(why) => {
            // lua-resty-healthcheck's words, and its count: a TCP failure
            eprintln!(
                "[healthchecks] upstream {}: failed SSL handshake with '{host} ({address})', using server name (sni) '{sni}': {why}",
                probe.upstream
            );
            Outcome::TcpFailure
        }
    }
}

/// The probe's request over a connected stream, and the status of the answer.
fn http_status(probe: &Probe, stream: &mut impl ReadWrite, host: &str) -> Outcome {
    let host_header = match &probe.host_header {
        Some(name) => name.clone(),
        None if host.contains(':') => format!("[{host}]"),
        None => host.to_owned(),
    };
    let mut request = format!("GET {} HTTP/1.0\r\nHost: {host_header}\r\n", probe.path);
    for (name, value) in &probe.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return Outcome::TcpFailure;
    }
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Outcome::Timeout
            }
            Err(_) => return Outcome::TcpFailure,
        }
    }
    // "HTTP/1.x NNN": anything else is an answer that is no HTTP status, Kong's status 0
    let status = std::str::from_utf8(&head[..read])
        .ok()
        .filter(|line| line.starts_with("HTTP/"))
        .and_then(|line| line.get(9..12))
        .and_then(|code| code.parse::<u16>().ok())
        .unwrap_or(0);
    Outcome::Status(status)
}

/// A plain or a TLS stream.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

struct Shared {
    tls: ProbeTls,
    jobs: Mutex<Vec<Job>>,
    stop: AtomicBool,
    wake: Condvar,
    table: Arc<InflightTable>,
    rounds: AtomicU64,
    panics: AtomicU64,
}

/// The node's active health checker: its thread and what it probes.
pub struct ActiveChecker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl ActiveChecker {
    /// Starts the thread, probing nothing until `configure`; https probes verify against
    /// `trusted` (`lua_ssl_trusted_certificate`'s entries).
    pub fn start(table: Arc<InflightTable>, trusted: &[String]) -> Result<ActiveChecker, BalancerError> {
        let tls = ProbeTls::new(trusted).map_err(BalancerError::upstream)?;
        let shared = Arc::new(Shared {
            tls,
            jobs: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
            table,
            rounds: AtomicU64::new(0),
            panics: AtomicU64::new(0),
        });
        let running = shared.clone();
        let thread = std::thread::Builder::new()
            .name("gantry-health".into())
            .spawn(move || run(&running))
            .map_err(|e| BalancerError::upstream(format!("cannot start the active health check thread: {e}")))?;
        Ok(ActiveChecker { shared, thread: Some(thread) })
    }

    /// What to probe from now on: every target with a weight above 0 of the upstreams whose
    /// active checks run. A target probed before (same upstream, address and settings) keeps
    /// its schedule; a new one is probed at once. Returns how many targets are probed.
    pub fn configure(&self, upstreams: &[Upstream], targets: Vec<Target>) -> Result<usize, BalancerError> {
        let mut jobs = Vec::new();
        let now = Instant::now();
        let previous = self.shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
        for upstream in upstreams {
            let Some(probe) = probe_of(upstream) else { continue };
            let probe = Arc::new(probe);
            let settings = upstream.healthchecks.as_ref().map(Value::to_string).unwrap_or_default();
            let mine: Vec<Target> = targets.iter().filter(|t| t.upstream.id == upstream.id).cloned().collect();
            for resolved in super::resolve(mine)? {
                if resolved.weight == 0 {
                    continue;
                }
                let address::Address { host, port } = resolved.address;
                let key = health::key(&upstream.id, &host, port, &settings);
                let slot = self
                    .shared
                    .table
                    .resolve(key.as_bytes())
                    .map_err(|e| BalancerError::upstream(format!("healthchecks.active: {e}")))?;
                let due = previous.iter().find(|j| j.key == key).map_or(now, |j| j.due);
                jobs.push(Job { probe: probe.clone(), host, port, slot, key, due });
            }
        }
        drop(previous);
        let count = jobs.len();
        *self.shared.jobs.lock().unwrap_or_else(|e| e.into_inner()) = jobs;
        self.shared.wake.notify_all();
        Ok(count)
    }

    /// Rounds run so far, and rounds that panicked (and were carried on from).
    pub fn rounds(&self) -> (u64, u64) {
        (
            self.shared.rounds.load(Ordering::Relaxed),
            self.shared.panics.load(Ordering::Relaxed),
        )
    }

    /// Stops the thread (waits for the probes in flight, at most their timeout).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ActiveChecker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared) {
    while !shared.stop.load(Ordering::Acquire) {
        if catch_unwind(AssertUnwindSafe(|| round(shared))).is_err() {
            shared.panics.fetch_add(1, Ordering::Relaxed);
            eprintln!("[healthchecks] the active health check round panicked; the next round runs");
        }
        shared.rounds.fetch_add(1, Ordering::Relaxed);
        let jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let _ = shared.wake.wait_timeout(jobs, TICK);
    }
}

/// Probes what is due, `concurrency` at most per upstream, and schedules the next probes.
fn round(shared: &Shared) {
    let now = Instant::now();
    // (index, probe, host, port, slot) of the due jobs, taken under the lock, probed outside it
    let due: Vec<(usize, Arc<Probe>, String, u16, u64)> = {
        let mut jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.iter_mut()
            .enumerate()
            .filter(|(_, j)| j.due <= now)
            .filter_map(|(i, j)| {
                let interval = if health::is_healthy(shared.table.health(j.slot)) {
                    j.probe.healthy_interval
                } else {
                    j.probe.unhealthy_interval
                };
                if interval <= 0.0 {
                    j.due = now + TICK; // not probed in this state: look again soon
                    return None;
                }
                j.due = now + after(interval);
                Some((i, j.probe.clone(), j.host.clone(), j.port, j.slot))
            })
            .collect()
    };
    if due.is_empty() {
        return;
    }
    let mut by_upstream: Vec<Vec<Due>> = Vec::new();
    for (_, probe, host, port, slot) in due {
        match by_upstream.iter_mut().find(|group| Arc::ptr_eq(&group[0].0, &probe)) {
            Some(group) => group.push((probe, host, port, slot)),
            None => by_upstream.push(vec![(probe, host, port, slot)]),
        }
    }
    let cursors: Vec<AtomicU64> = by_upstream.iter().map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|scope| {
        for (group, next) in by_upstream.iter().zip(&cursors) {
            let width = group[0].0.concurrency.min(group.len());
            for _ in 0..width {
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some((probe, host, port, slot)) = group.get(i) else { break };
                    let outcome = run_probe(probe, &shared.tls, host, *port);
                    let (before, after) = shared.table.update_health(*slot, |w| probe.rules.report(w, outcome));
                    if health::is_healthy(before) != health::is_healthy(after) {
                        let state = if health::is_healthy(after) {
                            "healthy"
                        } else {
                            "unhealthy"
                        };
                        eprintln!(
                            "[healthchecks] upstream {}: target {host}:{port} is {state} (active probe: {outcome:?})",
                            probe.upstream
                        );
                    }
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::ForeignKey;
    use serde_json::json;
    use std::net::TcpListener;

    fn upstream(id: &str, checks: Value) -> Upstream {
        Upstream {
            id: id.into(),
            name: id.into(),
            algorithm: "round-robin".into(),
            slots: 10000,
            healthchecks: Some(checks),
            use_srv_name: false,
            host_header: None,
        }
    }

    fn target(upstream: &str, address: &str) -> Target {
        Target {
            id: address.into(),
            target: address.into(),
            weight: 100,
            upstream: ForeignKey { id: upstream.into() },
            created_at: 1.0,
        }
    }

    /// A server answering every connection with `status`, counting them.
    fn server(status: u16) -> (u16, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicU64::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counted.fetch_add(1, Ordering::Relaxed);
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes());
            }
        });
        (port, hits)
    }

    /// A server answering 200 and keeping every request head it got.
    fn recording_server() -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 1024];
                let n = stream.read(&mut buf).unwrap_or(0);
                kept.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        });
        (port, heads)
    }

    #[test]
    fn http_probes_send_kongs_request() {
        let table = Arc::new(InflightTable::anonymous(64, 1).unwrap());
        let (port, heads) = recording_server();
        let checks = json!({"active": {"http_path": "/hc", "headers": {"x-probe": ["1", "2"]},
                                       "healthy": {"interval": 0.05}}});
        let mut up = upstream("u-head", checks);
        let mut checker = ActiveChecker::start(table.clone(), &[]).unwrap();
        checker
            .configure(
                std::slice::from_ref(&up),
                vec![target("u-head", &format!("127.0.0.1:{port}"))],
            )
            .unwrap();
        wait(|| !heads.lock().unwrap().is_empty());
        let head = heads.lock().unwrap()[0].clone();
        assert!(
            head.starts_with("GET /hc HTTP/1.0\r\nHost: 127.0.0.1\r\n"),
            "{head}"
        );
        assert!(
            head.contains("x-probe: 1\r\nx-probe: 2\r\n") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        // the upstream's host_header is the Host
        up.host_header = Some("svc.example".into());
        checker.configure(&[up], vec![target("u-head", &format!("127.0.0.1:{port}"))]).unwrap();
        wait(|| heads.lock().unwrap().iter().any(|h| h.contains("Host: svc.example\r\n")));
        checker.stop();
    }

    fn wait(what: impl Fn() -> bool) {
        let start = Instant::now();
        while !what() {
            assert!(start.elapsed() < Duration::from_secs(5), "timed out");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn probes_take_a_failing_target_out_and_bring_it_back() {
        let table = Arc::new(InflightTable::anonymous(64, 1).unwrap());
        let (bad, _) = server(500);
        let (good, hits) = server(200);
        let checks = json!({"active": {"healthy": {"interval": 0.05, "successes": 1},
                                       "unhealthy": {"interval": 0.05, "http_failures": 1}}});
        let up = upstream("u-active", checks.clone());
        let mut checker = ActiveChecker::start(table.clone(), &[]).unwrap();
        let targets = vec![
            target("u-active", &format!("127.0.0.1:{bad}")),
            target("u-active", &format!("127.0.0.1:{good}")),
        ];
        assert_eq!(checker.configure(std::slice::from_ref(&up), targets).unwrap(), 2);
        let settings = checks.to_string();
        let bad_slot = table.resolve(health::key("u-active", "127.0.0.1", bad, &settings).as_bytes()).unwrap();
        let good_slot = table.resolve(health::key("u-active", "127.0.0.1", good, &settings).as_bytes()).unwrap();
        wait(|| !health::is_healthy(table.health(bad_slot)));
        wait(|| hits.load(Ordering::Relaxed) >= 3);
        assert!(health::is_healthy(table.health(good_slot)));
        // the same target now answering 200: back within an interval
        let (fixed, _) = server(200);
        let targets = vec![target("u-active", &format!("127.0.0.1:{fixed}"))];
        checker.configure(&[up], targets).unwrap();
        let fixed_slot = table.resolve(health::key("u-active", "127.0.0.1", fixed, &settings).as_bytes()).unwrap();
        table.update_health(fixed_slot, |_| 3 << 32); // start it unhealthy
        wait(|| health::is_healthy(table.health(fixed_slot)));
        checker.stop();
    }

    #[test]
    fn tcp_probes_and_refused_connections() {
        let table = Arc::new(InflightTable::anonymous(64, 1).unwrap());
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let checks = json!({"active": {"type": "tcp", "healthy": {"interval": 0.05},
                                       "unhealthy": {"tcp_failures": 2}}});
        let mut checker = ActiveChecker::start(table.clone(), &[]).unwrap();
        checker
            .configure(
                &[upstream("u-tcp", checks.clone())],
                vec![target("u-tcp", &format!("127.0.0.1:{closed}"))],
            )
            .unwrap();
        let slot = table.resolve(health::key("u-tcp", "127.0.0.1", closed, &checks.to_string()).as_bytes()).unwrap();
        wait(|| !health::is_healthy(table.health(slot)));
        // unhealthy.interval is 0: no more probes while down
        let rounds = checker.rounds().0;
        wait(|| checker.rounds().0 > rounds + 3);
        checker.stop();
    }

    #[test]
    fn what_is_not_run_is_refused_and_off_is_off() {
        for kind in ["grpc", "grpcs"] {
            let refused = refusal(Some(
                &json!({"active": {"type": kind, "healthy": {"interval": 1}}}),
            ));
            assert!(refused.unwrap().contains(&format!("{kind} probes are not run")));
        }
        assert!(refusal(Some(
            &json!({"active": {"type": "https", "healthy": {"interval": 1}}})
        ))
        .is_none());
        assert!(
            refusal(Some(&json!({"active": {"type": "grpc"}}))).is_none(),
            "intervals 0: nothing runs"
        );
        assert!(refusal(Some(
            &json!({"active": {"type": "tcp", "unhealthy": {"interval": 1}}})
        ))
        .is_none());
        assert!(!active_on(Some(
            &json!({"active": {"healthy": {"interval": 0}}})
        )));
        let table = Arc::new(InflightTable::anonymous(8, 1).unwrap());
        let checker = ActiveChecker::start(table, &[]).unwrap();
        assert_eq!(
            checker.configure(&[upstream("off", json!({}))], vec![target("off", "127.0.0.1:1")]).unwrap(),
            0
        );
    }

    /// A TLS server on loopback answering every request with `status`, recording the SNI
    /// each handshake sent (`None` for none).
    struct TlsServer {
        port: u16,
        names: Arc<Mutex<Vec<Option<String>>>>,
        hits: Arc<AtomicU64>,
    }

    #[derive(Debug)]
    struct Recorder {
        key: Arc<rustls::sign::CertifiedKey>,
        names: Arc<Mutex<Vec<Option<String>>>>,
    }

    impl rustls::server::ResolvesServerCert for Recorder {
        fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
            self.names.lock().unwrap().push(hello.server_name().map(str::to_owned));
            Some(self.key.clone())
        }
    }

    /// A certificate for `names` and its key, signed by `issuer` (self-signed without one).
    fn leaf(
        names: &[&str],
        issuer: Option<&rcgen::Issuer<'_, rcgen::KeyPair>>,
    ) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let cert = match issuer {
            Some(issuer) => params.signed_by(&key, issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        (cert, key)
    }

    fn ca() -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (rcgen::Issuer::new(params, key), cert.pem())
    }

    fn tls_server(cert: &rcgen::Certificate, key: &rcgen::KeyPair, status: u16) -> TlsServer {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signing = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key.serialize_der(),
            )))
            .unwrap();
        let names = Arc::new(Mutex::new(Vec::new()));
        let certified = Arc::new(rustls::sign::CertifiedKey::new(
            vec![cert.der().clone()],
            signing,
        ));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Recorder { key: certified, names: names.clone() }));
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicU64::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let config = config.clone();
                let counted = counted.clone();
                std::thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    let mut buf = [0u8; 1024];
                    if matches!(tls.read(&mut buf), Ok(n) if n > 0) {
                        counted.fetch_add(1, Ordering::Relaxed);
                        let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                        let _ = tls.write_all(answer.as_bytes());
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    }
                });
            }
        });
        TlsServer { port, names, hits }
    }

    /// Probes `server` once per 50 ms under `checks` (an `active` record without intervals
    /// and thresholds) from a target named `host`; returns the checker and the target's slot,
    /// the target started unhealthy when `start_down`.
    fn probe_tls(
        trusted: &[String],
        checks: Value,
        host_header: Option<&str>,
        port: u16,
        start_down: bool,
    ) -> (ActiveChecker, Arc<InflightTable>, u64) {
        let table = Arc::new(InflightTable::anonymous(64, 1).unwrap());
        let mut active = checks;
        active["type"] = json!("https");
        active["healthy"] = json!({"interval": 0.05, "successes": 1});
        active["unhealthy"] = json!({"interval": 0.05, "tcp_failures": 1, "http_failures": 1});
        let checks = json!({ "active": active });
        let mut up = upstream("u-https", checks.clone());
        up.host_header = host_header.map(str::to_owned);
        let slot = table.resolve(health::key("u-https", "127.0.0.1", port, &checks.to_string()).as_bytes()).unwrap();
        if start_down {
            table.update_health(slot, |_| 3 << 32);
        }
        let checker = ActiveChecker::start(table.clone(), trusted).unwrap();
        checker.configure(&[up], vec![target("u-https", &format!("127.0.0.1:{port}"))]).unwrap();
        (checker, table, slot)
    }

    #[test]
    fn https_probes_verify_the_certificate_and_its_name() {
        let (issuer, ca_pem) = ca();
        let trusted = vec![ca_pem];
        // an IP target: no SNI, the certificate checked against its IP address
        let (cert, key) = leaf(&["127.0.0.1"], Some(&issuer));
        let server = tls_server(&cert, &key, 200);
        let (mut checker, table, slot) = probe_tls(&trusted, json!({}), None, server.port, true);
        wait(|| health::is_healthy(table.health(slot)));
        checker.stop();
        assert_eq!(server.names.lock().unwrap()[0], None);
        // https_sni sent and checked; host_header is the SNI when https_sni is not set
        let (cert, key) = leaf(&["probe.example"], Some(&issuer));
        let server = tls_server(&cert, &key, 200);
        let (mut checker, table, slot) = probe_tls(
            &trusted,
            json!({"https_sni": "probe.example"}),
            Some("other.example"),
            server.port,
            true,
        );
        wait(|| health::is_healthy(table.health(slot)));
        checker.stop();
        assert_eq!(server.names.lock().unwrap()[0].as_deref(), Some("probe.example"));
        let (mut checker, table, slot) = probe_tls(&trusted, json!({}), Some("probe.example"), server.port, true);
        wait(|| health::is_healthy(table.health(slot)));
        checker.stop();
        assert_eq!(
            server.names.lock().unwrap().last().unwrap().as_deref(),
            Some("probe.example")
        );
        // the name not in the certificate: a failed handshake, a TCP failure
        let (mut checker, table, slot) = probe_tls(
            &trusted,
            json!({"https_sni": "elsewhere.example"}),
            None,
            server.port,
            false,
        );
        wait(|| !health::is_healthy(table.health(slot)));
        checker.stop();
        let hits = server.hits.load(Ordering::Relaxed);
        assert_eq!(hits, 2, "no request after a failed handshake");
        // the status still counts once the handshake passed
        let (cert, key) = leaf(&["127.0.0.1"], Some(&issuer));
        let failing = tls_server(&cert, &key, 500);
        let (mut checker, table, slot) = probe_tls(&trusted, json!({}), None, failing.port, false);
        wait(|| !health::is_healthy(table.health(slot)));
        checker.stop();
        assert!(failing.hits.load(Ordering::Relaxed) >= 1);
    }

    #[test]
    fn https_verification_off_takes_a_self_signed_certificate() {
        let (_issuer, ca_pem) = ca();
        let (cert, key) = leaf(&["127.0.0.1"], None);
        let server = tls_server(&cert, &key, 200);
        // verified (by default) against a CA that did not sign it: out
        let (mut checker, table, slot) = probe_tls(
            std::slice::from_ref(&ca_pem),
            json!({}),
            None,
            server.port,
            false,
        );
        wait(|| !health::is_healthy(table.health(slot)));
        checker.stop();
        assert_eq!(server.hits.load(Ordering::Relaxed), 0);
        // not verified: in, the SNI still sent
        let (mut checker, table, slot) = probe_tls(
            &[ca_pem],
            json!({"https_verify_certificate": false, "https_sni": "any.example"}),
            None,
            server.port,
            true,
        );
        wait(|| health::is_healthy(table.health(slot)));
        checker.stop();
        assert!(server.hits.load(Ordering::Relaxed) >= 1);
        assert_eq!(
            server.names.lock().unwrap().last().unwrap().as_deref(),
            Some("any.example")
        );
    }

    #[test]
    fn trusted_certificates_from_files_and_their_errors() {
        let (issuer, ca_pem) = ca();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, &ca_pem).unwrap();
        let (cert, key) = leaf(&["127.0.0.1"], Some(&issuer));
        let server = tls_server(&cert, &key, 200);
        let trusted = vec![file.to_string_lossy().into_owned()];
        let (mut checker, table, slot) = probe_tls(&trusted, json!({}), None, server.port, true);
        wait(|| health::is_healthy(table.health(slot)));
        checker.stop();
        let table = Arc::new(InflightTable::anonymous(8, 1).unwrap());
        let missing = dir.path().join("missing.pem").to_string_lossy().into_owned();
        let err = ActiveChecker::start(table.clone(), &[missing]).err().unwrap().to_string();
        assert!(err.contains("cannot read"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing").unwrap();
        let err = ActiveChecker::start(table.clone(), &[empty.to_string_lossy().into_owned()])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no certificate"), "{err}");
        // the system store loads (whatever it holds)
        ActiveChecker::start(table, &["system".to_owned()]).unwrap().stop();
    }
}
