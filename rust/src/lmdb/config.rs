//! One stored config as read from a single read transaction, not compiled yet.

use super::error::StoreError;
use super::records::{Changes, Record, Records};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One config as read: its meta values, its records and what changed since the records it
/// was read against.
#[derive(Debug, Default)]
pub struct Config {
    /// The config version (`meta|version`).
    pub version: u64,
    /// The config hash (`meta|hash`).
    pub hash: String,
    /// Kong's per-type hashes: routes, services, plugins, upstreams, targets, rest.
    pub hashes: BTreeMap<String, String>,
    /// Every entity's JSON by type.
    pub records: Records,
    /// What changed since the records the config was read against.
    pub changes: Changes,
    /// Routes that did not change but whose service did, so compile again.
    pub service_routes: Vec<Arc<Record>>,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_is_decoded() {
        let c = Config::from_meta(b"7", b"0123456789abcdef0123456789abcdef", br#"{"routes":"r"}"#).unwrap();
        assert_eq!(c.version, 7);
        assert_eq!(c.hashes["routes"], "r");
    }

    #[test]
    fn bad_meta_names_the_key() {
        let err = Config::from_meta(b"x7", b"h", b"{}").unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { ref key, .. } if key == "meta|version"),
            "{err}"
        );
        let err = Config::from_meta(b"7", b"h", b"[").unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { ref key, .. } if key == "meta|hashes"),
            "{err}"
        );
    }
}
