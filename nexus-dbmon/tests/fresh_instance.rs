//! nexus-dbmon on a fresh instance, on PostgreSQL 15 (Debian's) and 18 (the PyPI wheel): it says
//! what it cannot know yet, counts parallel scans per statement, plans one action per object,
//! stays out of what it measures and never serves a secret.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{eventually, pool};

use nexus_dbmon::{
    AdviceConfig, DbMonitor, OptimizeOptions, RecommendationKind, STATEMENT_MARK, StatementsStatus,
    advice,
};
use nexus_testkit::PostgresServer;
use sqlx::Connection;

const MAJORS: [u32; 2] = [15, 18];

const FRESH: &str = r#"
CREATE EXTENSION pg_stat_statements;
CREATE TABLE bloated (id int, pad text) WITH (autovacuum_enabled = false);
INSERT INTO bloated SELECT g, repeat('x', 80) FROM generate_series(1, 50000) g;
DELETE FROM bloated WHERE id % 100 < 41;
CREATE TABLE items (id int PRIMARY KEY, a int, b int) WITH (autovacuum_enabled = false);
INSERT INTO items SELECT g, g % 10, g % 7 FROM generate_series(1, 1000) g;
CREATE INDEX items_a ON items (a);
CREATE INDEX items_a_b ON items (a, b);
CREATE ROLE leaky LOGIN PASSWORD 'hunter2-secret';
ALTER ROLE leaky PASSWORD 'hunter3-secret';
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_instance_says_what_it_cannot_know_yet() {
    for major in MAJORS {
        fresh_instance(major).await;
    }
}

async fn fresh_instance(major: u32) {
    let pg = PostgresServer::start_major(major);
    // One statement per psql call, so that each is its own pg_stat_statements entry.
    for stmt in FRESH.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        pg.psql(stmt);
    }
    let app = pool(&pg.url(), 4).await;
    let monitor = DbMonitor::builder(app.clone()).top_n(1000).build();

    // 1. Never analyzed: listed, bloat unknown, one ANALYZE-covering action that says so.
    let tables = eventually(
        "dead tuples visible",
        || monitor.tables(),
        |t| {
            t.as_ref().is_ok_and(|t| {
                t.tables
                    .iter()
                    .any(|x| x.name == "bloated" && x.dead_tuples > 15_000)
            })
        },
    )
    .await
    .unwrap();
    let bloated = tables.tables.iter().find(|t| t.name == "bloated").unwrap();
    assert!(bloated.never_analyzed, "PG{major}: {bloated:?}");
    assert!(
        tables.never_analyzed.contains(&"public.bloated".to_owned()),
        "PG{major}: {:?}",
        tables.never_analyzed
    );
    assert_eq!(bloated.bloat_ratio, None, "PG{major}");
    assert_eq!(
        bloated.bloat_unknown.as_deref(),
        Some("unknown until analyzed: run ANALYZE"),
        "PG{major}"
    );
    let recs = monitor
        .recommendations(&AdviceConfig::default())
        .await
        .unwrap();
    let on_bloated: Vec<_> = recs
        .iter()
        .filter(|r| r.object == "public.bloated" && r.action.is_some())
        .collect();
    assert_eq!(on_bloated.len(), 1, "PG{major}: {on_bloated:#?}");
    assert_eq!(
        on_bloated[0].sql.as_deref(),
        Some("VACUUM (ANALYZE) \"public\".\"bloated\"")
    );
    assert!(on_bloated[0].is(RecommendationKind::Analyze));
    assert!(
        on_bloated[0]
            .evidence
            .contains("bloat is unknown until analyzed"),
        "PG{major}: {}",
        on_bloated[0].evidence
    );

    // 2. Unused indexes on minutes-old statistics: said, not silent, no command.
    let idx = monitor.indexes().await.unwrap();
    let age = idx.stats_age_seconds.unwrap();
    assert!(
        (0.0..3_600.0).contains(&age),
        "PG{major}: statistics {age} s old"
    );
    let pending: Vec<_> = recs
        .iter()
        .filter(|r| r.kind == RecommendationKind::UnusedIndex)
        .collect();
    assert_eq!(pending.len(), 1, "PG{major}: {pending:#?}");
    assert!(pending[0].action.is_none());
    assert!(
        pending[0].evidence.contains("public.items_a")
            && pending[0]
                .evidence
                .contains("not yet judgeable (statistics ")
            && pending[0].evidence.ends_with(" old, needs 7 d)"),
        "PG{major}: {}",
        pending[0].evidence
    );

    // 3. An index both unused (once judgeable) and duplicate: one DROP in the plan.
    let mut judge_now = AdviceConfig::default();
    judge_now.unused_min_stats_seconds = 0.0;
    let recs = monitor.recommendations(&judge_now).await.unwrap();
    let plan = monitor
        .optimize(&recs, &OptimizeOptions::default())
        .await
        .unwrap();
    let drops: Vec<_> = plan
        .actions
        .iter()
        .filter(|a| a.sql.contains("\"items_a\""))
        .collect();
    assert_eq!(drops.len(), 1, "PG{major}: {:#?}", plan.actions);
    let mut sqls: Vec<&str> = plan.actions.iter().map(|a| a.sql.as_str()).collect();
    let n = sqls.len();
    sqls.sort_unstable();
    sqls.dedup();
    assert_eq!(sqls.len(), n, "PG{major}: one action per object");
    let items_a = recs.iter().find(|r| r.object == "public.items_a").unwrap();
    assert!(
        items_a.is(RecommendationKind::UnusedIndex)
            && items_a.is(RecommendationKind::DuplicateIndex),
        "PG{major}: {items_a:#?}"
    );

    // 4. The monitor is invisible: its sessions are named and bounded, its statements are not
    //    in the report although pg_stat_statements has them, secrets are redacted.
    for _ in 0..3 {
        monitor.snapshot().await.unwrap();
    }
    let own_in_pgss: i64 = pg
        .psql(&format!(
            "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%{STATEMENT_MARK}%'"
        ))
        .trim()
        .parse()
        .unwrap();
    assert!(
        own_in_pgss >= 8,
        "PG{major}: the monitor's statements are tracked ({own_in_pgss})"
    );
    let named: i64 = pg
        .psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nexus-dbmon'")
        .trim()
        .parse()
        .unwrap();
    assert!(
        (1..=2).contains(&named),
        "PG{major}: {named} monitor sessions"
    );
    let st = monitor.statements().await.unwrap();
    assert!(matches!(st.status, StatementsStatus::Available { .. }));
    let texts: Vec<&str> = st
        .top_by_total
        .iter()
        .chain(&st.slow)
        .filter_map(|s| s.query.as_deref())
        .collect();
    assert!(texts.len() >= 3, "PG{major}: {texts:#?}");
    assert!(
        texts.iter().all(|q| !q.contains(STATEMENT_MARK)),
        "PG{major}: the monitor's own statements are left out: {texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|q| q.contains("CREATE ROLE leaky LOGIN PASSWORD '<redacted>'")),
        "PG{major}: {texts:#?}"
    );
    let all = serde_json::to_string(&st).unwrap();
    assert!(
        !all.contains("hunter2") && !all.contains("hunter3"),
        "PG{major}: a password in the report: {all}"
    );
}

/// 300 statements on a 40 MB table with parallel workers on: each statement's parallel scan
/// counts one sequential scan per participant. The heuristic still sees full scans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_scans_are_counted_per_statement() {
    for major in MAJORS {
        let pg = PostgresServer::start_major(major);
        pg.psql(
            "CREATE TABLE orders (id int, customer int, pad text) WITH (autovacuum_enabled = false); \
             INSERT INTO orders SELECT g, g % 5000, repeat('p', 90) FROM generate_series(1, 300000) g;",
        );
        pg.psql("ANALYZE orders");
        let mut app = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
        sqlx::raw_sql("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0")
            .execute(&mut app)
            .await
            .unwrap();
        let statements = 100;
        for c in 0..statements {
            sqlx::query("SELECT count(*) FROM orders WHERE customer = $1")
                .bind(c)
                .fetch_one(&mut app)
                .await
                .unwrap();
        }
        sqlx::query("SELECT pg_stat_force_next_flush()")
            .execute(&mut app)
            .await
            .unwrap();
        sqlx::query("SELECT 1").execute(&mut app).await.unwrap();
        let monitor = DbMonitor::builder(pool(&pg.url(), 2).await).build();
        let tables = eventually(
            "parallel scans counted",
            || monitor.tables(),
            |t| {
                t.as_ref().is_ok_and(|t| {
                    t.tables
                        .iter()
                        .any(|x| x.name == "orders" && x.seq_scans >= 2 * statements)
                })
            },
        )
        .await
        .unwrap();
        let orders = tables.tables.iter().find(|t| t.name == "orders").unwrap();
        assert_eq!(orders.scan_participants, 3, "PG{major}: {orders:?}");
        assert!(
            (statements..=statements + 2).contains(&orders.statement_seq_scans()),
            "PG{major}: {} worker scans → {} statements",
            orders.seq_scans,
            orders.statement_seq_scans()
        );
        let found = advice::missing_indexes(&tables.tables, &AdviceConfig::default());
        assert_eq!(
            found.iter().map(|r| r.object.as_str()).collect::<Vec<_>>(),
            vec!["public.orders"],
            "PG{major}: {orders:?}"
        );
    }
}

/// Index suggestions leave no "prepared statement does not exist" error in the server log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_suggestions_leave_the_server_log_clean() {
    let pg = PostgresServer::start();
    pg.psql(
        "CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg; \
         CREATE TABLE orders (id int, customer int); \
         INSERT INTO orders SELECT g, g % 5000 FROM generate_series(1, 50000) g; ANALYZE orders;",
    );
    let mut app = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    for c in 0..5 {
        sqlx::query("SELECT * FROM orders WHERE customer = $1")
            .bind(c)
            .fetch_all(&mut app)
            .await
            .unwrap();
    }
    let monitor = DbMonitor::builder(pool(&pg.url(), 2).await).build();
    let st = monitor.statements().await.unwrap();
    let advice = monitor
        .index_suggestions(&st.top_by_total, 0.5)
        .await
        .unwrap();
    assert!(advice.available && advice.examined >= 1, "{advice:?}");
    assert_eq!(advice.suggestions[0].columns, vec!["customer"]);
    let log = pg.log();
    assert!(
        !log.contains("does not exist") && !log.contains("nexus_hypo"),
        "server log:\n{log}"
    );
}

/// pg_stat_statements before 1.8 (`total_time`): PostgreSQL 15 still installs version 1.7.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_before_extension_1_8() {
    let pg = PostgresServer::start();
    pg.psql("CREATE EXTENSION pg_stat_statements VERSION '1.7'");
    pg.psql("SELECT pg_sleep(0.05)");
    let monitor = DbMonitor::builder(pool(&pg.url(), 2).await)
        .slow_query(Duration::from_millis(20))
        .build();
    let st = monitor.statements().await.unwrap();
    assert_eq!(
        st.status,
        StatementsStatus::Available {
            version: "1.7".into()
        }
    );
    assert!(
        st.slow
            .iter()
            .any(|s| s.query.as_deref() == Some("SELECT pg_sleep($1)") && s.mean_ms >= 40.0),
        "{st:#?}"
    );
}
