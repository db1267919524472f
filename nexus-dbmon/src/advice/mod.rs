//! Advice: pure functions from reports to [`Recommendation`]s, unit-tested without a database.
//!
//! ```
//! use nexus_dbmon::advice::{AdviceInput, advise};
//! use nexus_dbmon::{AdviceConfig, BloatTier, Severity};
//! // Pure functions: no database needed. Nothing in, nothing advised.
//! assert!(advise(&AdviceInput::default(), &AdviceConfig::default()).is_empty());
//! // 60 % of a 100 MB table is wasted: a warning under the default tiers.
//! let tiers = AdviceConfig::default().bloat_tiers;
//! assert_eq!(BloatTier::severity_of(&tiers, 0.6, 60 << 20), Some(Severity::Warning));
//! ```

use serde::{Deserialize, Serialize};

use crate::maintenance::Maintenance;
use crate::reports::database::DatabaseReport;
use crate::reports::indexes::IndexStats;
use crate::reports::sequences::SequenceUsage;
use crate::reports::tables::TableStats;

/// What a recommendation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecommendationKind {
    /// A large table read mostly by full scans.
    MissingIndex,
    /// An index never scanned since statistics began.
    UnusedIndex,
    /// An index made redundant by another (same prefix, method, expressions, predicate).
    DuplicateIndex,
    /// An index left invalid (failed concurrent build).
    InvalidIndex,
    /// A btree index much larger than its rows need (estimated).
    IndexBloat,
    /// Many dead tuples.
    Vacuum,
    /// Much of the heap is empty space (estimated).
    Bloat,
    /// Statistics stale.
    Analyze,
    /// A sequence close to its column type's maximum.
    SequenceNearLimit,
    /// Transaction ID wraparound approaching.
    Wraparound,
}

pub use nexus_core::severity::Severity;

/// One piece of advice.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Recommendation {
    /// What it is about.
    pub kind: RecommendationKind,
    /// How urgent.
    pub severity: Severity,
    /// The object, `schema.name`.
    pub object: String,
    /// The figures behind it.
    pub evidence: String,
    /// What doing it brings.
    pub benefit: String,
    /// The command, structured (what `optimize` runs).
    pub action: Option<Maintenance>,
    /// The command's SQL, for people.
    pub sql: Option<String>,
    /// Other kinds merged into this one because they asked for the same object (see [`merge`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<RecommendationKind>,
}

impl Recommendation {
    pub(crate) fn new(
        kind: RecommendationKind,
        severity: Severity,
        object: String,
        evidence: String,
        benefit: String,
        action: Option<Maintenance>,
    ) -> Self {
        let sql = action.as_ref().map(Maintenance::sql);
        Self {
            kind,
            severity,
            object,
            evidence,
            benefit,
            action,
            sql,
            also: Vec::new(),
        }
    }

    /// Whether this recommendation is of `kind`, or has one of that kind merged into it.
    pub fn is(&self, kind: RecommendationKind) -> bool {
        self.kind == kind || self.also.contains(&kind)
    }
}

/// Thresholds of the advice. Defaults follow PgHero's and PostgreSQL's own where they exist.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AdviceConfig {
    /// VACUUM when dead tuples are at least this share of all tuples (0.2)…
    pub vacuum_dead_ratio: f64,
    /// …and at least this many (1 000).
    pub vacuum_min_dead: i64,
    /// ANALYZE when rows changed since the last one reach this share of live rows (0.2)…
    pub analyze_ratio: f64,
    /// …and at least this many (1 000).
    pub analyze_min_changes: i64,
    /// Tables smaller than this are never "missing an index" (10 000 rows).
    pub missing_index_min_rows: i64,
    /// …nor tables scanned by fewer statements than this (10): one bulk DELETE is not a pattern.
    pub missing_index_min_scans: i64,
    /// Statistics must cover at least this many seconds before an index counts as unused (7 days).
    pub unused_min_stats_seconds: f64,
    /// Sequences above this share of their range are reported (0.75; critical above 0.9).
    pub sequence_ratio: f64,
    /// A hypothetical index is suggested when it lowers the plan cost by at least this share (0.5).
    pub hypothetical_saving: f64,
    /// Bloat (heap and btree) is reported at the most severe tier it reaches; below every tier
    /// it is noise. Defaults: [`BloatTier::defaults`].
    pub bloat_tiers: Vec<BloatTier>,
    /// XID age reported as a warning (500 M) and as critical (1 000 M; wraparound is at ~2 100 M).
    pub wraparound_warning: i64,
    /// See `wraparound_warning`.
    pub wraparound_critical: i64,
}

impl Default for AdviceConfig {
    fn default() -> Self {
        Self {
            vacuum_dead_ratio: 0.2,
            vacuum_min_dead: 1_000,
            analyze_ratio: 0.2,
            analyze_min_changes: 1_000,
            missing_index_min_rows: 10_000,
            missing_index_min_scans: 10,
            unused_min_stats_seconds: 7.0 * 86_400.0,
            sequence_ratio: 0.75,
            hypothetical_saving: 0.5,
            bloat_tiers: BloatTier::defaults(),
            wraparound_warning: 500_000_000,
            wraparound_critical: 1_000_000_000,
        }
    }
}

/// One tier of bloat advice: wasted space at least `min_ratio` of the relation **and** at least
/// `min_bytes` is reported with `severity`. Both matter: a few percent of a small table is noise,
/// 40 % of tens of MB is worth a line, 10 % of a 100 GB table is 10 GB.
///
/// ```
/// use nexus_dbmon::{AdviceConfig, BloatTier, Severity};
/// let mut cfg = AdviceConfig::default();
/// cfg.bloat_tiers = vec![BloatTier::new(0.3, 1 << 20, Severity::Warning)];
/// assert_eq!(BloatTier::severity_of(&cfg.bloat_tiers, 0.4, 2 << 20), Some(Severity::Warning));
/// assert_eq!(BloatTier::severity_of(&cfg.bloat_tiers, 0.4, 1 << 19), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BloatTier {
    /// Least wasted share, 0..=1.
    pub min_ratio: f64,
    /// Least wasted bytes.
    pub min_bytes: i64,
    /// Severity of a relation in this tier.
    pub severity: Severity,
}

impl BloatTier {
    /// A tier.
    pub fn new(min_ratio: f64, min_bytes: i64, severity: Severity) -> Self {
        Self {
            min_ratio,
            min_bytes,
            severity,
        }
    }

    /// ≥ 25 % and ≥ 4 MiB: info; ≥ 10 % and ≥ 1 GiB: info; ≥ 50 % and ≥ 16 MiB: warning;
    /// ≥ 75 % and ≥ 1 GiB: critical.
    pub fn defaults() -> Vec<Self> {
        vec![
            Self::new(0.25, 4 << 20, Severity::Info),
            Self::new(0.10, 1 << 30, Severity::Info),
            Self::new(0.50, 16 << 20, Severity::Warning),
            Self::new(0.75, 1 << 30, Severity::Critical),
        ]
    }

    /// The most severe tier that `ratio` and `bytes` reach, if any.
    pub fn severity_of(tiers: &[Self], ratio: f64, bytes: i64) -> Option<Severity> {
        tiers
            .iter()
            .filter(|t| ratio >= t.min_ratio && bytes >= t.min_bytes)
            .map(|t| t.severity)
            .max()
    }
}

/// The reports advice is derived from (any may be missing).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AdviceInput<'a> {
    /// Database report.
    pub database: Option<&'a DatabaseReport>,
    /// Tables.
    pub tables: &'a [TableStats],
    /// Indexes.
    pub indexes: &'a [IndexStats],
    /// Sequences.
    pub sequences: &'a [SequenceUsage],
    /// Now, Unix seconds.
    pub now: f64,
}

/// Every recommendation for `input`, most severe first.
pub fn advise(input: &AdviceInput<'_>, cfg: &AdviceConfig) -> Vec<Recommendation> {
    let mut out = Vec::new();
    out.extend(missing_indexes(input.tables, cfg));
    let stats_seconds = input
        .database
        .map(|d| input.now - d.stats_reset.unwrap_or(d.started_at));
    out.extend(unused_indexes(input.indexes, stats_seconds, cfg));
    out.extend(duplicate_indexes(input.indexes));
    out.extend(invalid_indexes(input.indexes));
    out.extend(index_bloat(input.indexes, cfg));
    out.extend(vacuum(input.tables, cfg));
    out.extend(bloat(input.tables, cfg));
    out.extend(analyze(input.tables, cfg));
    out.extend(sequences(input.sequences, cfg));
    out.extend(wraparound(input.database, input.tables, cfg));
    let mut out = merge(out);
    out.sort_by_key(|r| std::cmp::Reverse(r.severity));
    out
}

/// One action per object: recommendations whose commands are the same (an index both unused and
/// duplicate) or where one command does what the other does (VACUUM (ANALYZE) covers ANALYZE,
/// VACUUM (FREEZE, ANALYZE) covers both, DROP makes a REINDEX pointless) become one, keeping the
/// stronger command and the highest severity and joining the reasons. The merged kinds are
/// listed in `also`. Order is kept otherwise.
pub fn merge(recs: Vec<Recommendation>) -> Vec<Recommendation> {
    let mut out: Vec<Recommendation> = Vec::with_capacity(recs.len());
    for r in recs {
        let found = r.action.as_ref().and_then(|a| {
            out.iter()
                .position(|o| o.action.as_ref().is_some_and(|b| b.merges_with(a)))
        });
        match found {
            Some(i) => out[i] = join(out[i].clone(), r),
            None => out.push(r),
        }
    }
    out
}

/// `a` and `b` as one: the stronger command, the higher severity, both reasons.
fn join(a: Recommendation, b: Recommendation) -> Recommendation {
    let strength = |r: &Recommendation| r.action.as_ref().map_or(0, Maintenance::strength);
    let (mut keep, other) = if strength(&a) >= strength(&b) {
        (a, b)
    } else {
        (b, a)
    };
    keep.severity = keep.severity.max(other.severity);
    for k in std::iter::once(other.kind).chain(other.also) {
        if k != keep.kind && !keep.also.contains(&k) {
            keep.also.push(k);
        }
    }
    if !keep.evidence.contains(&other.evidence) {
        keep.evidence = format!("{}; {}", keep.evidence, other.evidence);
    }
    if !keep.benefit.contains(&other.benefit) {
        keep.benefit = format!("{}; {}", keep.benefit, other.benefit);
    }
    keep
}

fn name(schema: &str, n: &str) -> String {
    format!("{schema}.{n}")
}

/// Large tables read mostly by full scans (PgHero's heuristic): confirm with the slow queries.
///
/// Scans are counted per statement, not per parallel worker: a parallel sequential scan counts
/// one scan per participant in `seq_scans`, each reading a share of the table, so the rows one
/// statement reads are `seq_tuples_read` ÷ [`TableStats::statement_seq_scans`].
pub fn missing_indexes(tables: &[TableStats], cfg: &AdviceConfig) -> Vec<Recommendation> {
    tables
        .iter()
        .filter(|t| t.live_tuples >= cfg.missing_index_min_rows && t.seq_scans > 0)
        .filter(|t| {
            let scans = t.statement_seq_scans();
            let rows_per_scan = t.seq_tuples_read as f64 / scans as f64;
            scans >= cfg.missing_index_min_scans
                && scans > t.index_scans
                && rows_per_scan >= t.live_tuples as f64 * 0.5
        })
        .map(|t| {
            let scans = t.statement_seq_scans();
            let parallel = if t.scan_participants > 1 {
                format!(
                    " ({} worker scans, {} participants per parallel scan)",
                    t.seq_scans, t.scan_participants
                )
            } else {
                String::new()
            };
            Recommendation::new(
                RecommendationKind::MissingIndex,
                Severity::Warning,
                name(&t.schema, &t.name),
                format!(
                    "{scans} sequential scans{parallel} reading {} rows each on average vs {} index scans; {} live rows",
                    t.seq_tuples_read / scans.max(1),
                    t.index_scans,
                    t.live_tuples
                ),
                "an index on the filtered columns turns full scans into index lookups; see the slow queries on this table".into(),
                None,
            )
        })
        .collect()
}

/// Indexes never scanned, once statistics cover `cfg.unused_min_stats_seconds`. Never unique,
/// primary or constraint-backing ones. While statistics are younger, one line says which indexes
/// have no scans so far and that they are not yet judgeable (with the statistics' age), with no
/// command: silence would read as "no unused index".
pub fn unused_indexes(
    indexes: &[IndexStats],
    stats_seconds: Option<f64>,
    cfg: &AdviceConfig,
) -> Vec<Recommendation> {
    let candidates: Vec<&IndexStats> = indexes
        .iter()
        .filter(|i| {
            i.scans == 0 && i.is_valid && !i.is_unique && !i.is_primary && !i.backs_constraint
        })
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let needs = format_age(cfg.unused_min_stats_seconds);
    match stats_seconds {
        Some(age) if age >= cfg.unused_min_stats_seconds => candidates
            .into_iter()
            .map(|i| {
                Recommendation::new(
                    RecommendationKind::UnusedIndex,
                    Severity::Info,
                    name(&i.schema, &i.name),
                    format!(
                        "0 scans in {} of statistics; {} bytes",
                        format_age(age),
                        i.size_bytes
                    ),
                    format!(
                        "frees {} bytes and speeds up writes to {}",
                        i.size_bytes, i.table
                    ),
                    Some(Maintenance::DropIndex {
                        schema: i.schema.clone(),
                        index: i.name.clone(),
                    }),
                )
            })
            .collect(),
        age => {
            let age = age.map_or_else(
                || "of unknown age".to_owned(),
                |a| format!("{} old", format_age(a)),
            );
            let mut names: Vec<String> = candidates
                .iter()
                .take(10)
                .map(|i| name(&i.schema, &i.name))
                .collect();
            if candidates.len() > 10 {
                names.push(format!("and {} more", candidates.len() - 10));
            }
            vec![Recommendation::new(
                RecommendationKind::UnusedIndex,
                Severity::Info,
                format!("{} indexes", candidates.len()),
                format!(
                    "0 scans so far for {}: not yet judgeable (statistics {age}, needs {needs})",
                    names.join(", ")
                ),
                "judged once statistics cover enough traffic; nothing to do yet".into(),
                None,
            )]
        }
    }
}

/// `3.2 h`, `7 d`: an age for people.
fn format_age(seconds: f64) -> String {
    if seconds >= 86_400.0 {
        format!("{:.1} d", seconds / 86_400.0).replace(".0 d", " d")
    } else if seconds >= 3_600.0 {
        format!("{:.1} h", seconds / 3_600.0)
    } else {
        format!("{:.0} min", (seconds / 60.0).max(0.0))
    }
}

/// Whether `a` is made redundant by `b`: same table, method, expressions and predicate, and `a`'s
/// columns a prefix of `b`'s (btree) or equal to them (other methods); a unique `a` only by an
/// equal unique `b`; never a constraint-backing `a`.
pub fn is_redundant(a: &IndexStats, b: &IndexStats) -> bool {
    if a.oid == b.oid || a.schema != b.schema || a.table != b.table || a.method != b.method {
        return false;
    }
    if a.expressions != b.expressions || a.predicate != b.predicate || !a.is_valid || !b.is_valid {
        return false;
    }
    if a.is_primary || a.backs_constraint {
        return false;
    }
    let prefix = if a.method == "btree" {
        b.columns.starts_with(&a.columns)
    } else {
        a.columns == b.columns
    };
    if !prefix {
        return false;
    }
    if a.is_unique && !(b.is_unique && a.columns == b.columns) {
        return false;
    }
    // Two identical indexes: keep one (the constraint-backing one, else the older).
    if a.columns == b.columns && a.is_unique == b.is_unique && !b.backs_constraint && a.oid < b.oid
    {
        return false;
    }
    true
}

/// Duplicate indexes (see [`is_redundant`]).
pub fn duplicate_indexes(indexes: &[IndexStats]) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for a in indexes {
        if let Some(b) = indexes.iter().find(|b| is_redundant(a, b)) {
            out.push(Recommendation::new(
                RecommendationKind::DuplicateIndex,
                Severity::Warning,
                name(&a.schema, &a.name),
                format!("covered by {} ({})", b.name, b.definition),
                format!(
                    "frees {} bytes and speeds up writes to {}",
                    a.size_bytes, a.table
                ),
                Some(Maintenance::DropIndex {
                    schema: a.schema.clone(),
                    index: a.name.clone(),
                }),
            ));
        }
    }
    out
}

/// Invalid indexes (a failed `CREATE INDEX CONCURRENTLY`): rebuild them.
pub fn invalid_indexes(indexes: &[IndexStats]) -> Vec<Recommendation> {
    indexes
        .iter()
        .filter(|i| !i.is_valid)
        .map(|i| {
            Recommendation::new(
                RecommendationKind::InvalidIndex,
                Severity::Warning,
                name(&i.schema, &i.name),
                "index is marked invalid: it is maintained on writes but never used".into(),
                "a usable index (or drop it if it is not wanted)".into(),
                Some(Maintenance::Reindex {
                    schema: i.schema.clone(),
                    index: i.name.clone(),
                }),
            )
        })
        .collect()
}

/// Bloated btree indexes: rebuild them concurrently (same tiers as heap bloat).
pub fn index_bloat(indexes: &[IndexStats], cfg: &AdviceConfig) -> Vec<Recommendation> {
    indexes
        .iter()
        .filter(|i| i.is_valid)
        .filter_map(|i| {
            let (ratio, bytes) = (i.bloat_ratio?, i.bloat_bytes?);
            Some((i, BloatTier::severity_of(&cfg.bloat_tiers, ratio, bytes)?))
        })
        .map(|(i, severity)| {
            Recommendation::new(
                RecommendationKind::IndexBloat,
                severity,
                name(&i.schema, &i.name),
                format!(
                    "about {} bytes ({:.0} % of the index) hold no live entries",
                    i.bloat_bytes.unwrap_or(0),
                    i.bloat_ratio.unwrap_or(0.0) * 100.0
                ),
                format!(
                    "a smaller, faster index on {}; rebuilt without blocking writes",
                    i.table
                ),
                Some(Maintenance::Reindex {
                    schema: i.schema.clone(),
                    index: i.name.clone(),
                }),
            )
        })
        .collect()
}

/// Tables with many dead tuples.
pub fn vacuum(tables: &[TableStats], cfg: &AdviceConfig) -> Vec<Recommendation> {
    tables
        .iter()
        .filter(|t| t.dead_tuples >= cfg.vacuum_min_dead && t.dead_ratio() >= cfg.vacuum_dead_ratio)
        .map(|t| {
            Recommendation::new(
                RecommendationKind::Vacuum,
                if t.dead_ratio() >= 0.5 {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                name(&t.schema, &t.name),
                format!(
                    "{} dead tuples ({:.0} % of all)",
                    t.dead_tuples,
                    t.dead_ratio() * 100.0
                ),
                "reclaims space for reuse and keeps scans and index-only scans fast".into(),
                Some(Maintenance::VacuumAnalyze {
                    schema: t.schema.clone(),
                    table: t.name.clone(),
                }),
            )
        })
        .collect()
}

/// Tables whose heap holds much empty space (estimated from pg_stats; see the tables report),
/// at the severity of the most severe [`BloatTier`] they reach. Tables without an estimate
/// (never analyzed) get the ANALYZE advice instead, which says bloat is unknown until then.
pub fn bloat(tables: &[TableStats], cfg: &AdviceConfig) -> Vec<Recommendation> {
    tables
        .iter()
        .filter_map(|t| {
            let (ratio, bytes) = (t.bloat_ratio?, t.bloat_bytes?);
            Some((t, BloatTier::severity_of(&cfg.bloat_tiers, ratio, bytes)?))
        })
        .map(|(t, severity)| {
            Recommendation::new(
                RecommendationKind::Bloat,
                severity,
                name(&t.schema, &t.name),
                format!(
                    "about {} bytes ({:.0} % of the heap) hold no live rows",
                    t.bloat_bytes.unwrap_or(0),
                    t.bloat_ratio.unwrap_or(0.0) * 100.0
                ),
                "a rewrite (pg_repack online, or VACUUM FULL in a window) returns the space to the OS".into(),
                Some(Maintenance::VacuumFull { schema: t.schema.clone(), table: t.name.clone() }),
            )
        })
        .collect()
}

/// Tables whose statistics are stale, or that were never analyzed (their bloat is unknown until
/// they are). A VACUUM (ANALYZE) for the same table absorbs it (see [`merge`]).
pub fn analyze(tables: &[TableStats], cfg: &AdviceConfig) -> Vec<Recommendation> {
    tables
        .iter()
        .filter(|t| {
            let never = t.never_analyzed && (t.live_tuples > 0 || t.dead_tuples > 0 || t.pages > 0);
            let stale = t.modified_since_analyze >= cfg.analyze_min_changes
                && t.modified_since_analyze as f64
                    >= cfg.analyze_ratio * t.live_tuples.max(1) as f64;
            never || stale
        })
        .map(|t| {
            let evidence = if t.never_analyzed {
                format!(
                    "never analyzed: the planner guesses and bloat is unknown until analyzed; {} live rows, {} pages",
                    t.live_tuples, t.pages
                )
            } else {
                format!(
                    "{} rows changed since the last ANALYZE; {} live",
                    t.modified_since_analyze, t.live_tuples
                )
            };
            Recommendation::new(
                RecommendationKind::Analyze,
                if t.never_analyzed && t.live_tuples >= cfg.analyze_min_changes {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                name(&t.schema, &t.name),
                evidence,
                "the planner estimates from fresh statistics".into(),
                Some(Maintenance::Analyze {
                    schema: t.schema.clone(),
                    table: t.name.clone(),
                }),
            )
        })
        .collect()
}

/// Sequences near their column's maximum.
pub fn sequences(seqs: &[SequenceUsage], cfg: &AdviceConfig) -> Vec<Recommendation> {
    seqs.iter()
        .filter(|s| s.used_ratio >= cfg.sequence_ratio && s.column_type != "bigint")
        .map(|s| {
            Recommendation::new(
                RecommendationKind::SequenceNearLimit,
                if s.used_ratio >= 0.9 {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                name(&s.schema, &s.name),
                format!(
                    "{} of {} used ({:.1} %) for {}.{}.{} ({})",
                    s.last_value.unwrap_or(0),
                    s.column_max,
                    s.used_ratio * 100.0,
                    s.table_schema,
                    s.table,
                    s.column,
                    s.column_type
                ),
                "inserts keep working once the sequence passes the type's maximum".into(),
                Some(Maintenance::WidenToBigint {
                    schema: s.table_schema.clone(),
                    table: s.table.clone(),
                    column: s.column.clone(),
                }),
            )
        })
        .collect()
}

/// Transaction-ID wraparound danger, for the database and for each table.
pub fn wraparound(
    db: Option<&DatabaseReport>,
    tables: &[TableStats],
    cfg: &AdviceConfig,
) -> Vec<Recommendation> {
    let severity = |age: i64| {
        if age >= cfg.wraparound_critical {
            Some(Severity::Critical)
        } else if age >= cfg.wraparound_warning {
            Some(Severity::Warning)
        } else {
            None
        }
    };
    let mut out: Vec<Recommendation> = tables
        .iter()
        .filter_map(|t| severity(t.xid_age).map(|s| (t, s)))
        .map(|(t, s)| {
            Recommendation::new(
                RecommendationKind::Wraparound,
                s,
                name(&t.schema, &t.name),
                format!(
                    "relfrozenxid age {} (wraparound at ~2.1 billion)",
                    t.xid_age
                ),
                "avoids the forced shutdown PostgreSQL makes to prevent wraparound".into(),
                Some(Maintenance::VacuumFreeze {
                    schema: t.schema.clone(),
                    table: t.name.clone(),
                }),
            )
        })
        .collect();
    if out.is_empty()
        && let Some(d) = db
        && let Some(s) = severity(d.database_xid_age)
    {
        out.push(Recommendation::new(
            RecommendationKind::Wraparound,
            s,
            d.name.clone(),
            format!("datfrozenxid age {}", d.database_xid_age),
            "avoids the forced shutdown PostgreSQL makes to prevent wraparound".into(),
            None,
        ));
    }
    out
}

#[cfg(test)]
mod tests;
