//! One stored config, decoded from the bytes of a single read transaction but not compiled yet.

use super::error::StoreError;
use super::layout::{show_key, split_key};
use super::reuse::Reuse;
use crate::entities::{Route, Service, Target, Upstream};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Config {
    pub version: u64,
    pub hash: String,
    /// Kong's per-type hashes: routes, services, plugins, upstreams, targets, rest.
    pub hashes: BTreeMap<String, String>,
    pub routes: Vec<Route>,
    pub services: Vec<Service>,
    pub upstreams: Vec<Upstream>,
    pub targets: Vec<Target>,
    /// The JSON of every entity by type, in key order.
    pub entities: BTreeMap<String, Vec<Vec<u8>>>,
    /// Parts the previous snapshot still serves: their entities are not decoded.
    pub reuse: Reuse,
}

impl Config {
    /// Starts a config from its `meta` values; `key` names each one in errors.
    pub fn from_meta(version: &[u8], hash: &[u8], hashes: &[u8]) -> Result<Self, StoreError> {
        let version = std::str::from_utf8(version)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or_else(|| StoreError::corrupt("meta|version", "not a decimal integer"))?;
        let hash = String::from_utf8(hash.to_vec()).map_err(|e| StoreError::corrupt("meta|hash", e))?;
        let hashes = serde_json::from_slice(hashes).map_err(|e| StoreError::corrupt("meta|hashes", e))?;
        Ok(Config { version, hash, hashes, ..Config::default() })
    }

    /// Adds one `entities` record; the types the core compiles are decoded here as well,
    /// unless `reuse` says their compiled form is taken over.
    pub fn add_entity(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (entity_type, _) = split_key(key).ok_or_else(|| StoreError::corrupt(show_key(key), "key is not <type>|<id>"))?;
        let Reuse { router, balancers } = self.reuse;
        match entity_type {
            "routes" if !router => self.routes.push(decode(key, value)?),
            "services" if !router => self.services.push(decode(key, value)?),
            "upstreams" if !balancers => self.upstreams.push(decode(key, value)?),
            "targets" if !balancers => self.targets.push(decode(key, value)?),
            _ => {}
        }
        match self.entities.get_mut(entity_type) {
            Some(list) => list.push(value.to_vec()),
            None => {
                self.entities.insert(entity_type.to_owned(), vec![value.to_vec()]);
            }
        }
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(value).map_err(|e| StoreError::corrupt(show_key(key), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_meta(b"7", b"0123456789abcdef0123456789abcdef", br#"{"routes":"r"}"#).unwrap()
    }

    #[test]
    fn meta_is_decoded() {
        let c = config();
        assert_eq!(c.version, 7);
        assert_eq!(c.hashes["routes"], "r");
    }

    #[test]
    fn bad_meta_names_the_key() {
        let err = Config::from_meta(b"x7", b"h", b"{}").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { ref key, .. } if key == "meta|version"), "{err}");
        let err = Config::from_meta(b"7", b"h", b"[").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { ref key, .. } if key == "meta|hashes"), "{err}");
    }

    #[test]
    fn entities_are_grouped_by_type_and_decoded() {
        let mut c = config();
        c.add_entity(b"services|s1", br#"{"id":"s1","host":"example.com"}"#).unwrap();
        c.add_entity(b"plugins|p1", br#"{"id":"p1","name":"cors"}"#).unwrap();
        c.add_entity(b"plugins|p2", br#"{"id":"p2","name":"acl"}"#).unwrap();
        assert_eq!(c.services[0].host, "example.com");
        assert_eq!(c.entities["plugins"].len(), 2);
        assert_eq!(c.entities["services"][0], br#"{"id":"s1","host":"example.com"}"#.to_vec());
    }

    #[test]
    fn reused_parts_are_kept_raw_but_not_decoded() {
        let mut c = config();
        c.reuse = Reuse { router: true, balancers: false };
        c.add_entity(b"routes|r1", b"{not json").unwrap();
        c.add_entity(b"targets|t1", br#"{"id":"t1","target":"a:80","upstream":{"id":"u1"}}"#).unwrap();
        assert!(c.routes.is_empty());
        assert_eq!(c.entities["routes"].len(), 1);
        assert_eq!(c.targets.len(), 1);
    }

    #[test]
    fn corrupt_json_names_the_key() {
        let mut c = config();
        let err = c.add_entity(b"routes|r9", b"{not json").unwrap_err();
        assert!(err.to_string().contains("routes|r9"), "{err}");
        let err = c.add_entity(b"targets|t1", br#"{"id":"t1"}"#).unwrap_err();
        assert!(err.to_string().contains("targets|t1"), "{err}");
        let err = c.add_entity(b"bad-key", b"{}").unwrap_err();
        assert!(err.to_string().contains("bad-key"), "{err}");
    }
}
