//! Narrowing the matchers worth testing for a request.
//!
//! Matchers with hosts are filed under each host pattern (exact name, wildcard suffix or
//! wildcard prefix); matchers without hosts under a catch-all. Inside each, matchers whose
//! paths are all prefixes are filed under each prefix, and the rest (regex paths, no paths)
//! are always candidates. A lookup therefore tests only the matchers that could match the
//! request's host and path, in priority order.

use std::sync::Arc;

use super::fasthash::FastMap;
use super::host::NameMatch;
use super::matcher::Matcher;
use super::path::PathPattern;

#[derive(Default)]
pub struct Index {
    exact_hosts: FastMap<Arc<str>, PathIndex>,
    /// `*.example.com` filed under `.example.com`.
    host_suffixes: FastMap<Arc<str>, PathIndex>,
    /// `example.*` filed under `example.`.
    host_prefixes: FastMap<Arc<str>, PathIndex>,
    any_host: PathIndex,
}

#[derive(Default)]
struct PathIndex {
    by_prefix: FastMap<Arc<str>, Vec<u32>>,
    /// The distinct prefix lengths, so a lookup probes only lengths that exist.
    prefix_lens: Vec<usize>,
    always: Vec<u32>,
}

impl Index {
    /// `matchers` must already be in priority order; positions are stored.
    pub fn build(matchers: &[Arc<Matcher>]) -> Self {
        let mut index = Index::default();
        // Sized once: growing the biggest map step by step costs more than filling it.
        index.any_host.by_prefix.reserve(matchers.iter().filter(|m| m.hosts.is_empty()).count());
        for (i, m) in matchers.iter().enumerate() {
            let i = i as u32;
            if m.hosts.is_empty() {
                index.any_host.add(i, &m.paths);
            }
            for h in &m.hosts {
                let (map, key) = match &h.name {
                    NameMatch::Exact(n) => (&mut index.exact_hosts, n),
                    NameMatch::Suffix(n) => (&mut index.host_suffixes, n),
                    NameMatch::Prefix(n) => (&mut index.host_prefixes, n),
                };
                map.entry(key.clone()).or_default().add(i, &m.paths);
            }
        }
        index
    }

    /// Candidate positions for a lower-case host and a normalised path, sorted and unique.
    pub fn candidates(&self, host: &str, path: &str, out: &mut Vec<u32>) {
        if let Some(pi) = self.exact_hosts.get(host) {
            pi.collect(path, out);
        }
        if !self.host_suffixes.is_empty() || !self.host_prefixes.is_empty() {
            for (dot, _) in host.match_indices('.') {
                if let Some(pi) = self.host_suffixes.get(&host[dot..]) {
                    pi.collect(path, out);
                }
                if let Some(pi) = self.host_prefixes.get(&host[..=dot]) {
                    pi.collect(path, out);
                }
            }
        }
        self.any_host.collect(path, out);
        out.sort_unstable();
        out.dedup();
    }
}

impl PathIndex {
    fn add(&mut self, i: u32, paths: &[PathPattern]) {
        let all_prefixes = !paths.is_empty() && paths.iter().all(|p| matches!(p, PathPattern::Prefix(_)));
        // A matcher with several hosts may land in the same index more than once.
        if !all_prefixes {
            if self.always.last() != Some(&i) {
                self.always.push(i);
            }
            return;
        }
        for p in paths {
            let PathPattern::Prefix(prefix) = p else { continue };
            let list = self.by_prefix.entry(Arc::clone(prefix)).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
            if let Err(at) = self.prefix_lens.binary_search(&prefix.len()) {
                self.prefix_lens.insert(at, prefix.len());
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
