//! The shared-memory tables' typed error.

use std::fmt;

/// Why a region cannot be created or opened, or an operation on a table cannot be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShmError {
    /// The file cannot be created, sized, opened or mapped.
    Io {
        /// The region's file.
        path: String,
        /// The system's reason.
        message: String,
    },
    /// The file is not a region of the expected kind and size (another version, a stray file).
    Layout {
        /// The region's file ("anonymous" for a private mapping).
        path: String,
        /// What does not match.
        message: String,
    },
    /// Every slot a key may live in holds another live key: nothing is counted.
    Full {
        /// The table's number of slots.
        slots: u64,
        /// How many of them one key may take (its probe sequence).
        probes: u64,
    },
    /// A slot stayed claimed by another process (`BUSY`) for longer than any claim takes: that
    /// process most likely died between the two stores of a claim.
    Busy {
        /// The slot's index.
        slot: u64,
    },
    /// An argument out of the table's range (a time past 2106, a count of zero).
    Argument(String),
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::Io { path, message } => write!(f, "shared memory region {path}: {message}"),
            ShmError::Layout { path, message } => write!(f, "shared memory region {path}: {message}"),
            ShmError::Full { slots, probes } => write!(
                f,
                "shared counters full: the {probes} slots (of {slots}) a new key may take all hold live counters \
                 (more distinct keys, limit_by values times periods, than the table holds in windows not over)"
            ),
            ShmError::Busy { slot } => {
                write!(
                    f,
                    "shared counter slot {slot} stays claimed by another process (it may have died mid-claim)"
                )
            }
            ShmError::Argument(message) => write!(f, "shared counters: {message}"),
        }
    }
}

impl std::error::Error for ShmError {}
