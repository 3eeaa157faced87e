//! HTTP/1.x heads the proxy needs as a whole, parsed in one call instead of one Python callback
//! per header.
//!
//! These parsers extract; they do not decide framing. The proxy still feeds every byte to
//! llhttp (httptools, strict), which stays the authority on what is valid HTTP and where bodies
//! end; a head llhttp rejects is rejected whatever these functions returned for it.

mod headers;
pub mod request_head;
pub mod response_head;

pub use request_head::{Decline, Limits, RequestHead, RequestHeadParser};
pub use response_head::{parse_response_head, ResponseHead, ResponseHeadError};
