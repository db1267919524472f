//! The bloat estimate against pgstattuple's exact figure, on tables bloated to known degrees.

#![allow(clippy::unwrap_used)]

use nexus_dbmon::DbMonitor;
use nexus_testkit::PostgresServer;

/// Tables of ~20 000 rows; `bloat_N` has N % of its rows deleted (spread evenly), then VACUUM: the
/// space is free for reuse but the heap does not shrink, which is what bloat is.
const SETUP: &str = r#"
CREATE EXTENSION pgstattuple;
DO $$
DECLARE pct int;
BEGIN
  FOREACH pct IN ARRAY ARRAY[0, 25, 50, 75, 90] LOOP
    EXECUTE format('CREATE TABLE bloat_%s (id int, name text, amount numeric, note text, created timestamptz)
                    WITH (autovacuum_enabled = false)', pct);
    EXECUTE format($q$INSERT INTO bloat_%s SELECT g, 'name ' || g, g * 1.5,
                      CASE WHEN g %% 3 = 0 THEN NULL ELSE repeat('n', 20 + g %% 40) END,
                      now() - g * interval '1 minute' FROM generate_series(1, 20000) g$q$, pct);
    IF pct > 0 THEN
      EXECUTE format('DELETE FROM bloat_%s WHERE id %% 100 < %s', pct, pct);
    END IF;
  END LOOP;
END $$;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bloat_estimate_tracks_pgstattuple() {
    let pg = PostgresServer::start();
    pg.psql(SETUP);
    for pct in [0, 25, 50, 75, 90] {
        pg.psql(&format!("VACUUM ANALYZE bloat_{pct}"));
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&pg.url())
        .await
        .unwrap();
    let monitor = DbMonitor::builder(pool).build();
    let tables = monitor.tables().await.unwrap();
    let mut worst: f64 = 0.0;
    let mut lines = Vec::new();
    for pct in [0, 25, 50, 75, 90] {
        let name = format!("bloat_{pct}");
        let t = tables.tables.iter().find(|t| t.name == name).unwrap();
        // pgstattuple: share of the heap that is not live tuples' data (free space + dead tuples),
        // minus what a freshly packed table would also leave free (measured on bloat_0).
        let exact: f64 = pg
            .psql(&format!(
                "SELECT (free_percent + dead_tuple_percent) / 100 FROM pgstattuple('{name}')"
            ))
            .trim()
            .parse()
            .unwrap();
        let estimate = t.bloat_ratio.expect("analyzed table has an estimate");
        lines.push(format!(
            "{name}: pgstattuple free+dead {exact:.3}, estimate {estimate:.3}"
        ));
        worst = worst.max((estimate - exact).abs());
    }
    println!("{}", lines.join("\n"));
    // Measured: at most 4.3 points off (BENCHMARKS.md); fail beyond 8.
    assert!(
        worst <= 0.08,
        "worst absolute error {worst:.3}:\n{}",
        lines.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn btree_bloat_is_estimated_and_reindexed() {
    let pg = PostgresServer::start();
    pg.psql(
        "CREATE EXTENSION pgstattuple; \
         CREATE TABLE big (id int, v int) WITH (autovacuum_enabled = false); \
         INSERT INTO big SELECT g, g % 100 FROM generate_series(1, 200000) g; \
         CREATE INDEX big_id ON big (id); CREATE INDEX big_v ON big (v);",
    );
    pg.psql("ANALYZE big");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&pg.url())
        .await
        .unwrap();
    let monitor = DbMonitor::builder(pool).build();
    let fresh = monitor.indexes().await.unwrap();
    let id = fresh.indexes.iter().find(|i| i.name == "big_id").unwrap();
    let density: f64 = pg
        .psql("SELECT avg_leaf_density FROM pgstatindex('big_id')")
        .trim()
        .parse()
        .unwrap();
    println!(
        "fresh big_id: estimate {:?}, pgstatindex leaf density {density}",
        id.bloat_ratio
    );
    assert!(id.bloat_ratio.unwrap() < 0.15, "{id:?}");

    pg.psql("DELETE FROM big WHERE id % 10 <> 0");
    pg.psql("VACUUM ANALYZE big");
    let after = monitor.indexes().await.unwrap();
    let id = after.indexes.iter().find(|i| i.name == "big_id").unwrap();
    let density: f64 = pg
        .psql("SELECT avg_leaf_density FROM pgstatindex('big_id')")
        .trim()
        .parse()
        .unwrap();
    println!(
        "90 % deleted big_id: estimate {:?}, pgstatindex leaf density {density}",
        id.bloat_ratio
    );
    // 90 % of the entries are gone but the pages stay: the estimate sees most of the index empty.
    assert!(id.bloat_ratio.unwrap() > 0.75, "{id:?}");

    let mut cfg = nexus_dbmon::AdviceConfig::default();
    cfg.bloat_min_bytes = 0;
    let advice = monitor.recommendations(&cfg).await.unwrap();
    let rec = advice
        .iter()
        .find(|r| {
            r.kind == nexus_dbmon::RecommendationKind::IndexBloat && r.object == "public.big_id"
        })
        .unwrap();
    assert_eq!(
        rec.sql.as_deref(),
        Some("REINDEX INDEX CONCURRENTLY \"public\".\"big_id\"")
    );
    let mut opts = nexus_dbmon::OptimizeOptions::default().execute();
    opts.kinds = Some(vec![nexus_dbmon::RecommendationKind::IndexBloat]);
    let done = monitor.optimize(&advice, &opts).await.unwrap();
    assert!(
        done.actions
            .iter()
            .all(|a| matches!(a.status, nexus_dbmon::ActionStatus::Done { .. })),
        "{done:?}"
    );
    let rebuilt = monitor.indexes().await.unwrap();
    let id = rebuilt.indexes.iter().find(|i| i.name == "big_id").unwrap();
    assert!(id.bloat_ratio.unwrap() < 0.15, "after REINDEX: {id:?}");
}
