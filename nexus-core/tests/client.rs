//! The shared HTTP client against a real server on loopback: any status is an answer, the body
//! cap and the timeout hold, and a closed port is a transport error.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use nexus_core::client::{ClientError, HttpClient};

async fn serve() -> String {
    let app = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/teapot",
            get(|| async { (http::StatusCode::IM_A_TEAPOT, "short and stout") }),
        )
        .route("/big", get(|| async { vec![b'x'; 2 << 20] }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    base
}

fn get_req(url: &str) -> http::Request<Bytes> {
    http::Request::get(url).body(Bytes::new()).unwrap()
}

#[tokio::test]
async fn answers_caps_and_timeouts() {
    let base = serve().await;
    let client = HttpClient::builder()
        .timeout(Duration::from_millis(500))
        .max_response_bytes(1 << 20)
        .build()
        .unwrap();

    let req = http::Request::post(format!("{base}/echo"))
        .body(Bytes::from_static(b"{\"a\":1}"))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    assert_eq!(
        (resp.status(), resp.body().as_ref()),
        (http::StatusCode::OK, &b"{\"a\":1}"[..])
    );

    let resp = client
        .send(get_req(&format!("{base}/teapot")))
        .await
        .unwrap();
    assert_eq!(resp.status(), http::StatusCode::IM_A_TEAPOT);

    let err = client
        .send(get_req(&format!("{base}/big")))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Body(_)), "{err:?}");

    let err = client
        .send(get_req(&format!("{base}/slow")))
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::Timeout(Duration::from_millis(500)));

    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/", l.local_addr().unwrap());
    drop(l);
    let err = client.send(get_req(&dead)).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
}
