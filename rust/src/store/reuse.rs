//! What a load may take over from the snapshot before it, judged by Kong's per-type hashes.

use std::collections::BTreeMap;

/// The compiled parts whose inputs did not change since the previous snapshot.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Routes and services are unchanged: the previous router serves as it is.
    pub router: bool,
    /// Upstreams and targets are unchanged: the previous balancers (and their health) stay.
    pub balancers: bool,
}

impl Reuse {
    /// Nothing is reused without a previous snapshot, nor for a type either side has no hash
    /// for: a missing hash proves nothing.
    pub fn between(previous: Option<&BTreeMap<String, String>>, current: &BTreeMap<String, String>) -> Reuse {
        let Some(previous) = previous else { return Reuse::default() };
        let same = |types: &[&str]| {
            types.iter().all(|t| matches!((previous.get(*t), current.get(*t)), (Some(a), Some(b)) if a == b))
        };
        Reuse { router: same(&["routes", "services"]), balancers: same(&["upstreams", "targets"]) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn equal_hashes_are_reused_and_missing_ones_never() {
        let all = hashes(&[("routes", "r"), ("services", "s"), ("upstreams", "u"), ("targets", "t")]);
        assert_eq!(Reuse::between(None, &all), Reuse::default());
        assert_eq!(Reuse::between(Some(&all), &all), Reuse { router: true, balancers: true });
        let routes_changed = hashes(&[("routes", "r2"), ("services", "s"), ("upstreams", "u"), ("targets", "t")]);
        assert_eq!(Reuse::between(Some(&all), &routes_changed), Reuse { router: false, balancers: true });
        let no_targets = hashes(&[("routes", "r"), ("services", "s"), ("upstreams", "u")]);
        assert_eq!(Reuse::between(Some(&no_targets), &no_targets), Reuse { router: true, balancers: false });
    }
}
