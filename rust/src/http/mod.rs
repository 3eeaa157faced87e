//! HTTP/1.x heads the proxy needs as a whole, parsed in one call instead of one Python callback
//! per header.
//!
//! Both parsers serve the proxy's fast lane: a head they find *plainly* valid (a strict subset
//! of what llhttp in strict mode accepts: plain bytes, ordinary fields, a framing they can
//! settle) is read and framed here alone. Anything else is declined (requests) or marked not
//! plain (responses), and the proxy feeds it to llhttp (httptools, strict), which then decides
//! validity and framing; for those heads these functions only extract.
//!
//! `chunked` decodes chunked bodies, strictly too, and tells where such a message ends.

pub mod access_log;
pub mod chunked;
pub mod client_head;
pub mod header_ops;
mod headers;
pub mod planner;
pub mod request_head;
pub mod request_id;
pub mod response_head;
pub mod upstream_head;

pub use chunked::{ChunkedDecoder, ChunkedError, ChunkedLimits, Feed};
pub use client_head::{ClientHead, ClientHeadFilter, Relayed};
pub use planner::{Plan, Planner};
pub use request_head::{Limits, Refusal, RequestHead, RequestHeadParser};
pub use response_head::{parse_response_head, ResponseHead, ResponseHeadError};
pub use upstream_head::{Downstream, Forwarding, Framing, RouteTarget, Trusted, UpstreamHead, UpstreamHeadRules};
