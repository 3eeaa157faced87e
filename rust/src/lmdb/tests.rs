//! Store round trips against environments written here with LMDB's writer API.
//!
//! Writer and reader share this process, which production forbids (see the module doc); the
//! tests never run them concurrently, so the shared fcntl locks do not matter here.

use super::*;
use lmdb::{DatabaseFlags, Environment, WriteFlags};
use tempfile::TempDir;

/// Writes one config the way `dataplane/lmdb_cache/` does: one transaction, entities cleared first.
struct Writer {
    env: Environment,
    meta: Database,
    entities: Database,
    refs: Database,
}

impl Writer {
    fn new(dir: &Path) -> Writer {
        let env = Environment::new()
            .set_max_dbs(layout::MAX_DBS)
            .set_max_readers(layout::MAX_READERS)
            .set_map_size(16 << 20)
            .open(dir)
            .unwrap();
        let meta = env.create_db(Some("meta"), DatabaseFlags::empty()).unwrap();
        let entities = env.create_db(Some("entities"), DatabaseFlags::empty()).unwrap();
        let refs = env.create_db(Some("refs"), DatabaseFlags::empty()).unwrap();
        Writer { env, meta, entities, refs }
    }

    fn put_meta(&self, pairs: &[(&str, &str)]) {
        let mut txn = self.env.begin_rw_txn().unwrap();
        for (key, value) in pairs {
            txn.put(self.meta, key, value, WriteFlags::empty()).unwrap();
        }
        txn.commit().unwrap();
    }

    fn apply(&self, version: u64, entities: &[(&str, &str)]) {
        let mut txn = self.env.begin_rw_txn().unwrap();
        txn.clear_db(self.entities).unwrap();
        txn.clear_db(self.refs).unwrap();
        for (key, value) in entities {
            txn.put(self.entities, key, value, WriteFlags::empty()).unwrap();
            if let Some(route_ref) = route_ref(key, value) {
                txn.put(self.refs, &route_ref, b"", WriteFlags::empty()).unwrap();
            }
        }
        txn.put(self.meta, b"format", &FORMAT, WriteFlags::empty()).unwrap();
        txn.put(self.meta, b"version", &version.to_string(), WriteFlags::empty()).unwrap();
        txn.put(
            self.meta,
            b"hash",
            &format!("{version:032x}"),
            WriteFlags::empty(),
        )
        .unwrap();
        txn.put(
            self.meta,
            b"hashes",
            br#"{"routes":"r","services":"s"}"#,
            WriteFlags::empty(),
        )
        .unwrap();
        txn.commit().unwrap();
    }
}

impl Writer {
    /// A delta the way `dataplane/lmdb_cache/` writes one: changes in place, with its note.
    fn delta(&self, from: (u64, &str), version: u64, puts: &[(&str, &str)], deletes: &[&str]) {
        let mut txn = self.env.begin_rw_txn().unwrap();
        for key in deletes {
            txn.del(self.entities, key, None).unwrap();
        }
        for (key, value) in puts {
            txn.put(self.entities, key, value, WriteFlags::empty()).unwrap();
            if let Some(route_ref) = route_ref(key, value) {
                txn.put(self.refs, &route_ref, b"", WriteFlags::empty()).unwrap();
            }
        }
        let mut keys: Vec<&str> = puts.iter().map(|(k, _)| *k).chain(deletes.iter().copied()).collect();
        keys.sort();
        let note = serde_json::json!({"from_version": from.0, "from_hash": from.1, "keys": keys}).to_string();
        txn.put(self.meta, b"delta", &note, WriteFlags::empty()).unwrap();
        txn.put(self.meta, b"version", &version.to_string(), WriteFlags::empty()).unwrap();
        txn.put(
            self.meta,
            b"hash",
            &format!("{version:032x}"),
            WriteFlags::empty(),
        )
        .unwrap();
        txn.commit().unwrap();
    }
}

/// The `refs` record of a route's service, as `dataplane/lmdb_cache/index.py` keeps it.
fn route_ref(key: &str, value: &str) -> Option<String> {
    let route_id = key.strip_prefix("routes|")?;
    let route: serde_json::Value = serde_json::from_str(value).ok()?;
    Some(format!(
        "services|{}|routes|{route_id}",
        route["service"]["id"].as_str()?
    ))
}

const SERVICE: &str =
    r#"{"id":"s1","name":"svc","protocol":"http","host":"example.com","port":80,"path":null,"enabled":true}"#;
const ROUTE: &str = r#"{"id":"r1","name":"root","paths":["/"],"service":{"id":"s1"},"created_at":1}"#;
const UPSTREAM: &str = r#"{"id":"u1","name":"backend","algorithm":"round-robin"}"#;
const TARGET_A: &str = r#"{"id":"t1","target":"a:80","weight":100,"upstream":{"id":"u1"},"created_at":1}"#;
const TARGET_B: &str = r#"{"id":"t2","target":"b:80","weight":50,"upstream":{"id":"u1"},"created_at":2}"#;

fn full_config() -> Vec<(&'static str, &'static str)> {
    vec![
        ("plugins|p1", r#"{"id":"p1","name":"cors"}"#),
        ("routes|r1", ROUTE),
        ("services|s1", SERVICE),
        ("targets|t1", TARGET_A),
        ("targets|t2", TARGET_B),
        ("upstreams|u1", UPSTREAM),
    ]
}

#[test]
fn missing_environment_is_no_configuration() {
    let dir = TempDir::new().unwrap();
    let err = Store::open(dir.path().join("absent")).unwrap_err();
    assert!(matches!(err, StoreError::NoConfiguration { .. }), "{err}");
    assert!(err.to_string().contains("no configuration stored"));
}

#[test]
fn environment_without_a_config_has_no_meta_and_cannot_load() {
    let dir = TempDir::new().unwrap();
    let _writer = Writer::new(dir.path());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.meta().unwrap(), None);
    assert!(matches!(store.load(16), Err(StoreError::NoConfiguration { .. })));
}

#[test]
fn load_reads_meta_entities_router_and_balancers() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.apply(3, &full_config());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.meta().unwrap(), Some((3, format!("{:032x}", 3))));

    let snapshot = store.load(16).unwrap();
    assert_eq!(snapshot.version, 3);
    assert_eq!(snapshot.hashes["services"], "s");
    assert_eq!(snapshot.router.as_ref().unwrap().len(), 1);
    assert_eq!(
        &*snapshot.entities("plugins")[0].json,
        br#"{"id":"p1","name":"cors"}"#
    );
    assert_eq!(snapshot.entities("targets").len(), 2);
    assert!(snapshot.entities("consumers").is_empty());
    let balancer = &snapshot.balancers.compiled["backend"];
    let picks: Vec<&str> = (0..3).map(|_| balancer.pick().unwrap().host.as_str()).collect();
    assert_eq!(picks, ["a", "b", "a"]);
}

#[test]
fn a_new_version_replaces_the_old_one_whole() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.apply(1, &full_config());
    let store = Store::open(dir.path()).unwrap();
    writer.apply(2, &[("services|s1", SERVICE)]);
    let snapshot = store.load(16).unwrap();
    assert_eq!(snapshot.version, 2);
    assert!(snapshot.entities("plugins").is_empty());
    assert!(snapshot.balancers.compiled.is_empty());
}

#[test]
fn another_format_tag_is_incompatible() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.put_meta(&[("format", "kong/3.9"), ("version", "1")]);
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("incompatible cache format"), "{err}");
}

#[test]
fn a_version_without_format_tag_is_incompatible() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.put_meta(&[("version", "1"), ("hash", "x"), ("hashes", "{}")]);
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::IncompatibleFormat { found: None })
    ));
}

#[test]
fn corrupt_entity_names_its_key() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.apply(1, &[("services|s1", "{\"id\": 5")]);
    let err = Store::open(dir.path()).unwrap().load(16).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { ref key, .. } if key == "services|s1"),
        "{err}"
    );
}

#[test]
fn bad_target_names_its_upstream() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    let bad = r#"{"id":"t1","target":"a:70000","upstream":{"id":"u1"}}"#;
    writer.apply(1, &[("upstreams|u1", UPSTREAM), ("targets|t1", bad)]);
    let err = Store::open(dir.path()).unwrap().load(16).unwrap_err();
    assert!(
        err.to_string().starts_with("upstream backend: target \"a:70000\""),
        "{err}"
    );
}

#[test]
fn a_route_that_does_not_compile_is_a_router_error() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    let route = r#"{"id":"r1","paths":["~/(unclosed"],"service":{"id":"s1"}}"#;
    writer.apply(1, &[("routes|r1", route), ("services|s1", SERVICE)]);
    let err = Store::open(dir.path()).unwrap().load(16).unwrap_err();
    assert!(matches!(err, StoreError::Router(_)), "{err}");
}

#[test]
fn stores_on_one_directory_share_one_environment() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.apply(1, &full_config());
    let first = Store::open(dir.path()).unwrap();
    let second = Store::open(dir.path().join(".")).unwrap();
    assert!(Arc::ptr_eq(
        first.shared.as_ref().unwrap(),
        second.shared.as_ref().unwrap()
    ));
    drop(first);
    assert_eq!(second.load(16).unwrap().version, 1);
    drop(second);
    // Reopening after the last handle closed opens afresh.
    assert_eq!(
        Store::open(dir.path()).unwrap().meta().unwrap().map(|m| m.0),
        Some(1)
    );
}

/// Route ids chosen for a set of requests, and the upstream path of each.
fn routing(snapshot: &Snapshot, previous: Option<&Snapshot>) -> Vec<Option<(String, String)>> {
    let router = snapshot.router.as_ref().or_else(|| previous?.router.as_ref()).unwrap();
    ["/", "/api/x", "/api/users/9", "/new/a", "/s2/b", "/nothing"]
        .iter()
        .map(|path| {
            let input =
                crate::router::RequestInput { method: "GET", scheme: "http", host: "h", path, sni: None, headers: &[] };
            router.find(&input).map(|m| (m.route_id.to_string(), m.upstream_path.clone()))
        })
        .collect()
}

/// Whether a load compiled no balancer and dropped none: the previous ones all serve.
fn keeps_balancers(snapshot: &Snapshot) -> bool {
    snapshot.balancers.compiled.is_empty() && snapshot.balancers.dropped.is_empty()
}

fn since<'a>(snapshot: &'a Snapshot) -> Previous<'a> {
    since_serving(snapshot, snapshot.router.as_ref().unwrap())
}

/// `snapshot` as the previous one when it took its router over from an earlier snapshot.
fn since_serving<'a>(snapshot: &'a Snapshot, router: &'a crate::router::Router) -> Previous<'a> {
    Previous { version: snapshot.version, hash: &snapshot.hash, records: &snapshot.records, router }
}

#[test]
fn load_since_compiles_what_changed_and_routes_as_a_full_load() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    let s2 = r#"{"id":"s2","host":"two","path":"/two","enabled":true}"#;
    let mut config = full_config();
    config.extend([
        (
            "routes|r2",
            r#"{"id":"r2","paths":["/api"],"service":{"id":"s1"},"created_at":2}"#,
        ),
        (
            "routes|r3",
            r#"{"id":"r3","paths":["/s2"],"service":{"id":"s2"},"created_at":3}"#,
        ),
        ("services|s2", s2),
    ]);
    writer.apply(1, &config);
    let store = Store::open(dir.path()).unwrap();
    let first = store.load(16).unwrap();

    // A route outranking another, one removed, a service's path changed, another disabled.
    let s1_moved =
        r#"{"id":"s1","name":"svc","protocol":"http","host":"example.com","port":80,"path":"/moved","enabled":true}"#;
    let s2_off = r#"{"id":"s2","host":"two","path":"/two","enabled":false}"#;
    let mut next: Vec<_> = config
        .iter()
        .copied()
        .filter(|(k, _)| !["routes|r2", "services|s1", "services|s2"].contains(k))
        .collect();
    next.extend([
        (
            "routes|r4",
            r#"{"id":"r4","paths":["/api/users"],"service":{"id":"s1"},"created_at":4}"#,
        ),
        ("services|s1", s1_moved),
        ("services|s2", s2_off),
    ]);
    next.sort();
    writer.apply(2, &next);
    let second = store.load_since(16, since(&first)).unwrap();
    let full = store.load(16).unwrap();
    assert_eq!(second.version, 2);
    assert_eq!(routing(&second, None), routing(&full, None));
    assert_eq!(routing(&second, None)[2], Some(("r4".into(), "/moved/9".into())));
    assert_eq!(
        second.router.as_ref().unwrap().len(),
        full.router.as_ref().unwrap().len()
    );
    // Unchanged upstreams and targets: the previous balancers serve; unchanged records are shared.
    assert!(keeps_balancers(&second));
    assert!(Arc::ptr_eq(
        &first.entities("plugins")[0],
        &second.entities("plugins")[0]
    ));

    // The service enabled again: its route is served again.
    next.retain(|(k, _)| *k != "services|s2");
    next.push(("services|s2", s2));
    next.sort();
    writer.apply(3, &next);
    let third = store.load_since(16, since(&second)).unwrap();
    assert_eq!(routing(&third, None), routing(&store.load(16).unwrap(), None));
    assert_eq!(routing(&third, None)[4], Some(("r3".into(), "/two/b".into())));

    // Only a plugin changed: nothing is compiled, and the previous router serves.
    next.retain(|(k, _)| *k != "plugins|p1");
    writer.apply(4, &next);
    let fourth = store.load_since(16, since(&third)).unwrap();
    assert!(fourth.router.is_none() && keeps_balancers(&fourth));
    assert!(fourth.entities("plugins").is_empty());
    assert_eq!(
        routing(&fourth, Some(&third)),
        routing(&store.load(16).unwrap(), None)
    );
}

#[test]
fn load_since_rebuilds_balancers_when_a_target_changes() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.apply(1, &full_config());
    let store = Store::open(dir.path()).unwrap();
    let first = store.load(16).unwrap();
    let config: Vec<_> = full_config().into_iter().filter(|(k, _)| *k != "targets|t2").collect();
    writer.apply(2, &config);
    let second = store.load_since(16, since(&first)).unwrap();
    assert!(second.router.is_none());
    assert_eq!(second.balancers.compiled["backend"].targets().len(), 1);
}

#[test]
fn load_since_names_a_corrupt_changed_route() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.apply(1, &full_config());
    let store = Store::open(dir.path()).unwrap();
    let first = store.load(16).unwrap();
    let mut config = full_config();
    config.push(("routes|r9", "{not json"));
    config.sort();
    writer.apply(2, &config);
    let err = store.load_since(16, since(&first)).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { ref key, .. } if key == "routes|r9"),
        "{err}"
    );
}

#[test]
fn a_delta_note_from_the_served_config_is_read_alone_and_routes_as_a_full_load() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.apply(1, &full_config());
    let store = Store::open(dir.path()).unwrap();
    let first = store.load(16).unwrap();
    let r2 = r#"{"id":"r2","paths":["/api/users"],"service":{"id":"s1"},"created_at":2}"#;
    let s1 = r#"{"id":"s1","host":"example.com","path":"/moved","enabled":true}"#;
    writer.delta(
        (1, &first.hash),
        2,
        &[("routes|r2", r2), ("services|s1", s1)],
        &["plugins|p1"],
    );
    let second = store.load_since(16, since(&first)).unwrap();
    assert_eq!(routing(&second, None), routing(&store.load(16).unwrap(), None));
    assert_eq!(routing(&second, None)[2], Some(("r2".into(), "/moved/9".into())));
    assert!(second.entities("plugins").is_empty() && keeps_balancers(&second));
    assert!(Arc::ptr_eq(
        &first.entities("targets")[0],
        &second.entities("targets")[0]
    ));

    // A note from another config than the one served is ignored: every entity is compared.
    let r3 = r#"{"id":"r3","paths":["/new"],"service":{"id":"s1"},"created_at":3}"#;
    writer.delta((2, "another hash"), 3, &[("routes|r3", r3)], &["routes|r2"]);
    let third = store.load_since(16, since(&second)).unwrap();
    assert_eq!(routing(&third, None), routing(&store.load(16).unwrap(), None));
    assert_eq!(routing(&third, None)[3], Some(("r3".into(), "/moved/a".into())));
    // A note from a config older than the one served is ignored too.
    let fourth = store.load_since(16, since(&first)).unwrap();
    assert_eq!(routing(&fourth, None), routing(&third, None));
}

/// Ids of a type's upserted records and its removed ids, as a load reports them.
fn changed(snapshot: &Snapshot, entity_type: &str) -> (Vec<String>, Vec<String>) {
    let diff = snapshot.changes.as_ref().unwrap().of(entity_type);
    (
        diff.upserted.iter().map(|r| r.id.to_string()).collect(),
        diff.removed.iter().map(|id| id.to_string()).collect(),
    )
}

#[test]
fn a_load_tells_what_changed_entity_by_entity() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.apply(1, &full_config());
    let store = Store::open(dir.path()).unwrap();
    let first = store.load(16).unwrap();
    assert!(
        first.changes.is_none(),
        "without a previous snapshot everything is new"
    );

    // Through the delta note: a service changed, one added, a plugin removed.
    let s1 = r#"{"id":"s1","host":"example.org","enabled":true}"#;
    let s2 = r#"{"id":"s2","host":"two","enabled":true}"#;
    writer.delta(
        (1, &first.hash),
        2,
        &[("services|s1", s1), ("services|s2", s2)],
        &["plugins|p1"],
    );
    let second = store.load_since(16, since(&first)).unwrap();
    assert_eq!(
        changed(&second, "services"),
        (vec!["s1".into(), "s2".into()], vec![])
    );
    assert_eq!(changed(&second, "plugins"), (vec![], vec!["p1".into()]));
    assert_eq!(changed(&second, "routes"), (vec![], vec![]));

    // Through a full config (every entity compared): only what differs is reported.
    let config: Vec<_> = full_config().into_iter().filter(|(k, _)| *k != "plugins|p1").collect();
    writer.apply(3, &config);
    let third = store.load_since(16, since(&second)).unwrap();
    assert_eq!(
        changed(&third, "services"),
        (vec!["s1".into()], vec!["s2".into()])
    );
    assert!(!third.changes.as_ref().unwrap().touch(&["routes", "plugins", "upstreams", "targets"]));
}

const OTHER: &str = r#"{"id":"u2","name":"other","algorithm":"round-robin"}"#;
const TARGET_C: &str = r#"{"id":"t3","target":"c:80","weight":10,"upstream":{"id":"u2"},"created_at":3}"#;

fn two_upstreams() -> Vec<(&'static str, &'static str)> {
    let mut config = full_config();
    config.extend([("targets|t3", TARGET_C), ("upstreams|u2", OTHER)]);
    config.sort();
    config
}

/// The names of the balancers a load compiled, and of those it dropped.
fn balancer_names(snapshot: &Snapshot) -> (Vec<&str>, Vec<&str>) {
    let balancers = &snapshot.balancers;
    (
        balancers.compiled.keys().map(String::as_str).collect(),
        balancers.dropped.iter().map(String::as_str).collect(),
    )
}

#[test]
fn only_the_balancers_of_changed_upstreams_are_compiled() {
    let dir = TempDir::new().unwrap();
    let writer = Writer::new(dir.path());
    writer.apply(1, &two_upstreams());
    let store = Store::open(dir.path()).unwrap();
    let first = store.load(16).unwrap();
    assert_eq!(balancer_names(&first), (vec!["backend", "other"], vec![]));
    let router = first.router.as_ref().unwrap(); // no route or service changes below

    // A target's weight: its upstream only.
    let t3 = r#"{"id":"t3","target":"c:80","weight":20,"upstream":{"id":"u2"},"created_at":3}"#;
    writer.delta((1, &first.hash), 2, &[("targets|t3", t3)], &[]);
    let second = store.load_since(16, since(&first)).unwrap();
    assert_eq!(balancer_names(&second), (vec!["other"], vec!["other"]));
    assert_eq!(second.balancers.compiled["other"].targets()[0].weight, 20);

    // A target moved from one upstream to the other: both.
    let moved = r#"{"id":"t2","target":"b:80","weight":50,"upstream":{"id":"u2"},"created_at":2}"#;
    writer.delta((2, &second.hash), 3, &[("targets|t2", moved)], &[]);
    let third = store.load_since(16, since_serving(&second, router)).unwrap();
    assert_eq!(
        balancer_names(&third),
        (vec!["backend", "other"], vec!["backend", "other"])
    );
    assert_eq!(third.balancers.compiled["backend"].targets().len(), 1);
    assert_eq!(third.balancers.compiled["other"].targets().len(), 2);

    // An upstream renamed: the old name dropped, the new one compiled; a removed one dropped.
    let renamed = r#"{"id":"u2","name":"renamed","algorithm":"round-robin"}"#;
    writer.delta(
        (3, &third.hash),
        4,
        &[("upstreams|u2", renamed)],
        &["upstreams|u1", "targets|t1"],
    );
    let fourth = store.load_since(16, since_serving(&third, router)).unwrap();
    let (mut compiled, mut dropped) = balancer_names(&fourth);
    compiled.sort();
    dropped.sort();
    assert_eq!((compiled, dropped), (vec!["renamed"], vec!["backend", "other"]));
    assert_eq!(fourth.balancers.compiled["renamed"].targets().len(), 2);

    // Nothing about upstreams or targets: nothing compiled, nothing dropped.
    writer.delta((4, &fourth.hash), 5, &[], &["plugins|p1"]);
    assert!(keeps_balancers(
        &store.load_since(16, since_serving(&fourth, router)).unwrap()
    ));
}
