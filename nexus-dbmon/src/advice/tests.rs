//! Unit tests of the advice: every rule on hand-made reports, no database.

use super::*;

fn table(name: &str) -> TableStats {
    TableStats {
        schema: "public".into(),
        name: name.into(),
        oid: 1,
        heap_bytes: 0,
        index_bytes: 0,
        toast_bytes: 0,
        total_bytes: 0,
        pages: 0,
        live_tuples: 0,
        dead_tuples: 0,
        modified_since_analyze: 0,
        seq_scans: 0,
        seq_tuples_read: 0,
        index_scans: 0,
        last_vacuum: None,
        last_autovacuum: None,
        last_analyze: Some(1.0),
        last_autoanalyze: None,
        xid_age: 1000,
        bloat_bytes: None,
        bloat_ratio: None,
        bloat_unknown: None,
        never_analyzed: false,
        scan_participants: 1,
    }
}

fn index(name: &str, oid: i64, cols: &[i32]) -> IndexStats {
    IndexStats {
        schema: "public".into(),
        table: "t".into(),
        name: name.into(),
        oid,
        size_bytes: 8192,
        scans: 5,
        hit_ratio: 1.0,
        is_unique: false,
        is_primary: false,
        is_valid: true,
        backs_constraint: false,
        method: "btree".into(),
        columns: cols.to_vec(),
        expressions: String::new(),
        predicate: String::new(),
        definition: format!("CREATE INDEX {name} ..."),
        pages: 1,
        bloat_bytes: None,
        bloat_ratio: None,
    }
}

#[test]
fn vacuum_and_analyze_thresholds() {
    let mut dead = table("dead");
    (dead.live_tuples, dead.dead_tuples) = (10_000, 5_000);
    let mut stale = table("stale");
    (stale.live_tuples, stale.modified_since_analyze) = (10_000, 3_000);
    let mut fine = table("fine");
    (
        fine.live_tuples,
        fine.dead_tuples,
        fine.modified_since_analyze,
    ) = (10_000, 100, 100);
    let tables = [dead, stale, fine];
    let cfg = AdviceConfig::default();
    let v = vacuum(&tables, &cfg);
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].sql.as_deref(),
        Some("VACUUM (ANALYZE) \"public\".\"dead\"")
    );
    let a = analyze(&tables, &cfg);
    assert_eq!(
        a.iter().map(|r| r.object.as_str()).collect::<Vec<_>>(),
        vec!["public.stale"]
    );
}

#[test]
fn duplicates_follow_prefix_method_and_uniqueness() {
    let a = index("a_x", 10, &[1]);
    let ab = index("a_xy", 11, &[1, 2]);
    let mut u = index("u_x", 12, &[1]);
    u.is_unique = true;
    let mut hash = index("h_x", 13, &[1]);
    hash.method = "hash".into();
    let mut partial = index("p_x", 14, &[1]);
    partial.predicate = "(x > 0)".into();
    assert!(is_redundant(&a, &ab), "prefix of a btree");
    assert!(!is_redundant(&ab, &a), "not the other way");
    assert!(!is_redundant(&u, &ab), "a unique index enforces something");
    assert!(!is_redundant(&hash, &ab), "different method");
    assert!(!is_redundant(&partial, &ab), "different predicate");
    // Exact twins: exactly one of the two is reported.
    let twin = index("a_x_again", 15, &[1]);
    let dups = duplicate_indexes(&[a.clone(), twin.clone()]);
    assert_eq!(dups.len(), 1);
    assert_eq!(dups[0].object, "public.a_x_again");
}

#[test]
fn unused_needs_enough_statistics_and_spares_constraints() {
    let mut unused = index("unused", 1, &[1]);
    unused.scans = 0;
    let mut pk = index("pk", 2, &[1]);
    (pk.scans, pk.is_primary, pk.is_unique) = (0, true, true);
    let cfg = AdviceConfig::default();
    let young = unused_indexes(&[unused.clone(), pk.clone()], Some(3600.0), &cfg);
    assert_eq!(
        young.len(),
        1,
        "1 h of stats is not enough: one line says so"
    );
    assert!(young[0].action.is_none());
    assert_eq!(
        young[0].evidence,
        "0 scans so far for public.unused: not yet judgeable (statistics 1.0 h old, needs 7 d)"
    );
    let r = unused_indexes(&[unused, pk], Some(8.0 * 86_400.0), &cfg);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].sql.as_deref(),
        Some("DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"unused\"")
    );
}

#[test]
fn sequences_and_wraparound() {
    let s = SequenceUsage {
        schema: "public".into(),
        name: "t_id_seq".into(),
        table_schema: "public".into(),
        table: "t".into(),
        column: "id".into(),
        column_type: "integer".into(),
        last_value: Some(2_000_000_000),
        column_max: 2_147_483_647,
        used_ratio: 2_000_000_000.0 / 2_147_483_647.0,
    };
    let r = sequences(&[s], &AdviceConfig::default());
    assert_eq!(r[0].severity, Severity::Critical);
    assert_eq!(
        r[0].sql.as_deref(),
        Some("ALTER TABLE \"public\".\"t\" ALTER COLUMN \"id\" TYPE bigint")
    );
    let mut old = table("old");
    old.xid_age = 1_200_000_000;
    let w = wraparound(None, &[old], &AdviceConfig::default());
    assert_eq!((w.len(), w[0].severity), (1, Severity::Critical));
}

#[test]
fn bloat_in_tiers_of_share_and_bytes() {
    // (share, bytes) → severity under the default tiers.
    let cases: [(f64, i64, Option<Severity>); 8] = [
        (0.05, 2 << 20, None),                  // a few percent of a small table: noise
        (0.9, 1 << 20, None),                   // most of a tiny table: still noise
        (0.40, 16 << 20, Some(Severity::Info)), // 40 % of 40 MB: worth a line
        (0.10, 10 << 30, Some(Severity::Info)), // 10 % of 100 GB
        (0.70, 28 << 20, Some(Severity::Warning)),
        (0.90, 36 << 20, Some(Severity::Warning)),
        (0.80, 2 << 30, Some(Severity::Critical)),
        (0.20, 4 << 20, None),
    ];
    for (ratio, bytes, want) in cases {
        let mut t = table("t");
        (t.bloat_ratio, t.bloat_bytes) = (Some(ratio), Some(bytes));
        let r = bloat(&[t], &AdviceConfig::default());
        assert_eq!(
            r.first().map(|r| r.severity),
            want,
            "{ratio} of {bytes} bytes"
        );
    }
    let mut unknown = table("unknown");
    unknown.bloat_unknown = Some("unknown until analyzed: run ANALYZE".into());
    assert!(bloat(&[unknown], &AdviceConfig::default()).is_empty());
}

#[test]
fn never_analyzed_tables_get_analyze_advice_that_says_so() {
    let mut t = table("fresh");
    (t.last_analyze, t.never_analyzed, t.live_tuples, t.pages) = (None, true, 30_000, 500);
    let r = analyze(&[t], &AdviceConfig::default());
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].severity, Severity::Warning);
    assert!(
        r[0].evidence.contains("bloat is unknown until analyzed"),
        "{}",
        r[0].evidence
    );
}

#[test]
fn one_action_per_object() {
    let mut t = table("churn");
    (
        t.live_tuples,
        t.dead_tuples,
        t.never_analyzed,
        t.last_analyze,
    ) = (10_000, 8_000, true, None);
    // An index that is both unused and a duplicate, and bloated.
    let a = IndexStats {
        scans: 0,
        bloat_ratio: Some(0.8),
        bloat_bytes: Some(64 << 20),
        ..index("a_x", 10, &[1])
    };
    let ab = index("a_xy", 11, &[1, 2]);
    let db = DatabaseReport {
        name: "app".into(),
        size_bytes: 0,
        cache_hit_ratio: 1.0,
        blocks_hit: 0,
        blocks_read: 0,
        commits: 0,
        rollbacks: 0,
        deadlocks: 0,
        temp_files: 0,
        temp_bytes: 0,
        stats_reset: None,
        started_at: 0.0,
        uptime_seconds: 0.0,
        database_xid_age: 0,
        oldest_table_xid_age: 0,
        server_version_num: 150000,
        in_recovery: false,
        wal_archiving: false,
        wal_archived: 0,
        wal_archive_failures: 0,
        wal_last_archived_at: None,
        replicas: vec![],
        inactive_slots: vec![],
    };
    let input = AdviceInput {
        database: Some(&db),
        tables: &[t],
        indexes: &[a, ab],
        sequences: &[],
        now: 30.0 * 86_400.0,
    };
    let recs = advise(&input, &AdviceConfig::default());
    let sqls: Vec<&str> = recs.iter().filter_map(|r| r.sql.as_deref()).collect();
    let mut unique = sqls.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(sqls.len(), unique.len(), "{sqls:#?}");
    let on_table: Vec<_> = recs.iter().filter(|r| r.object == "public.churn").collect();
    assert_eq!(on_table.len(), 1, "{on_table:#?}");
    assert_eq!(
        on_table[0].sql.as_deref(),
        Some("VACUUM (ANALYZE) \"public\".\"churn\"")
    );
    assert!(on_table[0].is(RecommendationKind::Analyze));
    assert!(
        on_table[0].evidence.contains("never analyzed"),
        "{}",
        on_table[0].evidence
    );
    let on_index: Vec<_> = recs.iter().filter(|r| r.object == "public.a_x").collect();
    assert_eq!(on_index.len(), 1, "{on_index:#?}");
    let drop = on_index[0];
    assert_eq!(
        drop.sql.as_deref(),
        Some("DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"a_x\"")
    );
    for k in [
        RecommendationKind::UnusedIndex,
        RecommendationKind::DuplicateIndex,
        RecommendationKind::IndexBloat,
    ] {
        assert!(drop.is(k), "{k:?} merged: {drop:#?}");
    }
    assert!(drop.evidence.contains("0 scans") && drop.evidence.contains("covered by a_xy"));
}

#[test]
fn missing_index_heuristic() {
    let mut scanned = table("orders");
    (
        scanned.live_tuples,
        scanned.seq_scans,
        scanned.seq_tuples_read,
        scanned.index_scans,
    ) = (50_000, 100, 5_000_000, 3);
    let mut small = table("small");
    (small.live_tuples, small.seq_scans, small.seq_tuples_read) = (50, 100, 5_000);
    let r = missing_indexes(&[scanned, small], &AdviceConfig::default());
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].object, "public.orders");
}

#[test]
fn missing_index_counts_statements_not_parallel_workers() {
    // 300 statements, each a parallel scan by 2 workers + the leader: 900 scans of a third of
    // the table each. Per worker scan that looks like small scans; per statement it is full.
    let mut t = table("orders");
    (t.live_tuples, t.seq_scans, t.seq_tuples_read, t.index_scans) =
        (300_000, 900, 300 * 300_000, 10);
    t.scan_participants = 1;
    assert!(missing_indexes(&[t.clone()], &AdviceConfig::default()).is_empty());
    t.scan_participants = 3;
    let r = missing_indexes(&[t], &AdviceConfig::default());
    assert_eq!(r.len(), 1);
    assert!(
        r[0].evidence
            .starts_with("300 sequential scans (900 worker scans"),
        "{}",
        r[0].evidence
    );
}
