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

/// How urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Worth doing.
    Info,
    /// Should be done soon.
    Warning,
    /// Do it now.
    Critical,
}

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
mod tests {
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
}
