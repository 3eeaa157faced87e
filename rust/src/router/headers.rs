//! Header conditions of a route (`headers`).
//!
//! Every configured header name must be present; one of the request's values for it must
//! equal one configured value (ASCII case-insensitive) or match one `~*` regex (compiled
//! case-insensitive, unanchored, as Kong's `~*` values). Names are compared lower-cased.

use regex::{Regex, RegexBuilder};

#[derive(Debug, Clone)]
pub struct HeaderCondition {
    /// Lower-case header name.
    pub name: Box<str>,
    /// Lower-case exact values.
    exact: Vec<Box<str>>,
    patterns: Vec<Regex>,
}

impl HeaderCondition {
    pub fn parse(name: &str, values: &[String]) -> Result<Self, String> {
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(format!("invalid header name '{name}'"));
        }
        let name = name.to_ascii_lowercase();
        if name == "host" {
            return Err("cannot contain 'host' header, which must be specified in the 'hosts' attribute".into());
        }
        if values.is_empty() {
            return Err(format!("header '{name}' has no values"));
        }
        let mut exact = Vec::new();
        let mut patterns = Vec::new();
        for value in values {
            if let Some(re) = value.strip_prefix("~*") {
                let compiled = RegexBuilder::new(re)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| format!("invalid regex '{re}' for header '{name}': {e}"))?;
                patterns.push(compiled);
            } else {
                exact.push(value.to_ascii_lowercase().into());
            }
        }
        Ok(HeaderCondition { name: name.into(), exact, patterns })
    }

    /// True when one of the request's headers satisfies this condition.
    pub fn matches(&self, headers: &[(&str, &str)]) -> bool {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&self.name))
            .any(|(_, v)| self.value_matches(v))
    }

    fn value_matches(&self, value: &str) -> bool {
        self.exact.iter().any(|e| e.eq_ignore_ascii_case(value)) || self.patterns.iter().any(|re| re.is_match(value))
    }
}

/// RFC 9110 token characters.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(name: &str, values: &[&str]) -> HeaderCondition {
        HeaderCondition::parse(name, &values.iter().map(|v| v.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn exact_values_ignore_case_of_names_and_values() {
        let c = cond("X-Version", &["V1", "v2"]);
        assert!(c.matches(&[("x-version", "v1")]));
        assert!(c.matches(&[("X-VERSION", "V2")]));
        assert!(!c.matches(&[("x-version", "v3")]));
        assert!(!c.matches(&[("x-other", "v1")]));
        assert!(!c.matches(&[]));
    }

    #[test]
    fn any_repeated_value_may_match() {
        let c = cond("x-a", &["b"]);
        assert!(c.matches(&[("x-a", "z"), ("X-A", "B")]));
    }

    #[test]
    fn case_insensitive_regex_values() {
        let c = cond("user-agent", &["~*^curl/"]);
        assert!(c.matches(&[("User-Agent", "CURL/8.0")]));
        assert!(!c.matches(&[("User-Agent", "wget curl/")]));
        let unanchored = cond("x-a", &["~*foo"]);
        assert!(unanchored.matches(&[("x-a", "xxFOOxx")]));
    }

    #[test]
    fn rejects_bad_conditions() {
        assert!(HeaderCondition::parse("Host", &["a".into()]).is_err());
        assert!(HeaderCondition::parse("bad name", &["a".into()]).is_err());
        assert!(HeaderCondition::parse("x", &[]).is_err());
        assert!(HeaderCondition::parse("x", &["~*(".into()]).is_err());
    }
}
