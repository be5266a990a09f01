//! A real server on a free loopback port, and raw HTTP/1.1 requests written by
//! hand, so tests see exactly the bytes on the wire (no client-side URL handling).
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use flowstore_core::Store;
use flowstore_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn local_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".into();
    config
}

/// Binds and runs a server until the test's runtime ends.
pub async fn spawn_server(store: Arc<dyn Store>, config: ServerConfig) -> SocketAddr {
    let server = flowstore_server::bind(store, config).await.expect("bind");
    let addr = server.local_addr();
    tokio::spawn(server.run(std::future::pending()));
    addr
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `error` field of a JSON error body.
    pub fn error_kind(&self) -> String {
        self.json()["error"]
            .as_str()
            .expect("no error kind")
            .to_string()
    }
}

/// Sends `METHOD TARGET HTTP/1.1` with `headers` (each `Name: value`) and `body`
/// (a Content-Length is added when `body` is `Some`), reads the whole answer.
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[&str],
    body: Option<&[u8]>,
) -> RawResponse {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    if let Some(body) = body {
        // A server that refuses the body by its Content-Length answers and
        // closes before reading it: the write may then fail, the answer is
        // what the test is about.
        let _ = stream.write_all(body).await;
    }
    read_response(&mut stream).await
}

/// Sends a request whose body is chunked (no Content-Length).
pub async fn raw_chunked(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> RawResponse {
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    for chunk in body.chunks(4096) {
        let frame = format!("{:x}\r\n", chunk.len());
        // The server may answer 413 and close before the whole body is sent.
        if stream.write_all(frame.as_bytes()).await.is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    read_response(&mut stream).await
}

pub async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut bytes = Vec::new();
    // A reset after the answer was sent (the server closed early) is fine.
    let _ = stream.read_to_end(&mut bytes).await;
    parse_response(&bytes)
}

pub fn parse_response(bytes: &[u8]) -> RawResponse {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete response head: {:?}",
                String::from_utf8_lossy(bytes)
            )
        });
    let head = std::str::from_utf8(&bytes[..split]).expect("head is not UTF-8");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_string(), value.trim().to_string())
        })
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
