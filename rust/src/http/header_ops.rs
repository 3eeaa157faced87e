//! The header changes plugins ask for in access (`kong.service.request.set_header`,
//! `add_header`, `clear_header`), applied to the upstream head the builder made, in one pass.
//!
//! The part changed is the head from the CRLF after `Host` to the blank line (the request line
//! and Host are the planner's and the balancer's). Ops apply in order: a set or clear drops
//! every earlier field of that name (the head's and the ones ops added), a set or add appends
//! one; names compare without case, the plugin's spelling is what is sent. The PDK checks each
//! op when a plugin records it; they are checked again here, so that no op can split the head
//! or frame the request whatever called this.

use super::headers::is_tchar;

/// What an op does to the fields of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Drop the fields of that name, append this one.
    Set,
    /// Append this one.
    Add,
    /// Drop the fields of that name.
    Clear,
}

impl OpKind {
    /// The PDK's codes (`dataplane.pdk.headers`: SET, ADD, CLEAR).
    pub fn from_code(code: i64) -> Result<Self, HeaderOpError> {
        match code {
            0 => Ok(Self::Set),
            1 => Ok(Self::Add),
            2 => Ok(Self::Clear),
            _ => Err(HeaderOpError::Kind(code)),
        }
    }
}

/// One change.
#[derive(Debug, Clone, Copy)]
pub struct HeaderOp<'a> {
    /// Set, add or clear.
    pub kind: OpKind,
    /// The name as the plugin spelled it.
    pub name: &'a [u8],
    /// The value (unused by a clear).
    pub value: &'a [u8],
}

/// Why ops were refused; nothing is applied then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderOpError {
    /// An op code other than set, add or clear.
    Kind(i64),
    /// A name that is not an RFC 9110 token.
    Name(Vec<u8>),
    /// A value holding CR, LF or another control byte (tab aside).
    Value(Vec<u8>),
    /// A name the gateway sets itself: framing, per hop, or Host.
    Reserved(Vec<u8>),
    /// The head part does not start with CRLF and end with the blank line.
    Head,
}

impl std::fmt::Display for HeaderOpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kind(code) => write!(f, "unknown header op {code}"),
            Self::Name(name) => write!(f, "invalid header name {:?}", String::from_utf8_lossy(name)),
            Self::Value(value) => write!(f, "invalid header value {:?}", String::from_utf8_lossy(value)),
            Self::Reserved(name) => write!(f, "header '{}' is the gateway's", String::from_utf8_lossy(name)),
            Self::Head => f.write_str("not the fields of a head"),
        }
    }
}

impl std::error::Error for HeaderOpError {}

/// Fields ops may not name: framing, per hop (the gateway's, as `RequestPlugins.upstream_op`
/// refuses them), and Host (the balancer's).
const RESERVED: &[&[u8]] = &[
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"upgrade",
    b"host",
];

/// Framing fields, replaced when the body is replaced.
const FRAMING: &[&[u8]] = &[b"content-length", b"transfer-encoding"];

fn valid_value(value: &[u8]) -> bool {
    value.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn named(name: &[u8], list: &[&[u8]]) -> bool {
    list.iter().any(|known| known.eq_ignore_ascii_case(name))
}

/// The field name of a `Name: value` line, without surrounding whitespace.
fn line_name(line: &[u8]) -> &[u8] {
    let name = match line.iter().position(|&b| b == b':') {
        Some(at) => &line[..at],
        None => line,
    };
    super::headers::trim_ows(name)
}

/// Which names ops may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The upstream request: never framing, per-hop or Host fields.
    Upstream,
    /// The client's response head (`kong.response.set_header`): any token, as Kong.
    Response,
}

/// `fields` (CRLF, `Name: value\r\n` lines, CRLF) changed by `ops`; with `content_length`
/// (the body a plugin set), the framing fields replaced by that length.
pub fn apply_ops(fields: &[u8], ops: &[HeaderOp<'_>], content_length: Option<u64>) -> Result<Vec<u8>, HeaderOpError> {
    apply_scoped(fields, ops, content_length, Scope::Upstream)
}

/// `apply_ops` for the given scope.
pub fn apply_scoped(
    fields: &[u8],
    ops: &[HeaderOp<'_>],
    content_length: Option<u64>,
    scope: Scope,
) -> Result<Vec<u8>, HeaderOpError> {
    for op in ops {
        if op.name.is_empty() || !op.name.iter().all(is_tchar) {
            return Err(HeaderOpError::Name(op.name.to_vec()));
        }
        if scope == Scope::Upstream && named(op.name, RESERVED) {
            return Err(HeaderOpError::Reserved(op.name.to_vec()));
        }
        if op.kind != OpKind::Clear && !valid_value(op.value) {
            return Err(HeaderOpError::Value(op.value.to_vec()));
        }
    }
    let body = fields
        .strip_prefix(b"\r\n")
        .and_then(|rest| rest.strip_suffix(b"\r\n"))
        .ok_or(HeaderOpError::Head)?;
    // the ops that survive later ones, and the names whose head fields go
    let mut dropped: Vec<&[u8]> = Vec::new();
    let mut added: Vec<&HeaderOp<'_>> = Vec::new();
    for op in ops {
        if op.kind != OpKind::Add {
            if !named(op.name, &dropped) {
                dropped.push(op.name);
            }
            added.retain(|kept| !kept.name.eq_ignore_ascii_case(op.name));
        }
        if op.kind != OpKind::Clear {
            added.push(op);
        }
    }
    let mut out =
        Vec::with_capacity(fields.len() + ops.iter().map(|op| op.name.len() + op.value.len() + 4).sum::<usize>() + 24);
    out.extend_from_slice(b"\r\n");
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let name = line_name(line);
        if named(name, &dropped) || (content_length.is_some() && named(name, FRAMING)) {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    for op in added {
        out.extend_from_slice(op.name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(op.value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(length) = content_length {
        out.extend_from_slice(format!("Content-Length: {length}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] =
        b"\r\nX-Real-IP: 10.0.0.1\r\nX-Consumer-ID: forged\r\nAccept: */*\r\nx-consumer-id: again\r\n\r\n";

    fn op<'a>(kind: OpKind, name: &'a str, value: &'a str) -> HeaderOp<'a> {
        HeaderOp { kind, name: name.as_bytes(), value: value.as_bytes() }
    }

    fn text(out: Vec<u8>) -> String {
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn no_ops_keep_the_head() {
        assert_eq!(apply_ops(HEAD, &[], None).unwrap(), HEAD);
    }

    #[test]
    fn set_replaces_every_field_of_the_name_and_keeps_the_spelling() {
        let out = apply_ops(HEAD, &[op(OpKind::Set, "X-CONSUMER-id", "c1")], None).unwrap();
        assert_eq!(
            text(out),
            "\r\nX-Real-IP: 10.0.0.1\r\nAccept: */*\r\nX-CONSUMER-id: c1\r\n\r\n"
        );
    }

    #[test]
    fn ops_apply_in_order() {
        let ops = [
            op(OpKind::Add, "X-A", "1"),
            op(OpKind::Add, "x-a", "2"),
            op(OpKind::Set, "X-B", "1"),
            op(OpKind::Clear, "x-b", ""),
            op(OpKind::Set, "X-A", "3"),
            op(OpKind::Add, "X-A", "4"),
            op(OpKind::Clear, "accept", ""),
        ];
        let out = apply_ops(HEAD, &ops, None).unwrap();
        assert_eq!(
            text(out),
            "\r\nX-Real-IP: 10.0.0.1\r\nX-Consumer-ID: forged\r\nx-consumer-id: again\r\nX-A: 3\r\nX-A: 4\r\n\r\n"
        );
    }

    #[test]
    fn a_body_brings_its_own_length() {
        let head = b"\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n";
        let out = apply_ops(head, &[], Some(12)).unwrap();
        assert_eq!(text(out), "\r\nX-A: 1\r\nContent-Length: 12\r\n\r\n");
        let out = apply_ops(b"\r\n\r\n", &[], Some(0)).unwrap();
        assert_eq!(text(out), "\r\nContent-Length: 0\r\n\r\n");
    }

    #[test]
    fn names_that_are_not_tokens_are_refused() {
        for name in ["", "X A", "X:A", "X\r\nA", "X\u{e9}"] {
            let err = apply_ops(HEAD, &[op(OpKind::Set, name, "v")], None).unwrap_err();
            assert_eq!(err, HeaderOpError::Name(name.as_bytes().to_vec()));
        }
    }

    #[test]
    fn values_with_control_bytes_are_refused() {
        for value in ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\0b", "a\x7fb", "a\x1bb"] {
            let err = apply_ops(HEAD, &[op(OpKind::Add, "X-A", value)], None).unwrap_err();
            assert_eq!(err, HeaderOpError::Value(value.as_bytes().to_vec()));
        }
        assert!(apply_ops(HEAD, &[op(OpKind::Set, "X-A", "a\tb \u{e9}")], None).is_ok());
    }

    #[test]
    fn the_gateways_fields_are_refused() {
        for name in [
            "Content-Length",
            "transfer-encoding",
            "Connection",
            "TE",
            "Upgrade",
            "Host",
        ] {
            let err = apply_ops(HEAD, &[op(OpKind::Clear, name, "")], None).unwrap_err();
            assert_eq!(err, HeaderOpError::Reserved(name.as_bytes().to_vec()));
        }
    }

    #[test]
    fn a_response_head_may_have_any_token_changed_but_nothing_split() {
        let head = b"\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n";
        let ops = [op(OpKind::Set, "Connection", "close"), op(OpKind::Add, "X-A", "2")];
        let out = apply_scoped(head, &ops, None, Scope::Response).unwrap();
        assert_eq!(
            text(out),
            "\r\nContent-Length: 2\r\nX-A: 1\r\nConnection: close\r\nX-A: 2\r\n\r\n"
        );
        let bad = [op(OpKind::Set, "X-A", "1\r\nX-Evil: 1")];
        assert!(matches!(
            apply_scoped(head, &bad, None, Scope::Response),
            Err(HeaderOpError::Value(_))
        ));
        let bad = [op(OpKind::Set, "X A", "1")];
        assert!(matches!(
            apply_scoped(head, &bad, None, Scope::Response),
            Err(HeaderOpError::Name(_))
        ));
    }

    #[test]
    fn unknown_kinds_and_broken_heads_are_refused() {
        assert_eq!(OpKind::from_code(3), Err(HeaderOpError::Kind(3)));
        assert_eq!(OpKind::from_code(-1), Err(HeaderOpError::Kind(-1)));
        assert_eq!(OpKind::from_code(2), Ok(OpKind::Clear));
        assert_eq!(apply_ops(b"X-A: 1\r\n\r\n", &[], None), Err(HeaderOpError::Head));
        assert_eq!(apply_ops(b"\r\n", &[], None), Err(HeaderOpError::Head));
        assert_eq!(apply_ops(b"", &[], None), Err(HeaderOpError::Head));
    }
}
