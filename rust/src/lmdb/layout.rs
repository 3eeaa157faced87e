//! The on-disk layout shared with the Python writer (`dataplane/lmdb_cache/`, docs/internals.md).

/// The `meta.format` value of this layout; anything else is an incompatible cache.
/// gantry/2 added the writer's `refs` and `unique` indexes; this reader looks up `refs`.
pub const FORMAT: &str = "gantry/2";

/// Environment settings that must match the writer's.
pub const MAX_DBS: u32 = 4;
pub const MAX_READERS: u32 = 256;

pub const META_DB: &str = "meta";
pub const ENTITIES_DB: &str = "entities";
/// `<referenced type>|<referenced id>|<type>|<id>` -> empty: what points at an entity.
pub const REFS_DB: &str = "refs";

pub const KEY_FORMAT: &[u8] = b"format";
pub const KEY_VERSION: &[u8] = b"version";
pub const KEY_HASH: &[u8] = b"hash";
pub const KEY_HASHES: &[u8] = b"hashes";
/// What the last delta changed, and the config it was applied to (absent after a full config).
pub const KEY_DELTA: &[u8] = b"delta";

/// Splits an `entities` key `<type>|<id>` into its type and id.
pub fn split_key(key: &[u8]) -> Option<(&str, &str)> {
    std::str::from_utf8(key).ok()?.split_once('|')
}

/// A key shown in an error message, readable even when it is not UTF-8.
pub fn show_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_on_the_first_bar() {
        assert_eq!(split_key(b"routes|abc"), Some(("routes", "abc")));
        assert_eq!(split_key(b"plugins|a|b"), Some(("plugins", "a|b")));
        assert_eq!(split_key(b"nobar"), None);
        assert_eq!(split_key(b"\xffx|y"), None);
    }
}
