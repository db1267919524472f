//! The response cache's header handling (`CacheLayer`): request and response headers of any
//! shape (`Cache-Control`, `Vary`, `Expires`, `ETag`, `If-None-Match`, …), stored then looked up
//! again: never a panic, and an answer is the inner service's status, a 304 or a cached 200.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use nexus_cache::layer::{CacheLayer, CachedResponse};
use tower::{Layer, ServiceExt, service_fn};

struct Fixture {
    rt: tokio::runtime::Runtime,
    layer: CacheLayer,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let cache = rt.block_on(async {
            nexus_cache::TieredCache::<CachedResponse>::builder()
                .metrics_interval(None)
                .build()
                .expect("cache")
        });
        Fixture {
            rt,
            layer: CacheLayer::new(cache).max_body(4096),
        }
    })
}

/// `name: value` lines; lines that are not a valid header are skipped.
fn headers(text: &str) -> Vec<(HeaderName, HeaderValue)> {
    text.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((
                HeaderName::try_from(n.trim()).ok()?,
                HeaderValue::try_from(v.trim()).ok()?,
            ))
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Request headers, a blank line, response headers, a blank line, a status and a path.
    let mut parts = text.splitn(3, "\n\n");
    let (req_h, resp_h, rest) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let status = rest
        .bytes()
        .next()
        .map_or(200, |b| [200u16, 203, 204, 301, 404, 410, 500][b as usize % 7]);
    // A path of its own: what an earlier input stored must not answer this one.
    static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = format!("/p/{}", RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let method = if rest.len() % 5 == 0 { "HEAD" } else { "GET" };
    let resp_headers = headers(resp_h);
    let f = fixture();
    let svc = f.layer.layer(service_fn(move |_req: Request<Full<Bytes>>| {
        let mut r = Response::builder().status(status);
        for (n, v) in &resp_headers {
            r = r.header(n, v);
        }
        let resp = r
            .body(Full::new(Bytes::from_static(b"body")))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"body"))));
        async move { Ok::<_, std::convert::Infallible>(resp) }
    }));
    for _ in 0..2 {
        let mut req = Request::builder().method(method).uri(path.as_str());
        for (n, v) in headers(req_h) {
            req = req.header(n, v);
        }
        let req = req.body(Full::new(Bytes::new())).expect("request");
        f.rt.block_on(async {
            let resp = svc.clone().oneshot(req).await.expect("infallible");
            let got = resp.status().as_u16();
            assert!(got == status || got == 304 || got == 200, "{got} for {status}");
            let _ = resp.into_body().collect().await;
        });
    }
});
