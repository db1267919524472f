//! `nexus::monitor::serve`: the bounds hold against real TCP clients on loopback — JSON bodies
//! on every error, request and header timeouts, the connection cap, and a shutdown that lets
//! in-flight requests finish.
#![cfg(feature = "monitor")]
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use nexus::monitor::serve::{ServeConfig, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hi" }))
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "slow but done"
            }),
        )
        .route(
            "/stuck",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "never"
            }),
        )
}

async fn start(cfg: ServeConfig) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(listener, app(), cfg, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (addr, tx, task)
}

/// One request on a fresh connection (`Connection: close`); the raw response.
async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn status(resp: &str) -> &str {
    resp.split(' ').nth(1).unwrap_or("")
}

#[tokio::test]
async fn errors_are_json_and_requests_are_bounded() {
    let cfg = ServeConfig::default()
        .request_timeout(Duration::from_millis(200))
        .max_body(16);
    let (addr, _stop, _task) = start(cfg).await;
    let ok = request(addr, "GET", "/", "").await;
    assert_eq!(status(&ok), "200", "{ok}");
    for (method, path, body, want) in [
        ("GET", "/nope", "", "404"),
        ("DELETE", "/", "", "405"),
        (
            "POST",
            "/echo",
            "this body is longer than sixteen bytes",
            "413",
        ),
        ("GET", "/stuck", "", "503"),
    ] {
        let resp = request(addr, method, path, body).await;
        assert_eq!(status(&resp), want, "{method} {path}: {resp}");
        assert!(
            resp.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{resp}"
        );
        assert!(resp.contains("{\"error\":"), "{resp}");
    }
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed() {
    let cfg = ServeConfig::default().header_read_timeout(Duration::from_millis(300));
    let (addr, _stop, _task) = start(cfg).await;
    // Half a request, never finished: the server closes the connection.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "a slow client must not hold its connection");
    // An idle keep-alive connection after a full request: closed as well.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 64];
    let n = s.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "an idle keep-alive connection must be closed");
}

#[tokio::test]
async fn connections_over_the_cap_wait_for_a_free_slot() {
    let cfg = ServeConfig::default()
        .max_connections(2)
        .header_read_timeout(Duration::from_secs(30));
    let (addr, _stop, _task) = start(cfg).await;
    let idle1 = TcpStream::connect(addr).await.unwrap();
    let _idle2 = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = tokio::spawn(request(addr, "GET", "/", ""));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "a third connection is not served while two are open"
    );
    drop(idle1);
    let resp = tokio::time::timeout(Duration::from_secs(10), third)
        .await
        .expect("served once a slot frees")
        .unwrap();
    assert_eq!(status(&resp), "200", "{resp}");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let (addr, stop, task) = start(ServeConfig::default()).await;
    let in_flight = tokio::spawn(request(addr, "GET", "/slow", ""));
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let resp = in_flight.await.unwrap();
    assert_eq!(status(&resp), "200", "{resp}");
    assert!(resp.ends_with("slow but done"), "{resp}");
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve returns once drained")
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}
