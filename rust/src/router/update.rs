//! Deriving a router from the one before it: a config change compiles only the routes it touches.
//!
//! A router keeps its matchers in priority order. A new config version hands over what changed
//! ([`Changes`]): the routes it does not touch keep their matchers (shared, not copied), the
//! touched ones are compiled, and the order is restored by merging the few new matchers into
//! the order already sorted. The result matches exactly what a full compile of the new config
//! gives, for the cost of the change plus a linear pass (the index is rebuilt from the ordered
//! matchers).

use std::collections::HashMap;
use std::sync::Arc;

use super::cache::MatchCache;
use super::compile;
use super::error::RouterError;
use super::fasthash::FastSet;
use super::index::Index;
use super::matcher::Matcher;
use super::Router;
use crate::entities::{Route, Service};

/// What changed in the routes since the router a new one is derived from.
#[derive(Debug, Default)]
pub struct Changes<'a> {
    /// Routes to compile: those added or changed, and those whose service was added, changed
    /// or removed (a route is served only while its service is stored and enabled). Compiled
    /// in this order, so the first error is this order's.
    pub routes: Vec<Route>,
    /// Ids of routes no longer in the config.
    pub removed_routes: Vec<&'a str>,
    /// The services `routes` point at; a service missing here is treated as not stored.
    pub services: HashMap<&'a str, &'a Service>,
}

impl Router {
    /// A router with no routes, the base of a full compile.
    pub(super) fn empty(cache_size: usize) -> Router {
        Router {
            matchers: Vec::new(),
            index: Index::default(),
            header_names: Vec::new(),
            route_count: 0,
            cache: MatchCache::new(cache_size),
        }
    }

    /// The router of the config this one's config becomes after `changes`. `self` is left as
    /// it is (it may still be serving); the new router starts with an empty match cache.
    pub fn update(&self, changes: Changes<'_>, cache_size: usize) -> Result<Router, RouterError> {
        let mut fresh = Vec::new();
        for route in &changes.routes {
            fresh.extend(compile::compile_route(route, &changes.services)?.into_iter().map(Arc::new));
        }
        let mut dropped: FastSet<&str> = changes.removed_routes.iter().copied().collect();
        dropped.extend(changes.routes.iter().map(|r| r.id.as_str()));
        Ok(Router::from_parts(
            self.ordered_without(&dropped, fresh),
            cache_size,
        ))
    }

    /// This router's matchers minus those of `dropped` routes, plus `fresh`, in priority order.
    fn ordered_without(&self, dropped: &FastSet<&str>, fresh: Vec<Arc<Matcher>>) -> Vec<Arc<Matcher>> {
        let mut matchers: Vec<Arc<Matcher>> = Vec::with_capacity(self.matchers.len() + fresh.len());
        matchers.extend(self.matchers.iter().filter(|m| !dropped.contains(&*m.target.route_id)).cloned());
        matchers.extend(fresh);
        // The kept matchers are one sorted run: the stable sort finds it and merges the new
        // ones into it in linear time (plus sorting the new ones), instead of sorting all.
        matchers.sort_by(|a, b| a.priority.cmp(&b.priority));
        matchers
    }

    fn from_parts(matchers: Vec<Arc<Matcher>>, cache_size: usize) -> Router {
        let mut header_names: Vec<Box<str>> =
            matchers.iter().flat_map(|m| m.headers.iter().map(|h| h.name.clone())).collect();
        header_names.sort();
        header_names.dedup();
        // A served route has exactly one matcher of path group 0 (or its only one, without paths).
        let route_count = matchers.iter().filter(|m| m.priority.group == 0).count();
        Router {
            index: Index::build(&matchers),
            matchers,
            header_names,
            route_count,
            cache: MatchCache::new(cache_size),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::RequestInput;
    use super::*;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    /// A config as the tests change it: routes and services by id.
    #[derive(Clone, Default)]
    struct Config {
        routes: BTreeMap<String, Value>,
        services: BTreeMap<String, Value>,
    }

    fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> T {
        serde_json::from_value(v.clone()).unwrap()
    }

    impl Config {
        fn route(&mut self, v: Value) {
            self.routes.insert(v["id"].as_str().unwrap().to_owned(), v);
        }

        fn service(&mut self, id: &str, path: &str, enabled: bool) {
            let v = json!({"id": id, "host": "upstream", "path": path, "enabled": enabled});
            self.services.insert(id.to_owned(), v);
        }

        fn services(&self) -> Vec<Service> {
            self.services.values().map(decode).collect()
        }

        fn full(&self) -> Router {
            Router::new(self.routes.values().map(decode).collect(), &self.services(), 16).unwrap()
        }

        /// `self` updated to `next` the way `Store::load` does it: by the entities that differ.
        fn update(&self, router: &Router, next: &Config) -> Result<Router, RouterError> {
            let services = next.services();
            let differs = |before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>| -> Vec<String> {
                let keys = before.keys().chain(after.keys());
                let mut ids: Vec<String> = keys.filter(|k| before.get(*k) != after.get(*k)).cloned().collect();
                ids.dedup();
                ids
            };
            let changed_routes = differs(&self.routes, &next.routes);
            let changed_services = differs(&self.services, &next.services);
            // The routes of a changed service are compiled again, as the LMDB reader hands them over.
            let of_changed_service = |r: &&Value| changed_services.iter().any(|s| r["service"]["id"] == **s);
            let compiled = next.routes.iter().filter(|(id, r)| changed_routes.contains(id) || of_changed_service(r));
            let changes = Changes {
                routes: compiled.map(|(_, r)| decode(r)).collect(),
                removed_routes: changed_routes
                    .iter()
                    .filter(|id| !next.routes.contains_key(*id))
                    .map(|id| id.as_str())
                    .collect(),
                services: services.iter().map(|s| (s.id.as_str(), s)).collect(),
            };
            router.update(changes, 16)
        }
    }

    fn order(r: &Router) -> Vec<(String, usize)> {
        r.matchers.iter().map(|m| (m.target.route_id.to_string(), m.priority.group)).collect()
    }

    const PROBES: &[(&str, &str)] = &[
        ("a.com", "/api/users/7"),
        ("a.com", "/api/x"),
        ("b.com", "/api/users/7"),
        ("b.com", "/multi/deep/1"),
        ("x.b.com", "/multi/q"),
        ("h", "/old/1"),
        ("h", "/off/1"),
        ("h", "/hdr"),
        ("h", "/nothing"),
    ];

    /// Everything observable is what a full compile of the same config gives.
    fn assert_same(updated: &Router, full: &Router, step: &str) {
        assert_eq!(order(updated), order(full), "{step}: priority order");
        assert_eq!(updated.len(), full.len(), "{step}: len");
        assert_eq!(
            updated.header_names(),
            full.header_names(),
            "{step}: header names"
        );
        for (host, path) in PROBES {
            for headers in [&[][..], &[("x-v", "1")][..]] {
                let input = RequestInput { method: "GET", scheme: "http", host, path, sni: None, headers };
                assert_eq!(
                    updated.find(&input),
                    full.find(&input),
                    "{step}: {host}{path} {headers:?}"
                );
            }
        }
    }

    fn base() -> Config {
        let mut c = Config::default();
        c.service("s1", "/one", true);
        c.service("s2", "/two", true);
        c.service("off", "/", false);
        c.route(json!({"id": "api", "paths": ["/api"], "service": {"id": "s1"}, "created_at": 5}));
        c.route(json!({"id": "users", "hosts": ["a.com"], "paths": ["/api/users"], "service": {"id": "s2"}}));
        c.route(json!({"id": "re", "paths": ["~/api/users/\\d+$"], "regex_priority": 2, "service": {"id": "s1"}}));
        c.route(json!({"id": "multi", "hosts": ["*.b.com", "b.com"], "paths": ["/multi", "/multi/deep", "~/m"], "service": {"id": "s2"}}));
        c.route(json!({"id": "old", "paths": ["/old"], "service": {"id": "s1"}, "created_at": 1}));
        c.route(json!({"id": "old2", "paths": ["/old"], "service": {"id": "s2"}, "created_at": 2}));
        c.route(json!({"id": "off", "paths": ["/off"], "service": {"id": "off"}}));
        c.route(json!({"id": "nosvc", "paths": ["/nothing/x"], "service": null}));
        c
    }

    #[test]
    fn each_change_gives_the_router_a_full_compile_gives() {
        type Step = (&'static str, fn(&mut Config));
        let steps: &[Step] = &[
            ("nothing", |_| {}),
            ("a route that outranks one", |c| {
                c.route(json!({"id": "longer", "paths": ["/api/x"], "service": {"id": "s2"}}))
            }),
            ("a route removed", |c| {
                c.routes.remove("users");
            }),
            ("a route changed", |c| {
                c.route(json!({"id": "api", "paths": ["/api/v2", "/hdr"], "service": {"id": "s2"}}))
            }),
            ("an older route takes the lead", |c| {
                c.route(json!({"id": "old2", "paths": ["/old"], "service": {"id": "s2"}, "created_at": 0}))
            }),
            ("a header route", |c| {
                c.route(json!({"id": "hdr", "headers": {"x-v": ["1"]}, "paths": ["/hdr"], "service": {"id": "s1"}}))
            }),
            ("a service path changed", |c| c.service("s1", "/uno", true)),
            ("a service disabled", |c| c.service("s2", "/two", false)),
            ("a service enabled", |c| c.service("off", "/on", true)),
            ("a service removed with its routes", |c| {
                c.services.remove("s2");
                c.routes.retain(|_, r| r["service"]["id"] != "s2");
            }),
            ("a service and a route of it at once", |c| {
                c.service("s3", "/three", true);
                c.route(json!({"id": "old", "paths": ["/old/1"], "service": {"id": "s3"}, "created_at": 1}));
            }),
            ("every route removed", |c| c.routes.clear()),
            ("routes back", |c| *c = base()),
        ];
        let mut config = base();
        let mut router = config.full();
        for (step, change) in steps {
            let mut next = config.clone();
            change(&mut next);
            let updated = config.update(&router, &next).unwrap();
            assert_same(&updated, &next.full(), step);
            (config, router) = (next, updated);
        }
    }

    #[test]
    fn unchanged_routes_share_their_matchers() {
        let config = base();
        let router = config.full();
        let mut next = config.clone();
        next.route(json!({"id": "new", "paths": ["/new"], "service": {"id": "s1"}}));
        let updated = config.update(&router, &next).unwrap();
        let shared = |id: &str| {
            let find = |r: &Router| r.matchers.iter().find(|m| &*m.target.route_id == id).cloned().unwrap();
            Arc::ptr_eq(&find(&router), &find(&updated))
        };
        assert!(shared("api") && shared("multi"));
    }

    #[test]
    fn a_change_that_does_not_compile_fails_and_leaves_the_router_alone() {
        let config = base();
        let router = config.full();
        let mut next = config.clone();
        next.route(json!({"id": "bad", "paths": ["~/(unclosed"], "service": {"id": "s1"}}));
        let err = config.update(&router, &next).err().unwrap();
        assert_eq!((err.route.as_str(), err.field), ("bad", "paths"));
        assert_same(&router, &config.full(), "after the error");
    }
}
