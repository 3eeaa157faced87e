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
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_protocol", deserialize_with = "null_is_default::default_protocol")]
    pub protocol: String,
    pub host: String,
    #[serde(default = "default_port", deserialize_with = "null_is_default::default_port")]
    pub port: u16,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default = "default_enabled", deserialize_with = "null_is_default::default_enabled")]
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_route_protocols", deserialize_with = "null_is_default::default_route_protocols")]
    pub protocols: Vec<String>,
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Header name -> accepted values (exact, or `~*regex`).
    #[serde(default)]
    pub headers: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    pub snis: Option<Vec<String>>,
    #[serde(default = "default_redirect_status", deserialize_with = "null_is_default::default_redirect_status")]
    pub https_redirect_status_code: u16,
    #[serde(default, deserialize_with = "null_is_default::zero")]
    pub regex_priority: i64,
    #[serde(default = "default_true", deserialize_with = "null_is_default::default_true")]
    pub strip_path: bool,
    #[serde(default = "default_path_handling", deserialize_with = "null_is_default::default_path_handling")]
    pub path_handling: String,
    #[serde(default, deserialize_with = "null_is_default::zero")]
    pub preserve_host: bool,
    /// Kong's default: the whole request body is read before anything goes upstream.
    #[serde(default = "default_true", deserialize_with = "null_is_default::default_true")]
    pub request_buffering: bool,
    #[serde(default)]
    pub service: Option<ForeignKey>,
    /// Kong breaks ties between equally specific routes by creation time.
    #[serde(default)]
    pub created_at: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Upstream {
    pub id: String,
    pub name: String,
    #[serde(default = "default_algorithm", deserialize_with = "null_is_default::default_algorithm")]
    pub algorithm: String,
    #[serde(default = "default_slots", deserialize_with = "null_is_default::default_slots")]
    pub slots: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    pub id: String,
    /// `host:port` (or `host`, port 8000 then, as Kong).
    pub target: String,
    #[serde(default = "default_weight", deserialize_with = "null_is_default::default_weight")]
    pub weight: u32,
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
