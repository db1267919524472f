//! Test helpers: an HTTP receiver on loopback that records what it is sent and can be told to
//! fail, and a recording notifier for timing tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use nexus_alerting::{Notification, Notifier, NotifyError};

#[derive(Default)]
pub struct Recorded {
    pub requests: Mutex<Vec<(String, serde_json::Value)>>,
    /// Answer 503 to this many requests.
    pub fail_next: AtomicUsize,
    pub attempts: AtomicUsize,
}

/// An axum server on 127.0.0.1 recording every POST body (JSON) by path.
pub struct HttpReceiver {
    pub url: String,
    pub rec: Arc<Recorded>,
    _task: tokio::task::JoinHandle<()>,
}

impl HttpReceiver {
    pub async fn start() -> Self {
        let rec = Arc::new(Recorded::default());
        let app = Router::new().fallback(record).with_state(Arc::clone(&rec));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            rec,
            _task: task,
        }
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.rec
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.1.clone())
            .collect()
    }

    pub fn paths(&self) -> Vec<String> {
        self.rec
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.0.clone())
            .collect()
    }

    pub fn fail_next(&self, n: usize) {
        self.rec.fail_next.store(n, Ordering::SeqCst);
    }
}

async fn record(
    State(rec): State<Arc<Recorded>>,
    uri: Uri,
    body: Bytes,
) -> (StatusCode, &'static str) {
    rec.attempts.fetch_add(1, Ordering::SeqCst);
    if rec
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance");
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    rec.requests
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), v));
    (StatusCode::OK, "ok")
}

/// A notifier that records notifications (for timer tests; real HTTP is tested separately).
#[derive(Debug, Default)]
pub struct Recorder {
    pub sent: Mutex<Vec<Notification>>,
}

#[async_trait]
impl Notifier for Recorder {
    fn kind(&self) -> &'static str {
        "recorder"
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.sent.lock().unwrap().push(n.clone());
        Ok(())
    }
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    /// (firing alert names+labels, resolved) of the n-th notification.
    pub fn summary(&self, i: usize) -> (Vec<String>, Vec<String>) {
        let sent = self.sent.lock().unwrap();
        let n = &sent[i];
        let (mut f, mut r) = (Vec::new(), Vec::new());
        for a in &n.alerts {
            let id = a.labels.get("id").unwrap_or(a.name()).to_owned();
            if a.is_resolved(n.now) {
                r.push(id)
            } else {
                f.push(id)
            }
        }
        (f, r)
    }
}

/// `GET url` over a raw HTTP/1.0 connection; returns the body.
pub async fn http_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}
