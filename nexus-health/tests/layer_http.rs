//! `HealthLayer` on a real axum server under concurrent load: counts are exact.

#![allow(clippy::unwrap_used)]

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use nexus_health::{Health, Resources, UNMATCHED, endpoints};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_route_counts_equal_requests_sent() {
    let health = Health::builder()
        .resources(Resources::new(Some(0.1), Some(0.1), Some(0.1)))
        .build();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "nope") }),
        )
        .route("/echo", post(|body: String| async move { body }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such route") })
        .layer(health.layer())
        .merge(endpoints::router(health.clone()));
    let addr = support::serve(app).await;
    let client = support::client();

    // 4 routes + random unmatched paths, 40 concurrent tasks.
    let tasks: Vec<_> = (0..40)
        .map(|t| {
            let client = client.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    let path = match (t + i) % 4 {
                        0 | 1 => format!("/users/{i}"),
                        2 => "/fail".to_string(),
                        _ => format!("/scanner/{t}/{i}"),
                    };
                    let (status, _, _) =
                        support::get(&client, &format!("http://{addr}{path}"), &[]).await;
                    assert!(status == 200 || status == 500 || status == 404, "{status}");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for _ in 0..7 {
        support::get(&client, &format!("http://{addr}/missing"), &[]).await;
    }

    let totals = health.recorder().totals();
    let find = |r: &str| {
        totals
            .iter()
            .find(|t| t.route == r)
            .cloned()
            .unwrap_or_else(|| panic!("{r} in {totals:?}"))
    };
    let users = find("/users/{id}");
    let fail = find("/fail");
    let unmatched = find(UNMATCHED);
    let missing = find("/missing");
    assert_eq!(users.requests, 1000, "{totals:?}");
    assert_eq!((fail.requests, fail.errors), (500, 500));
    assert_eq!(
        (unmatched.requests, unmatched.client_errors),
        (500, 500),
        "scanners share one series"
    );
    assert_eq!(
        (missing.requests, missing.client_errors, missing.errors),
        (7, 7, 0)
    );
    assert_eq!(users.in_flight, 0);
    assert_eq!(totals.len(), 4, "no series per random path: {totals:?}");

    let w = health.recorder().window();
    assert_eq!(w.total.requests, 2007);
    assert_eq!(w.total.errors, 500);
    assert!((w.total.error_ratio - 500.0 / 2007.0).abs() < 1e-12);
    assert!(w.total.p99 < 1.0 && w.total.p50 > 0.0);
    // 25 % errors: the error component is at zero and the service is not healthy.
    let report = health.report();
    assert_eq!(report.score.components[2].points, 0.0);
    assert!(report.score.score < 80.0, "{:?}", report.score);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_router_templates_label_the_routes() {
    use nexus_health::{HealthLayer, Recorder, TemplateRoute};
    use tower::Layer;
    let recorder = Recorder::builder().build();
    let templates = TemplateRoute::new(["/users/{id}", "/fail"]).unwrap();
    assert!(
        TemplateRoute::new(["/a/{x}", "/a/{y}"])
            .unwrap_err()
            .contains("/a/{y}"),
        "conflicts are named"
    );
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        );
    let wrapped = HealthLayer::new(recorder.clone())
        .route_extractor(templates)
        .layer(app);
    let addr = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, tower::make::Shared::new(wrapped))
                .await
                .unwrap()
        });
        addr
    };
    let client = support::client();
    for path in ["/users/1", "/users/2", "/fail", "/nope/3", "/nope/4"] {
        support::get(&client, &format!("http://{addr}{path}"), &[]).await;
    }
    let totals = recorder.totals();
    let count = |r: &str| {
        totals
            .iter()
            .find(|t| t.route == r)
            .map_or(0, |t| t.requests)
    };
    assert_eq!(
        (count("/users/{id}"), count("/fail"), count(UNMATCHED)),
        (2, 1, 2),
        "{totals:?}"
    );
}
