//! nexus-dbmon's cost on a real PostgreSQL 15 (from nexus-testkit).
//!
//! - `snapshot`: a full snapshot (database, connections, tables, slow queries) plus the indexes
//!   and sequences reports, on databases of 100, 1 000 and 10 000 tables (each with a primary key,
//!   a sequence and a few rows). Target: ≤ 2 s at 10 000, growing no faster than linearly.
//! - pgbench: TPS of `pgbench -c 4 -j 2` with a snapshot every 15 s vs without, alternating runs in
//!   the same process (target ≥ 99 %). Printed at the end.
//!
//! `cargo bench --bench dbmon` (with `-- --quick`: 100 and 1 000 tables, shorter pgbench runs).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use nexus_dbmon::DbMonitor;
use nexus_testkit::PostgresServer;
use tokio::runtime::Runtime;

fn create_tables(pg: &PostgresServer, db: &str, n: usize) {
    pg.psql(&format!("CREATE DATABASE {db}"));
    // Transactions of 500 tables: one transaction for all would run out of lock slots.
    pg.psql_in(
        db,
        &format!(
            "DO $$ BEGIN FOR i IN 1..{n} LOOP \
               EXECUTE format('CREATE TABLE t_%s (id serial PRIMARY KEY, v int, note text)', i); \
               EXECUTE format('INSERT INTO t_%s (v, note) SELECT g, ''n'' || g FROM generate_series(1, 5) g', i); \
               IF i % 500 = 0 THEN COMMIT; END IF; \
             END LOOP; END $$"
        ),
    );
    pg.psql_in(db, "CREATE EXTENSION pg_stat_statements");
    pg.psql_in(db, "ANALYZE");
}

async fn full_snapshot(m: &DbMonitor) {
    m.snapshot().await.expect("snapshot");
    m.indexes().await.expect("indexes");
    m.sequences().await.expect("sequences");
}

fn snapshot(c: &mut Criterion, rt: &Runtime, pg: &PostgresServer, sizes: &[usize]) {
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for &n in sizes {
        let db = format!("tables_{n}");
        create_tables(pg, &db, n);
        let monitor = rt.block_on(async {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(&pg.url_for(&db))
                .await
                .expect("pool");
            DbMonitor::builder(pool)
                .statement_timeout(Duration::from_secs(60))
                .build()
        });
        let t = rt.block_on(monitor.tables()).expect("tables");
        assert!(t.tables.len() >= n, "{} tables", t.tables.len());
        g.bench_with_input(BenchmarkId::new("full", n), &n, |b, _| {
            b.to_async(rt).iter(|| full_snapshot(&monitor))
        });
    }
    g.finish();
}

fn pgbench_tps(pg: &PostgresServer, seconds: u32) -> f64 {
    let text = pg.pgbench(
        "bench",
        &["-c", "4", "-j", "2", "-T", &seconds.to_string(), "-n"],
    );
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench output: {text}"))
}

fn pgbench_overhead(rt: &Runtime, pg: &PostgresServer, quick: bool) {
    pg.psql("CREATE DATABASE bench");
    pg.pgbench("bench", &["-i", "-q", "-s", if quick { "2" } else { "10" }]);
    let monitor = rt.block_on(async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&pg.url_for("bench"))
            .await
            .expect("pool");
        DbMonitor::builder(pool).build()
    });
    let (seconds, every, rounds) = if quick {
        (5, Duration::from_secs(1), 1)
    } else {
        (30, Duration::from_secs(15), 4)
    };
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so drift on a shared machine does not favour one side.
        for monitored in if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        } {
            if !monitored {
                without.push(pgbench_tps(pg, seconds));
                continue;
            }
            let task = rt.block_on(async { monitor.spawn_snapshots(every, 8) });
            with.push(pgbench_tps(pg, seconds));
            println!("  (with snapshots: {} taken)", task.len());
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "pgbench -c 4 -j 2 -T {seconds}: without snapshots {without:.0?} tps (mean {:.0}), with a snapshot every {every:?} {with:.0?} tps (mean {:.0}) → ratio {:.3}",
        mean(&without),
        mean(&with),
        mean(&with) / mean(&without)
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let pg = PostgresServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut c = Criterion::default().configure_from_args();
    let sizes: &[usize] = if quick {
        &[100, 1_000]
    } else {
        &[100, 1_000, 10_000]
    };
    snapshot(&mut c, &rt, &pg, sizes);
    c.final_summary();
    pgbench_overhead(&rt, &pg, quick);
}
