//! Node-wide state in shared memory: regions every worker process of a node maps, and the
//! lock-free tables built on them.
//!
//! Kong keeps per-node state in nginx shared dicts, which every worker of the node sees. A
//! Gantry node is a supervisor and separately started worker processes, so the equivalent is
//! a file under the node's prefix mapped `MAP_SHARED` by each of them: the supervisor creates
//! (and truncates) it before any worker starts, the workers open it. Everything inside is
//! accessed through atomics only: no lock, so a worker killed in the middle of an operation
//! never leaves the others waiting on it.
//!
//! - `region`: the mapped file (or an anonymous mapping for a single process), with the
//!   bounds and alignment checks that every table's atomics go through;
//! - `counters`: the fixed-size table of windowed counters behind the rate-limiting plugin's
//!   `local` policy;
//! - `inflight`: the requests in flight on each balancer target (least-connections), with
//!   a column per worker so that a dead worker's counts are given back;
//! - `siphash`: the keyed hash a table's keys are placed by, its key drawn per region.

pub mod counters;
mod error;
pub mod inflight;
pub mod region;
mod siphash;

pub use counters::{CounterTable, Increment, COUNTERS_BYTES, MAX_PROBES};
pub use error::ShmError;
pub use inflight::{InflightTable, INFLIGHT_SLOTS, INFLIGHT_WORKERS};
pub use region::Region;
