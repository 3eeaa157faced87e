//! The entity shapes the core reads from a config snapshot.
//!
//! They mirror Kong's entity fields (the same names and defaults as `dataplane/schema`), and
//! hold only what the router and balancers use. Snapshots store entities as JSON objects with
//! foreign keys in Kong's `{"id": "..."}` form; unknown fields are ignored so that the Python
//! schemas may grow without touching this file.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// A foreign key as Kong exports it: `{"id": "<uuid>"}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ForeignKey {
    /// The referenced entity's id.
    pub id: String,
}

/// A service: where the requests of its routes go.
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    /// Its id; routes point at it.
    pub id: String,
    /// Its name, when it has one.
    #[serde(default)]
    pub name: Option<String>,
    /// Kong's `protocol` (`http` by default).
    #[serde(default = "default_protocol", deserialize_with = "null_is_default::default_protocol")]
    pub protocol: String,
    /// The upstream host: a name, an IP address, or the name of an upstream to balance over.
    pub host: String,
    /// The upstream port (80 by default).
    #[serde(default = "default_port", deserialize_with = "null_is_default::default_port")]
    pub port: u16,
    /// The path put before every upstream path, when set.
    #[serde(default)]
    pub path: Option<String>,
    /// A disabled service's routes are not served.
    #[serde(default = "default_enabled", deserialize_with = "null_is_default::default_enabled")]
    pub enabled: bool,
}

/// A route: which requests go to its service, and how their upstream path is built.
#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    /// Its id; a match reports it.
    pub id: String,
    /// Its name, when it has one; compile errors show it beside the id.
    #[serde(default)]
    pub name: Option<String>,
    /// The protocols it accepts (`http` and `https` by default); one without `http` redirects
    /// requests that came over http.
    #[serde(default = "default_route_protocols", deserialize_with = "null_is_default::default_route_protocols")]
    pub protocols: Vec<String>,
    /// Accepted methods; none means any.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// Accepted hosts: exact or wildcard (`*.example.com`), each with an optional port.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// Path prefixes, and regexes (starting with `~`).
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Header name -> accepted values (exact, or `~*regex`).
    #[serde(default)]
    pub headers: Option<BTreeMap<String, Vec<String>>>,
    /// Accepted SNIs (https requests only).
    #[serde(default)]
    pub snis: Option<Vec<String>>,
    /// The status of the redirect to https (426 by default).
    #[serde(default = "default_redirect_status", deserialize_with = "null_is_default::default_redirect_status")]
    pub https_redirect_status_code: u16,
    /// Ranks regex paths against each other, higher first.
    #[serde(default, deserialize_with = "null_is_default::zero")]
    pub regex_priority: i64,
    /// The matched path prefix is left out of the upstream path (on by default).
    #[serde(default = "default_true", deserialize_with = "null_is_default::default_true")]
    pub strip_path: bool,
    /// How the service path and the request path are joined: `v0` (the default) or `v1`.
    #[serde(default = "default_path_handling", deserialize_with = "null_is_default::default_path_handling")]
    pub path_handling: String,
    /// The client's Host goes upstream instead of the service's host.
    #[serde(default, deserialize_with = "null_is_default::zero")]
    pub preserve_host: bool,
    /// Kong's default: the whole request body is read before anything goes upstream.
    #[serde(default = "default_true", deserialize_with = "null_is_default::default_true")]
    pub request_buffering: bool,
    /// The service its requests go to, when it has one.
    #[serde(default)]
    pub service: Option<ForeignKey>,
    /// Kong breaks ties between equally specific routes by creation time.
    #[serde(default)]
    pub created_at: i64,
}

/// An upstream: a named set of targets that a service's host can name.
#[derive(Debug, Clone, Deserialize)]
pub struct Upstream {
    /// Its id; targets point at it.
    pub id: String,
    /// Its name, the `host` of the services balanced over it.
    pub name: String,
    /// Kong's algorithm as configured (`round-robin` by default); see [`crate::balancer`].
    #[serde(default = "default_algorithm", deserialize_with = "null_is_default::default_algorithm")]
    pub algorithm: String,
    /// Kong's `slots` (10000 by default): the size of consistent-hashing's ring.
    #[serde(default = "default_slots", deserialize_with = "null_is_default::default_slots")]
    pub slots: u32,
    /// Kong's `healthchecks` record, read to refuse the checks that are not run.
    #[serde(default)]
    pub healthchecks: Option<serde_json::Value>,
    /// Kong's `use_srv_name`, refused when set (SRV records are not resolved).
    #[serde(default, deserialize_with = "null_is_default::zero")]
    pub use_srv_name: bool,
    /// Kong's `host_header`: the SNI of https probes when `https_sni` is not set.
    #[serde(default)]
    pub host_header: Option<String>,
}

/// A target: one address an upstream balances over, and its weight.
#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    /// Its id, the tie-break after `created_at`.
    pub id: String,
    /// `host:port` (or `host`, port 8000 then, as Kong).
    pub target: String,
    /// Its share of the picks (100 by default); 0 takes it out of rotation.
    #[serde(default = "default_weight", deserialize_with = "null_is_default::default_weight")]
    pub weight: u32,
    /// The upstream it belongs to.
    pub upstream: ForeignKey,
    /// Kong orders targets by creation time (seconds, with milliseconds): the latest entry
    /// for an address wins.
    #[serde(default)]
    pub created_at: f64,
}

fn default_protocol() -> String {
    "http".to_owned()
}
fn default_port() -> u16 {
    80
}
fn default_enabled() -> bool {
    true
}
fn default_true() -> bool {
    true
}
fn default_route_protocols() -> Vec<String> {
    vec!["http".to_owned(), "https".to_owned()]
}
fn default_redirect_status() -> u16 {
    426
}
fn default_path_handling() -> String {
    "v0".to_owned()
}
fn default_algorithm() -> String {
    "round-robin".to_owned()
}
fn default_slots() -> u32 {
    10000
}
fn default_weight() -> u32 {
    100
}

/// Deserializers that read `null` as the field's default, as an absent field is read: Kong
/// accepts `null` for an optional field that has a default (an upstream's `algorithm`, a
/// target's `weight`...) and stores it so, and a config holding one must still load.
mod null_is_default {
    use super::*;

    macro_rules! or_default {
        ($($name:ident: $type:ty = $default:expr;)*) => {$(
            pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$type, D::Error> {
                Ok(Option::<$type>::deserialize(d)?.unwrap_or_else(|| $default))
            }
        )*};
    }

    or_default! {
        default_protocol: String = super::default_protocol();
        default_port: u16 = super::default_port();
        default_enabled: bool = super::default_enabled();
        default_true: bool = true;
        default_route_protocols: Vec<String> = super::default_route_protocols();
        default_redirect_status: u16 = super::default_redirect_status();
        default_path_handling: String = super::default_path_handling();
        default_algorithm: String = super::default_algorithm();
        default_slots: u32 = super::default_slots();
        default_weight: u32 = super::default_weight();
    }

    /// `null` as the type's zero value (`false`, 0).
    pub fn zero<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_reads_as_the_default() {
        let upstream: Upstream =
            serde_json::from_str(r#"{"id": "u", "name": "u", "algorithm": null, "slots": null}"#).unwrap();
        assert_eq!(
            (upstream.algorithm.as_str(), upstream.slots),
            ("round-robin", 10000)
        );
        let target: Target =
            serde_json::from_str(r#"{"id": "t", "target": "a:1", "weight": null, "upstream": {"id": "u"}}"#).unwrap();
        assert_eq!(target.weight, 100);
        let route: Route = serde_json::from_str(
            r#"{"id": "r", "protocols": null, "path_handling": null, "regex_priority": null, "strip_path": null,
                "preserve_host": null, "request_buffering": null, "https_redirect_status_code": null}"#,
        )
        .unwrap();
        assert_eq!(route.protocols, ["http", "https"]);
        assert_eq!(
            (
                route.path_handling.as_str(),
                route.regex_priority,
                route.https_redirect_status_code
            ),
            ("v0", 0, 426)
        );
        assert!(route.strip_path && !route.preserve_host && route.request_buffering);
        let service: Service =
            serde_json::from_str(r#"{"id": "s", "host": "h", "protocol": null, "port": null, "enabled": null}"#)
                .unwrap();
        assert_eq!(
            (service.protocol.as_str(), service.port, service.enabled),
            ("http", 80, true)
        );
    }
}
