//! The entity shapes the core reads from a config snapshot.
//!
//! They mirror Kong's entity fields (the same names and defaults as `dataplane/schema`), and
//! hold only what the router and balancers use. Snapshots store entities as JSON objects with
//! foreign keys in Kong's `{"id": "..."}` form; unknown fields are ignored so that the Python
//! schemas may grow without touching this file.

use serde::Deserialize;
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
    #[serde(default = "default_protocol")]
    pub protocol: String,
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_route_protocols")]
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
    #[serde(default = "default_redirect_status")]
    pub https_redirect_status_code: u16,
    #[serde(default)]
    pub regex_priority: i64,
    #[serde(default = "default_true")]
    pub strip_path: bool,
    #[serde(default = "default_path_handling")]
    pub path_handling: String,
    #[serde(default)]
    pub preserve_host: bool,
    /// Kong's default: the whole request body is read before anything goes upstream.
    #[serde(default = "default_true")]
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
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
    #[serde(default = "default_slots")]
    pub slots: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    pub id: String,
    /// `host:port` (or `host`, port 8000 then, as Kong).
    pub target: String,
    #[serde(default = "default_weight")]
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
