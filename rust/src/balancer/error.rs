//! The balancer's typed build error.

use std::fmt;

/// A target that cannot be balanced to, or an upstream setting that cannot be honoured: names
/// the target (empty for an upstream's setting) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancerError {
    /// The `target` field as configured; empty when the error is the upstream's own.
    pub target: String,
    /// What is wrong with it.
    pub message: String,
}

impl BalancerError {
    /// An error of the upstream's settings rather than of one target.
    pub fn upstream(message: impl Into<String>) -> Self {
        BalancerError { target: String::new(), message: message.into() }
    }
}

impl fmt::Display for BalancerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.target.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "target {:?}: {}", self.target, self.message)
        }
    }
}

impl std::error::Error for BalancerError {}
