//! nexus-dbmon against a real PostgreSQL 15 with pg_stat_statements, from the test kit.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::eventually;

use nexus_dbmon::{
    ActionStatus, AdviceConfig, DbMonitor, OptimizeOptions, RecommendationKind, StatementsStatus,
};
use nexus_testkit::PostgresServer;
use sqlx::Connection;

async fn pool(url: &str) -> sqlx::PgPool {
    common::pool(url, 4).await
}

fn advice_now() -> AdviceConfig {
    let mut cfg = AdviceConfig::default();
    cfg.unused_min_stats_seconds = 0.0; // the test database is seconds old
    cfg
}

const SETUP: &str = r#"
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION hypopg;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer int NOT NULL, note text, created timestamptz DEFAULT now());
INSERT INTO orders (customer, note) SELECT g % 5000, 'note ' || g FROM generate_series(1, 50000) g;
CREATE INDEX orders_note_idx ON orders (note);
CREATE TABLE dups (a int, b int, c int);
CREATE INDEX dups_a ON dups (a);
CREATE INDEX dups_a_b ON dups (a, b);
CREATE UNIQUE INDEX dups_b_unique ON dups (b);
CREATE INDEX dups_b_plain ON dups (b, c);
CREATE TABLE churn (id int, pad text) WITH (autovacuum_enabled = false);
INSERT INTO churn SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
DELETE FROM churn WHERE id > 5000;
CREATE TABLE seqs (id serial PRIMARY KEY, v int);
SELECT setval('seqs_id_seq', 2000000000);
CREATE TABLE "x""; DROP TABLE y; --" (a int) WITH (autovacuum_enabled = false);
INSERT INTO "x""; DROP TABLE y; --" SELECT generate_series(1, 10000);
DELETE FROM "x""; DROP TABLE y; --";
CREATE TABLE y (keep int);
CREATE TABLE locked_t (a int);
ANALYZE orders;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_advice_and_guarded_maintenance() {
    let pg = PostgresServer::start();
    pg.psql(SETUP);
    let pool = pool(&pg.url()).await;
    // A workload on one connection: full scans on orders by customer, slow statements. Backends
    // publish their statistics lazily; ask this one to flush at its next transaction end.
    let mut app = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    for c in 0..30 {
        sqlx::query("SELECT count(*) FROM orders WHERE customer = $1")
            .bind(c)
            .fetch_one(&mut app)
            .await
            .unwrap();
    }
    for _ in 0..3 {
        sqlx::query("SELECT pg_sleep(0.03)")
            .execute(&mut app)
            .await
            .unwrap();
    }
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&mut app)
        .await
        .unwrap();
    sqlx::query("SELECT 1").execute(&mut app).await.unwrap();
    let monitor = DbMonitor::builder(pool.clone())
        .slow_query(Duration::from_millis(20))
        .build();

    let db = monitor.database().await.unwrap();
    assert_eq!(db.name, "postgres");
    assert!(db.size_bytes > 5_000_000, "{}", db.size_bytes);
    assert!((0.0..=1.0).contains(&db.cache_hit_ratio));
    assert!(db.server_version_num >= 150000 && !db.in_recovery);

    let conns = monitor.connections().await.unwrap();
    assert_eq!(conns.max_connections, 200);
    assert!(conns.total >= 1);

    let tables = eventually(
        "dead tuples visible",
        || monitor.tables(),
        |t| {
            t.as_ref().is_ok_and(|t| {
                t.tables
                    .iter()
                    .any(|x| x.name == "churn" && x.dead_tuples >= 15_000)
                    && t.tables
                        .iter()
                        .any(|x| x.name == "orders" && x.seq_scans >= 30)
            })
        },
    )
    .await
    .unwrap();
    let orders = tables.tables.iter().find(|t| t.name == "orders").unwrap();
    assert!(
        orders.live_tuples >= 50_000 && orders.heap_bytes > 1_000_000 && orders.seq_scans >= 30,
        "{orders:?}"
    );

    let idx = monitor.indexes().await.unwrap();
    assert!(
        idx.indexes
            .iter()
            .any(|i| i.name == "orders_pkey" && i.is_primary)
    );

    let seqs = monitor.sequences().await.unwrap();
    assert_eq!(seqs[0].name, "seqs_id_seq");
    assert!(seqs[0].used_ratio > 0.9, "{:?}", seqs[0]);

    let st = monitor.statements().await.unwrap();
    assert!(
        matches!(&st.status, StatementsStatus::Available { version } if version.starts_with("1.")),
        "{:?}",
        st.status
    );
    let sleep = st
        .slow
        .iter()
        .find(|s| s.query.as_deref().is_some_and(|q| q.contains("pg_sleep")))
        .expect("slow pg_sleep");
    assert!(sleep.mean_ms >= 20.0 && sleep.calls == 3, "{sleep:?}");
    assert!(st.top_by_total.iter().any(|s| {
        s.query
            .as_deref()
            .is_some_and(|q| q.contains("customer = $1"))
    }));

    // Advice: each planted problem shows up.
    let advice = monitor.recommendations(&advice_now()).await.unwrap();
    let has = |k: RecommendationKind, obj: &str| advice.iter().any(|r| r.is(k) && r.object == obj);
    let missing = advice
        .iter()
        .find(|r| r.kind == RecommendationKind::MissingIndex && r.object == "public.orders")
        .unwrap();
    assert_eq!(
        missing.sql.as_deref(),
        Some("CREATE INDEX CONCURRENTLY ON \"public\".\"orders\" (\"customer\")"),
        "{missing:#?}"
    );
    assert!(missing.benefit.contains("hypopg"), "{missing:#?}");
    assert!(
        has(RecommendationKind::UnusedIndex, "public.orders_note_idx"),
        "{advice:#?}"
    );
    assert!(
        has(RecommendationKind::DuplicateIndex, "public.dups_a"),
        "{advice:#?}"
    );
    assert!(
        !has(RecommendationKind::DuplicateIndex, "public.dups_b_unique"),
        "a unique index is never a duplicate"
    );
    assert!(!has(RecommendationKind::UnusedIndex, "public.orders_pkey"));
    assert!(
        has(RecommendationKind::Vacuum, "public.churn"),
        "{advice:#?}"
    );
    assert!(has(
        RecommendationKind::SequenceNearLimit,
        "public.seqs_id_seq"
    ));
    assert!(
        has(RecommendationKind::Vacuum, "public.x\"; DROP TABLE y; --"),
        "{advice:#?}"
    );

    // Dry run by default: nothing runs; DROP is refused unless enabled.
    let plan = monitor
        .optimize(&advice, &OptimizeOptions::default())
        .await
        .unwrap();
    assert!(
        plan.dry_run
            && plan
                .actions
                .iter()
                .all(|a| !matches!(a.status, ActionStatus::Done { .. }))
    );
    assert!(plan.actions.iter().any(|a| a.kind == RecommendationKind::UnusedIndex
        && matches!(&a.status, ActionStatus::Skipped { reason } if reason.contains("allow_drop"))));

    // CREATE needs allow_create; with it, the verified index is built concurrently.
    let mut create = OptimizeOptions::default().execute().allow_create(true);
    create.kinds = Some(vec![RecommendationKind::MissingIndex]);
    let built = monitor.optimize(&advice, &create).await.unwrap();
    assert!(
        built
            .actions
            .iter()
            .any(|a| matches!(a.status, ActionStatus::Done { .. })),
        "{built:#?}"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM pg_indexes WHERE tablename = 'orders' AND indexdef LIKE '%(customer)%'").trim(), "1");

    // For real, vacuum only: the evil name is quoted, table y survives.
    let mut only_vacuum = OptimizeOptions::default().execute();
    only_vacuum.kinds = Some(vec![RecommendationKind::Vacuum]);
    let done = monitor.optimize(&advice, &only_vacuum).await.unwrap();
    assert!(
        done.actions.len() >= 2
            && done
                .actions
                .iter()
                .all(|a| matches!(a.status, ActionStatus::Done { .. })),
        "{done:#?}"
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'y'")
            .trim(),
        "1"
    );
    let after = eventually(
        "vacuum visible",
        || monitor.tables(),
        |t| {
            t.as_ref().is_ok_and(|t| {
                t.tables
                    .iter()
                    .any(|x| x.name == "churn" && x.dead_tuples == 0)
            })
        },
    )
    .await
    .unwrap();
    assert!(
        after
            .tables
            .iter()
            .any(|t| t.name == "churn" && t.last_vacuum.is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_table_is_skipped_not_waited_for() {
    let pg = PostgresServer::start();
    pg.psql("CREATE TABLE locked_t (a int); CREATE INDEX locked_a ON locked_t (a); CREATE TABLE free_t (a int);");
    let mut holder = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("LOCK TABLE locked_t IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();

    let monitor = DbMonitor::builder(pool(&pg.url()).await).build();
    let started = Instant::now();
    let tables = monitor.tables().await.unwrap();
    let indexes = monitor.indexes().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "returned in time: {:?}",
        started.elapsed()
    );
    assert!(tables.tables.iter().any(|t| t.name == "free_t"));
    assert!(!tables.tables.iter().any(|t| t.name == "locked_t"));
    assert!(
        tables
            .skipped
            .iter()
            .any(|s| s.name == "public.locked_t" && s.reason.contains("ACCESS EXCLUSIVE")),
        "{:?}",
        tables.skipped
    );
    assert!(!indexes.indexes.iter().any(|i| i.name == "locked_a"));

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let tables = monitor.tables().await.unwrap();
    assert!(tables.tables.iter().any(|t| t.name == "locked_t") && tables.skipped.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_as_pg_monitor_and_explains_a_missing_extension() {
    let pg = PostgresServer::start();
    pg.psql("CREATE ROLE watcher LOGIN; GRANT pg_monitor TO watcher; CREATE TABLE t (a int); INSERT INTO t VALUES (1);");
    let url = format!("postgres://watcher@127.0.0.1:{}/postgres", pg.port());
    let monitor = DbMonitor::builder(pool(&url).await).build();
    monitor.database().await.unwrap();
    monitor.connections().await.unwrap();
    assert!(
        monitor
            .tables()
            .await
            .unwrap()
            .tables
            .iter()
            .any(|t| t.name == "t")
    );
    monitor.indexes().await.unwrap();
    monitor.sequences().await.unwrap();
    let st = monitor.statements().await.unwrap();
    match st.status {
        StatementsStatus::NotInstalled { fix } => {
            assert!(fix.contains("CREATE EXTENSION pg_stat_statements"), "{fix}")
        }
        other => panic!("{other:?}"),
    }
    pg.psql("CREATE EXTENSION pg_stat_statements");
    sqlx::query("SELECT 1")
        .execute(monitor.pool())
        .await
        .unwrap();
    let st = monitor.statements().await.unwrap();
    assert!(matches!(st.status, StatementsStatus::Available { .. }));
    // pg_monitor includes pg_read_all_stats: texts are readable.
    assert!(st.top_by_total.iter().any(|s| s.query.is_some()), "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_show_growth_and_statement_trends() {
    let pg = PostgresServer::start();
    pg.psql("CREATE EXTENSION pg_stat_statements; CREATE TABLE events (id serial, body text);");
    let monitor = DbMonitor::builder(pool(&pg.url()).await).build();
    let mut history = nexus_dbmon::History::new(10);
    history.push(&monitor.snapshot().await.unwrap());
    let mut app = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    for _ in 0..5 {
        sqlx::query(
            "INSERT INTO events (body) SELECT repeat('x', 200) FROM generate_series(1, 2000)",
        )
        .execute(&mut app)
        .await
        .unwrap();
    }
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&mut app)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let snap = monitor.snapshot().await.unwrap();
    history.push(&snap);
    let t = history.trends(Some(snap.database.size_bytes * 2));
    assert!(t.span_seconds > 1.0);
    let events = t.tables.iter().find(|g| g.name == "public.events").unwrap();
    assert!(
        events.current_bytes > 2_000_000 && events.bytes_per_day.unwrap() > 0.0,
        "{events:?}"
    );
    assert!(
        t.database.days_until_limit.is_some_and(|d| d > 0.0),
        "{:?}",
        t.database
    );
    let insert = t
        .statements
        .iter()
        .find(|s| {
            s.query
                .as_deref()
                .is_some_and(|q| q.contains("INSERT INTO events"))
        })
        .unwrap();
    assert_eq!(insert.calls, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_workload_shows_in_the_slow_query_report_and_metrics() {
    let pg = PostgresServer::start();
    pg.psql("CREATE EXTENSION pg_stat_statements");
    pg.pgbench("postgres", &["-i", "-q", "-s", "1"]);
    pg.pgbench("postgres", &["-c", "2", "-j", "2", "-T", "3", "-n"]);
    let monitor = DbMonitor::builder(pool(&pg.url()).await).build();
    let st = monitor.statements().await.unwrap();
    let texts: Vec<&str> = st
        .top_by_total
        .iter()
        .filter_map(|s| s.query.as_deref())
        .collect();
    for expected in [
        "UPDATE pgbench_accounts SET abalance",
        "UPDATE pgbench_tellers",
        "INSERT INTO pgbench_history",
    ] {
        assert!(
            texts.iter().any(|t| t.starts_with(expected)),
            "{expected} not in {texts:#?}"
        );
    }
    let upd = st
        .top_by_total
        .iter()
        .find(|s| {
            s.query
                .as_deref()
                .is_some_and(|q| q.starts_with("UPDATE pgbench_accounts"))
        })
        .unwrap();
    assert!(
        upd.calls > 100 && upd.rows == upd.calls && upd.cache_hit_ratio > 0.5,
        "{upd:?}"
    );

    // The snapshot's figures reach the metrics facade under the catalogue's names, and
    // everything published is in the catalogue with its kind and labels.
    let snap = monitor.snapshot().await.unwrap();
    let debug = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = debug.snapshotter();
    metrics::with_local_recorder(&debug, || nexus_dbmon::publish_metrics(&snap));
    let published = snapshotter.snapshot().into_vec();
    let names: Vec<String> = published
        .iter()
        .map(|(k, _, _, _)| k.key().name().to_string())
        .collect();
    for (k, _, _, _) in &published {
        let name = k.key().name();
        let entry = nexus_dbmon::metrics::ALL
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} is published but not in the catalogue"));
        let kind = match k.kind() {
            metrics_util::MetricKind::Counter => nexus_core::metric::Kind::Counter,
            metrics_util::MetricKind::Gauge => nexus_core::metric::Kind::Gauge,
            metrics_util::MetricKind::Histogram => nexus_core::metric::Kind::Histogram,
        };
        assert_eq!(entry.kind, kind, "{name}");
        let labels: Vec<&str> = k.key().labels().map(|l| l.key()).collect();
        assert_eq!(labels, entry.labels, "{name}");
    }
    for m in [
        nexus_dbmon::metrics::UP,
        nexus_dbmon::metrics::DATABASE_SIZE,
        nexus_dbmon::metrics::COMMITS,
        nexus_dbmon::metrics::CONNECTIONS,
        nexus_dbmon::metrics::TABLE_LIVE_TUPLES,
        nexus_dbmon::metrics::STATEMENT_CALLS,
    ] {
        assert!(
            names.iter().any(|x| x == m.name),
            "{} missing from {names:?}",
            m.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_persist_in_a_table_of_the_users_choosing() {
    let pg = PostgresServer::start();
    pg.psql("CREATE SCHEMA \"mon itor\"; CREATE TABLE t (a int); INSERT INTO t SELECT generate_series(1, 1000);");
    let monitor = DbMonitor::builder(pool(&pg.url()).await).build();
    let store = nexus_dbmon::SnapshotStore::new("mon itor", "snap\"shots");
    assert_eq!(
        monitor
            .load_history(&store, 10)
            .await
            .unwrap()
            .trends(None)
            .span_seconds,
        0.0,
        "no table yet"
    );
    monitor
        .persist(&monitor.snapshot().await.unwrap(), &store)
        .await
        .unwrap();
    pg.psql("INSERT INTO t SELECT generate_series(1, 100000)");
    tokio::time::sleep(Duration::from_millis(200)).await;
    monitor
        .persist(&monitor.snapshot().await.unwrap(), &store)
        .await
        .unwrap();
    assert_eq!(
        pg.psql("SELECT count(*) FROM \"mon itor\".\"snap\"\"shots\"")
            .trim(),
        "2"
    );
    // A restarted process picks the history up again.
    let history = monitor.load_history(&store, 10).await.unwrap();
    let t = history.trends(None);
    assert!(t.span_seconds > 0.1, "{t:?}");
    let growth = t.tables.iter().find(|g| g.name == "public.t").unwrap();
    assert!(growth.bytes_per_day.unwrap() > 0.0, "{growth:?}");
    // Started from it, a snapshot task keeps appending.
    let task = monitor.spawn_snapshots_into(Duration::from_millis(100), history, Some(store));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(task.len() >= 3, "{}", task.len());
    drop(task);
    let n: i64 = pg
        .psql("SELECT count(*) FROM \"mon itor\".\"snap\"\"shots\"")
        .trim()
        .parse()
        .unwrap();
    assert!(n >= 3, "{n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn says_when_pg_stat_statements_is_not_preloaded() {
    let pg = PostgresServer::start();
    pg.psql("ALTER SYSTEM SET shared_preload_libraries = 'auto_explain'");
    pg.stop();
    pg.restart();
    let monitor = DbMonitor::builder(pool(&pg.url()).await).build();
    match monitor.statements().await.unwrap().status {
        StatementsStatus::NotPreloaded { fix } => {
            assert!(fix.contains("shared_preload_libraries"), "{fix}")
        }
        other => panic!("{other:?}"),
    }
}
