//! Narrowing the matchers worth testing for a request.
//!
//! Matchers whose hosts are all exact are filed under each host name; the others under a
//! catch-all. Inside each, matchers whose paths are all prefixes are filed under each prefix,
//! and the rest (regex paths, no paths) are always candidates. A lookup therefore tests
//! only the matchers that could match the request's host and path, in priority order.

use std::collections::HashMap;

use super::host::NameMatch;
use super::matcher::Matcher;
use super::path::PathPattern;

#[derive(Default)]
pub struct Index {
    by_host: HashMap<Box<str>, PathIndex>,
    any_host: PathIndex,
}

#[derive(Default)]
struct PathIndex {
    by_prefix: HashMap<Box<str>, Vec<u32>>,
    /// The distinct prefix lengths, so a lookup probes only lengths that exist.
    prefix_lens: Vec<usize>,
    always: Vec<u32>,
}

impl Index {
    /// `matchers` must already be in priority order; positions are stored.
    pub fn build(matchers: &[Matcher]) -> Self {
        let mut index = Index::default();
        for (i, m) in matchers.iter().enumerate() {
            let i = i as u32;
            let exact: Option<Vec<&str>> = (!m.hosts.is_empty())
                .then(|| {
                    m.hosts
                        .iter()
                        .map(|h| match &h.name {
                            NameMatch::Exact(n) => Some(&**n),
                            _ => None,
                        })
                        .collect()
                })
                .flatten();
            match exact {
                Some(mut names) => {
                    names.dedup();
                    for name in names {
                        index.by_host.entry(name.into()).or_default().add(i, &m.paths);
                    }
                }
                None => index.any_host.add(i, &m.paths),
            }
        }
        index
    }

    /// Candidate positions for a lower-case host and a normalised path, sorted and unique.
    pub fn candidates(&self, host: &str, path: &str, out: &mut Vec<u32>) {
        if let Some(pi) = self.by_host.get(host) {
            pi.collect(path, out);
        }
        self.any_host.collect(path, out);
        out.sort_unstable();
        out.dedup();
    }
}

impl PathIndex {
    fn add(&mut self, i: u32, paths: &[PathPattern]) {
        let prefixes: Option<Vec<&str>> = (!paths.is_empty())
            .then(|| {
                paths
                    .iter()
                    .map(|p| match p {
                        PathPattern::Prefix(s) => Some(&**s),
                        PathPattern::Regex(_) => None,
                    })
                    .collect()
            })
            .flatten();
        let Some(prefixes) = prefixes else {
            self.always.push(i);
            return;
        };
        for p in prefixes {
            let list = self.by_prefix.entry(p.into()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
            if let Err(at) = self.prefix_lens.binary_search(&p.len()) {
                self.prefix_lens.insert(at, p.len());
            }
        }
    }

    fn collect(&self, path: &str, out: &mut Vec<u32>) {
        out.extend_from_slice(&self.always);
        for &len in &self.prefix_lens {
            if len > path.len() {
                break;
            }
            // `None` when `len` splits a character: no prefix (all valid UTF-8) can end there.
            if let Some(list) = path.get(..len).and_then(|prefix| self.by_prefix.get(prefix)) {
                out.extend_from_slice(list);
            }
        }
    }
}
