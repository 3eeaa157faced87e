//! The LMDB reader's typed errors.

use crate::balancer::BalancerError;
use crate::router::RouterError;
use std::fmt;

/// Why a config cannot be opened, read or compiled.
#[derive(Debug)]
pub enum StoreError {
    /// The environment exists but LMDB cannot open or read it.
    Lmdb {
        /// The environment's directory.
        path: String,
        /// LMDB's reason.
        message: String,
    },
    /// No environment at the path, or one that holds no applied config yet.
    NoConfiguration {
        /// The environment's directory.
        path: String,
    },
    /// The `meta.format` tag is not the one this reader understands.
    IncompatibleFormat {
        /// The tag stored; None when there is none.
        found: Option<String>,
    },
    /// A stored value that cannot be decoded; `key` names it (`meta|version`, `routes|<id>`).
    Corrupt {
        /// The value's key.
        key: String,
        /// Why it cannot be decoded.
        message: String,
    },
    /// A stored route cannot be compiled.
    Router(RouterError),
    /// A stored target of an upstream cannot be balanced to.
    Balancer {
        /// The upstream's name.
        upstream: String,
        /// What is wrong with the target.
        error: BalancerError,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Lmdb { path, message } => write!(f, "cannot read LMDB environment {path}: {message}"),
            StoreError::NoConfiguration { path } => write!(f, "no configuration stored in {path}"),
            StoreError::IncompatibleFormat { found: Some(found) } => {
                write!(
                    f,
                    "incompatible cache format {found:?} (expected {:?})",
                    super::layout::FORMAT
                )
            }
            StoreError::IncompatibleFormat { found: None } => {
                write!(
                    f,
                    "incompatible cache format: no format tag (expected {:?})",
                    super::layout::FORMAT
                )
            }
            StoreError::Corrupt { key, message } => write!(f, "corrupt entry {key}: {message}"),
            StoreError::Router(error) => write!(f, "{error}"),
            StoreError::Balancer { upstream, error } => write!(f, "upstream {upstream}: {error}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    pub(crate) fn corrupt(key: impl Into<String>, message: impl fmt::Display) -> Self {
        StoreError::Corrupt { key: key.into(), message: message.to_string() }
    }
}
