//! The order in which compiled routes are tried; the first one that matches wins.
//!
//! This is the order of Kong's `traditional_compatible` router. A route with several paths is
//! first split into one matcher per path group: all its regex paths form one group and its
//! prefix paths are grouped by length, so each group is ranked on its own. Matchers are then
//! sorted by, in turn (higher/true first unless said otherwise):
//!
//! 1. the number of criteria categories the route uses, out of `methods`, `hosts`, `headers`,
//!    `snis` and `paths` (a route with host + path beats one with only a path);
//! 2. hosts that are all plain (no wildcard) before any wildcard or no hosts;
//! 3. the number of `headers` conditions;
//! 4. regex paths before prefix paths;
//! 5. for regex paths, `regex_priority`;
//! 6. for prefix paths, the prefix length (longest first);
//! 7. `created_at`, older first; then the route id and the path group, so the order is total
//!    and does not depend on input order.

use std::cmp::Ordering;

/// How specific a matcher is. `Ord` puts the matcher to try first first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    /// Criteria categories the route uses (rule 1).
    pub categories: u8,
    /// Every host is plain, none a wildcard (rule 2).
    pub plain_hosts_only: bool,
    /// The number of `headers` conditions (rule 3).
    pub header_count: usize,
    /// The path group is the route's regexes (rule 4).
    pub regex: bool,
    /// The route's `regex_priority`, for regex paths (rule 5).
    pub regex_priority: i64,
    /// The prefix length, for prefix paths (rule 6).
    pub prefix_len: usize,
    /// The route's `created_at` (rule 7).
    pub created_at: i64,
    /// The route's id, a tie-break (rule 7).
    pub route_id: Box<str>,
    /// The path group's place in its route, the last tie-break.
    pub group: usize,
}

impl Ord for Priority {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .categories
            .cmp(&self.categories)
            .then(other.plain_hosts_only.cmp(&self.plain_hosts_only))
            .then(other.header_count.cmp(&self.header_count))
            .then(other.regex.cmp(&self.regex))
            .then(other.regex_priority.cmp(&self.regex_priority))
            .then(other.prefix_len.cmp(&self.prefix_len))
            .then(self.created_at.cmp(&other.created_at))
            .then(self.route_id.cmp(&other.route_id))
            .then(self.group.cmp(&other.group))
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Priority {
        Priority {
            categories: 1,
            plain_hosts_only: false,
            header_count: 0,
            regex: false,
            regex_priority: 0,
            prefix_len: 1,
            created_at: 0,
            route_id: "a".into(),
            group: 0,
        }
    }

    #[test]
    fn each_rule_outranks_the_next() {
        let top = base();
        let mut sorted = vec![
            Priority { categories: 2, ..base() },
            Priority { plain_hosts_only: true, ..base() },
            Priority { header_count: 2, ..base() },
            Priority { regex: true, ..base() },
            Priority { regex: true, regex_priority: 5, ..base() },
            Priority { prefix_len: 9, ..base() },
            Priority { created_at: -1, ..base() },
            top.clone(),
            Priority { route_id: "b".into(), ..base() },
        ];
        let expected = sorted.clone();
        sorted.reverse();
        sorted.sort();
        let mut expected_order = expected;
        // Regex with priority 5 ranks before regex with priority 0.
        expected_order.swap(3, 4);
        assert_eq!(sorted, expected_order);
    }
}
