//! The writer's note of what its last delta changed (`meta|delta`, see docs/internals.md).
//!
//! A reader serving exactly the config that delta was applied to (same version and hash) reads
//! only the entities the note names instead of walking every stored entity.

use super::error::StoreError;
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct DeltaNote {
    pub from_version: u64,
    pub from_hash: String,
    /// `<type>|<id>` of every entity written or deleted, sorted.
    pub keys: Vec<String>,
}

impl DeltaNote {
    pub fn parse(raw: &[u8]) -> Result<Self, StoreError> {
        serde_json::from_slice(raw).map_err(|e| StoreError::corrupt("meta|delta", e))
    }

    /// Whether the note leads from the config (version, hash) to the stored one.
    pub fn applies_to(&self, version: u64, hash: &str) -> bool {
        self.from_version == version && self.from_hash == hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_applies_only_to_its_base() {
        let note = DeltaNote::parse(br#"{"from_version":4,"from_hash":"h4","keys":["routes|a"]}"#).unwrap();
        assert_eq!(note.keys, ["routes|a"]);
        assert!(note.applies_to(4, "h4"));
        assert!(!note.applies_to(4, "other") && !note.applies_to(3, "h4"));
    }

    #[test]
    fn a_bad_note_is_corrupt() {
        let err = DeltaNote::parse(b"[1]").unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { ref key, .. } if key == "meta|delta"),
            "{err}"
        );
    }
}
