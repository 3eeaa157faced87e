//! Path patterns of a route (`paths`).
//!
//! A path is a prefix (`/foo` matches `/foo`, `/foo/` and `/foobar`, Kong's prefix rule) or a
//! regex when it starts with `~`. Regexes are anchored at the start of the path, as Kong's
//! router anchors them, and report their numbered and named captures (Kong's `uri_captures`).
//! Both are matched against the normalised request path.

use regex::Regex;
use std::sync::Arc;

use super::normalize::normalize;

/// A regex path capture key: group number (0 = whole match) or group name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CaptureKey {
    /// A numbered group.
    Index(usize),
    /// A named group.
    Name(Box<str>),
}

/// The captures of one regex match: each group that took part, by number and by name.
pub type Captures = Vec<(CaptureKey, String)>;

#[derive(Debug)]
pub enum PathPattern {
    /// Shared with the index, which files the matcher under it.
    Prefix(Arc<str>),
    Regex(Regex),
}

/// What a matching path pattern tells the rest of the router.
#[derive(Debug, PartialEq, Eq)]
pub struct PathHit {
    /// Length of the matched start of the path (what strip_path removes).
    pub matched_len: usize,
    /// Set only when a regex has at least one participating group.
    pub captures: Option<Captures>,
}

impl PathPattern {
    /// Validates and compiles a route `paths` entry.
    pub fn parse(entry: &str) -> Result<Self, String> {
        if let Some(re) = entry.strip_prefix('~') {
            if !re.starts_with('/') {
                return Err(format!(
                    "invalid path '{entry}': a regex path must start with '~/'"
                ));
            }
            return Regex::new(&format!("^(?:{re})"))
                .map(PathPattern::Regex)
                .map_err(|e| format!("invalid regex '{re}': {e}"));
        }
        if !entry.starts_with('/') {
            return Err(format!("invalid path '{entry}': must start with '/' or '~/'"));
        }
        if entry.contains("//") {
            return Err(format!("invalid path '{entry}': must not have empty segments"));
        }
        if let Some(bad) = entry.bytes().find(|b| !is_path_char(*b)) {
            return Err(format!(
                "invalid path '{entry}': character {:?} is outside RFC 3986",
                bad as char
            ));
        }
        if !percent_triplets_ok(entry) {
            return Err(format!("invalid path '{entry}': bad percent-encoding"));
        }
        let normalized = normalize(entry);
        if normalized != entry {
            return Err(format!(
                "non-normalized path '{entry}', use '{normalized}' instead"
            ));
        }
        Ok(PathPattern::Prefix(entry.into()))
    }

    pub fn is_regex(&self) -> bool {
        matches!(self, PathPattern::Regex(_))
    }

    /// Byte length of a prefix path (0 for regexes), Kong's `max_uri_length`.
    pub fn prefix_len(&self) -> usize {
        match self {
            PathPattern::Prefix(p) => p.len(),
            PathPattern::Regex(_) => 0,
        }
    }

    /// Matches the normalised request path.
    pub fn matches(&self, path: &str) -> Option<PathHit> {
        match self {
            PathPattern::Prefix(p) => {
                path.starts_with(&**p).then_some(PathHit { matched_len: p.len(), captures: None })
            }
            PathPattern::Regex(re) if re.captures_len() == 1 => {
                // no groups: finding the match is enough, and cheaper than capturing
                let whole = re.find(path)?;
                Some(PathHit { matched_len: whole.end(), captures: None })
            }
            PathPattern::Regex(re) => {
                let caps = re.captures(path)?;
                let whole = caps.get(0)?;
                let groups = (1..caps.len()).any(|i| caps.get(i).is_some());
                let captures = groups.then(|| collect_captures(re, &caps));
                Some(PathHit { matched_len: whole.end(), captures })
            }
        }
    }
}

fn collect_captures(re: &Regex, caps: &regex::Captures<'_>) -> Captures {
    let mut out = Vec::with_capacity(caps.len() * 2);
    for (i, name) in re.capture_names().enumerate() {
        if let Some(m) = caps.get(i) {
            out.push((CaptureKey::Index(i), m.as_str().to_owned()));
            if let Some(name) = name {
                out.push((CaptureKey::Name(name.into()), m.as_str().to_owned()));
            }
        }
    }
    out
}

/// RFC 3986 unreserved, sub-delims, `:`, `@`, `/` and `%`, as Kong's path validator allows.
fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~/%:@!$&'()*+,;=".contains(&b)
}

fn percent_triplets_ok(entry: &str) -> bool {
    let b = entry.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_semantics() {
        let p = PathPattern::parse("/foo").unwrap();
        for ok in ["/foo", "/foo/", "/foobar", "/foo/bar"] {
            assert_eq!(p.matches(ok).unwrap().matched_len, 4, "{ok}");
        }
        assert!(p.matches("/fo").is_none());
        assert!(p.matches("/bar/foo").is_none());
    }

    #[test]
    fn regex_is_anchored_at_start() {
        let p = PathPattern::parse(r"~/v\d+/users").unwrap();
        assert!(p.matches("/v1/users/7").is_some());
        assert!(p.matches("/api/v1/users").is_none());
        let alt = PathPattern::parse("~/a|/b").unwrap();
        assert!(alt.matches("/x/b").is_none());
        assert!(alt.matches("/b").is_some());
    }

    #[test]
    fn regex_captures_numbered_and_named() {
        let p = PathPattern::parse(r"~/users/(?<id>\d+)/(\w+)").unwrap();
        let hit = p.matches("/users/42/posts/x").unwrap();
        assert_eq!(hit.matched_len, "/users/42/posts".len());
        let caps = hit.captures.unwrap();
        assert!(caps.contains(&(CaptureKey::Index(0), "/users/42/posts".into())));
        assert!(caps.contains(&(CaptureKey::Index(1), "42".into())));
        assert!(caps.contains(&(CaptureKey::Name("id".into()), "42".into())));
        assert!(caps.contains(&(CaptureKey::Index(2), "posts".into())));
    }

    #[test]
    fn regex_without_groups_has_no_captures() {
        let p = PathPattern::parse(r"~/status$").unwrap();
        assert_eq!(p.matches("/status").unwrap().captures, None);
        let opt = PathPattern::parse(r"~/s(x)?").unwrap();
        assert_eq!(opt.matches("/s").unwrap().captures, None);
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in [
            "foo",
            "~foo",
            "/a//b",
            "/a b",
            "/a%zz",
            "/a%2",
            "/a/../b",
            "/a/./b",
            "~/(unclosed",
        ] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(PathPattern::parse("/a%2Fb").is_ok());
    }
}
