//! Rules health checks: Kong's `healthchecks.passive`, counted by lua-resty-healthcheck's
//! rules, in one word per target of the node's shared table so every worker sees a target go
//! down (and come back) at once.
//!
//! The word holds four 8-bit counters (successes, HTTP failures, TCP failures, timeouts) and a
//! state: healthy, mostly healthy, mostly unhealthy, unhealthy (the zero word is a healthy
//! target with nothing counted). A report of a kind whose limit is 0 does nothing; a success
//! reported while fully healthy, or a failure while fully unhealthy, does nothing; otherwise
//! its counter goes up by one, a success clears the failure counters and a failure the
//! success counter, and a counter reaching its limit sets the state to healthy (successes) or
//! unhealthy (failures); short of it, a failure makes a healthy target mostly healthy and a
//! success an unhealthy one mostly unhealthy. A target takes requests while it is healthy or
//! mostly healthy. A report is one compare and swap of the word.
//!
//! What is reported (kong/init.lua, kong/runloop/handler.lua): a try that failed before a
//! response and was retried counts as a timeout (504) or a TCP failure; the last try's status
//! counts as a timeout when it is 504, else as the HTTP status: a success when it is in
//! `passive.healthy.http_statuses`, an HTTP failure when in `passive.unhealthy.http_statuses`,
//! nothing otherwise.

use serde_json::Value;

const SUCCESS: u32 = 0;
const HTTP: u32 = 8;
const TCP: u32 = 16;
const TIMEOUT: u32 = 24;
const STATE_SHIFT: u32 = 32;

const HEALTHY: u64 = 0;
const MOSTLY_HEALTHY: u64 = 1;
const MOSTLY_UNHEALTHY: u64 = 2;
const UNHEALTHY: u64 = 3;

/// What a try of a request ended with, as the health checks count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response (or the gateway's error page for the last try) with this status.
    Status(u16),
    /// The connection failed before a response (not a timeout).
    TcpFailure,
    /// Timed out.
    Timeout,
    /// An active tcp probe connected (a success).
    Connected,
}

/// The key of a target's health word in the node's table: its upstream, its address and the
/// upstream's health check settings (new settings start the target afresh).
pub fn key(upstream_id: &str, host: &str, port: u16, settings: &str) -> String {
    format!("health\0{upstream_id}\0{host}:{port}\0{settings}")
}

/// How reports count for one kind of check (passive, or active probes) of an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Passive: a 504 response counts as a timeout (Kong's log phase); active: as a status.
    timeout_504: bool,
    healthy_statuses: Vec<u16>,
    unhealthy_statuses: Vec<u16>,
    successes: u8,
    http_failures: u8,
    tcp_failures: u8,
    timeouts: u8,
}

fn statuses(value: Option<&Value>, default: &[u16]) -> Vec<u16> {
    match value.and_then(Value::as_array) {
        Some(list) => list.iter().filter_map(Value::as_u64).filter_map(|s| u16::try_from(s).ok()).collect(),
        None => default.to_vec(),
    }
}

fn limit(value: Option<&Value>) -> u8 {
    value.and_then(Value::as_u64).map_or(0, |n| n.min(255) as u8)
}

impl Rules {
    /// The passive settings of an upstream's `healthchecks` (Kong's defaults for what is
    /// missing); None when passive checks are off, as Kong decides it: every unhealthy limit
    /// (tcp_failures, timeouts, http_failures) is 0.
    pub fn from_healthchecks(checks: Option<&Value>) -> Option<Rules> {
        let passive = checks.and_then(|c| c.get("passive"));
        let config = Rules::of(
            passive,
            true,
            &[
                200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308,
            ],
            &[429, 500, 503],
        );
        (config.http_failures > 0 || config.tcp_failures > 0 || config.timeouts > 0).then_some(config)
    }

    /// The rules of the active probes (`healthchecks.active`, Kong's defaults for what is
    /// missing), whether or not they run.
    pub fn active(checks: Option<&Value>) -> Rules {
        Rules::of(
            checks.and_then(|c| c.get("active")),
            false,
            &[200, 302],
            &[429, 404, 500, 501, 502, 503, 504, 505],
        )
    }

    fn of(record: Option<&Value>, timeout_504: bool, healthy_default: &[u16], unhealthy_default: &[u16]) -> Rules {
        let healthy = record.and_then(|p| p.get("healthy"));
        let unhealthy = record.and_then(|p| p.get("unhealthy"));
        Rules {
            timeout_504,
            healthy_statuses: statuses(healthy.and_then(|h| h.get("http_statuses")), healthy_default),
            unhealthy_statuses: statuses(unhealthy.and_then(|u| u.get("http_statuses")), unhealthy_default),
            successes: limit(healthy.and_then(|h| h.get("successes"))),
            http_failures: limit(unhealthy.and_then(|u| u.get("http_failures"))),
            tcp_failures: limit(unhealthy.and_then(|u| u.get("tcp_failures"))),
            timeouts: limit(unhealthy.and_then(|u| u.get("timeouts"))),
        }
    }

    /// The word after `outcome` is reported on `word`.
    pub fn report(&self, word: u64, outcome: Outcome) -> u64 {
        let (toward_healthy, shift, limit) = match outcome {
            Outcome::Timeout => (false, TIMEOUT, self.timeouts),
            Outcome::Status(504) if self.timeout_504 => (false, TIMEOUT, self.timeouts),
            Outcome::TcpFailure => (false, TCP, self.tcp_failures),
            Outcome::Connected => (true, SUCCESS, self.successes),
            Outcome::Status(status) if self.healthy_statuses.contains(&status) => (true, SUCCESS, self.successes),
            Outcome::Status(status) if self.unhealthy_statuses.contains(&status) => (false, HTTP, self.http_failures),
            Outcome::Status(_) => return word,
        };
        if limit == 0 {
            return word;
        }
        let state = word >> STATE_SHIFT;
        if (toward_healthy && state == HEALTHY) || (!toward_healthy && state == UNHEALTHY) {
            return word;
        }
        let counters = word & 0xffff_ffff;
        let count = ((counters >> shift) & 0xff).saturating_add(1).min(255);
        let mut counters = (counters & !(0xff << shift)) | (count << shift);
        counters &= if toward_healthy { 0xff } else { 0xffff_ff00 };
        let state = if count >= u64::from(limit) {
            if toward_healthy {
                HEALTHY
            } else {
                UNHEALTHY
            }
        } else if state == HEALTHY && !toward_healthy {
            MOSTLY_HEALTHY
        } else if state == UNHEALTHY && toward_healthy {
            MOSTLY_UNHEALTHY
        } else {
            state
        };
        (state << STATE_SHIFT) | counters
    }
}

/// The word of a target whose health is set by hand (Kong's `PUT .../healthy|unhealthy`,
/// lua-resty-healthcheck's `set_target_status`): the state, every counter cleared.
pub fn forced(healthy: bool) -> u64 {
    if healthy {
        HEALTHY
    } else {
        UNHEALTHY << STATE_SHIFT
    }
}

/// Whether a target with this word takes requests (healthy or mostly healthy).
pub fn is_healthy(word: u64) -> bool {
    (word >> STATE_SHIFT) <= MOSTLY_HEALTHY
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn passive(unhealthy: Value, healthy: Value) -> Rules {
        Rules::from_healthchecks(Some(
            &json!({"passive": {"unhealthy": unhealthy, "healthy": healthy}}),
        ))
        .unwrap()
    }

    fn run(p: &Rules, outcomes: &[Outcome]) -> u64 {
        outcomes.iter().fold(0, |w, &o| p.report(w, o))
    }

    #[test]
    fn off_unless_an_unhealthy_limit_is_set() {
        assert_eq!(Rules::from_healthchecks(None), None);
        assert_eq!(
            Rules::from_healthchecks(Some(&json!({"passive": {"healthy": {"successes": 3}}}))),
            None
        );
        assert!(Rules::from_healthchecks(Some(&json!({"passive": {"unhealthy": {"timeouts": 1}}}))).is_some());
    }

    #[test]
    fn failures_up_to_the_limit_take_a_target_down() {
        let p = passive(json!({"http_failures": 3}), json!({}));
        let two = run(&p, &[Outcome::Status(500), Outcome::Status(503)]);
        assert!(is_healthy(two), "mostly healthy still takes requests");
        let three = p.report(two, Outcome::Status(500));
        assert!(!is_healthy(three));
        // a status in neither list counts for nothing
        assert_eq!(p.report(two, Outcome::Status(404)), two);
    }

    #[test]
    fn a_counted_success_clears_the_failures() {
        let p = passive(json!({"http_failures": 2}), json!({"successes": 5}));
        let w = run(
            &p,
            &[Outcome::Status(500), Outcome::Status(200), Outcome::Status(500)],
        );
        assert!(is_healthy(w), "the 200 reset the count: one failure since");
        // successes not counted (0, Kong's default): a success reports nothing, failures add up
        let q = passive(json!({"http_failures": 2}), json!({}));
        assert!(!is_healthy(run(
            &q,
            &[Outcome::Status(500), Outcome::Status(200), Outcome::Status(500)]
        )));
    }

    #[test]
    fn timeouts_and_tcp_failures_have_their_own_limits() {
        let p = passive(json!({"tcp_failures": 2, "timeouts": 1}), json!({}));
        assert!(!is_healthy(run(&p, &[Outcome::Timeout])));
        assert!(
            !is_healthy(run(&p, &[Outcome::Status(504)])),
            "a 504 counts as a timeout"
        );
        assert!(is_healthy(run(&p, &[Outcome::TcpFailure])));
        assert!(!is_healthy(run(&p, &[Outcome::TcpFailure, Outcome::TcpFailure])));
        // http_failures is 0: HTTP failures are not counted at all
        assert_eq!(run(&p, &[Outcome::Status(500), Outcome::Status(500)]), 0);
    }

    #[test]
    fn successes_bring_an_unhealthy_target_back_when_counted() {
        let p = passive(json!({"http_failures": 1}), json!({"successes": 2}));
        let down = run(&p, &[Outcome::Status(500)]);
        assert!(!is_healthy(down));
        let once = p.report(down, Outcome::Status(200));
        assert!(!is_healthy(once), "mostly unhealthy takes no requests");
        assert!(is_healthy(p.report(once, Outcome::Status(200))));
        // without successes, nothing passive brings it back
        let q = passive(json!({"http_failures": 1}), json!({}));
        assert!(!is_healthy(run(
            &q,
            &[Outcome::Status(500), Outcome::Status(200), Outcome::Status(200)]
        )));
    }

    #[test]
    fn counters_saturate() {
        let p = passive(json!({"http_failures": 255}), json!({}));
        let w = (0..300).fold(0, |w, _| p.report(w, Outcome::Status(500)));
        assert!(!is_healthy(w));
    }
}
