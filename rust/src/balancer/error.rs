//! The balancer's typed build error.

use std::fmt;

/// A target that cannot be balanced to: names the target and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancerError {
    /// The `target` field as configured.
    pub target: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for BalancerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "target {:?}: {}", self.target, self.message)
    }
}

impl std::error::Error for BalancerError {}
