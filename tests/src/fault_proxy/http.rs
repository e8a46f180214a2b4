//! The proxy's HTTP/1.1 bytes: request lines and heads read, hop headers
//! replaced, S3 error answers written. Bodies are never parsed.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;

/// A request or response head larger than this is refused.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The parts of a request line the rules look at.
pub(super) struct RequestLine {
    pub(super) method: String,
    /// Percent-decoded.
    pub(super) path: String,
    pub(super) query: String,
}

impl RequestLine {
    pub(super) fn parse(head: &[u8]) -> io::Result<RequestLine> {
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        let line = std::str::from_utf8(line).map_err(|_| bad("request line is not UTF-8"))?;
        let mut parts = line.split(' ');
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return Err(bad("malformed request line"));
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Ok(RequestLine {
            method: method.to_owned(),
            path: percent_decode(path),
            query: query.to_owned(),
        })
    }
}

/// Read into `buf` until it holds a whole head; its length with the blank line.
pub(super) async fn read_head<R: AsyncRead + Unpin>(stream: &mut R, buf: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(end + 4);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(bad("head too large"));
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `head` with its `Connection`/`Keep-Alive` headers replaced by `Connection: close`.
pub(super) fn connection_close(head: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 19);
    for line in head[..head.len() - 4].split(|&b| b == b'\n') {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if name.eq_ignore_ascii_case(b"connection") || name.eq_ignore_ascii_case(b"keep-alive") {
            continue;
        }
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

/// An S3 error answer as AWS sends it (no body for `HEAD`).
pub(super) fn error_response(status: u16, code: &str, message: &str, request_id: &str, method: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId></Error>",
        xml_escape(code),
        xml_escape(message),
        xml_escape(request_id)
    );
    let reason = match status {
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Fault",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         x-amz-request-id: {request_id}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !method.eq_ignore_ascii_case("HEAD") {
        response.extend_from_slice(body.as_bytes());
    }
    response
}

pub(super) async fn drain(mut client: TcpStream) -> io::Result<()> {
    tokio::io::copy(&mut client, &mut tokio::io::sink()).await.map(drop)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_close_replaces_hop_headers_only() {
        let head = b"GET / HTTP/1.1\r\nHost: h:1\r\nconnection: keep-alive\r\nKeep-Alive: 5\r\nx-amz-date: d\r\n\r\n";
        assert_eq!(
            connection_close(head),
            b"GET / HTTP/1.1\r\nHost: h:1\r\nx-amz-date: d\r\nConnection: close\r\n\r\n".to_vec()
        );
    }
}
