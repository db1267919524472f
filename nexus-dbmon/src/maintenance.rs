//! Guarded maintenance: ANALYZE / VACUUM / REINDEX CONCURRENTLY from recommendations, dry-run by
//! default, never DROP or CREATE unless enabled, one statement at a time outside any transaction,
//! under `lock_timeout` and a statement timeout, identifiers always quoted.
//!
//! ```
//! use nexus_dbmon::Maintenance;
//! let m = Maintenance::VacuumAnalyze { schema: "public".into(), table: "orders".into() };
//! assert_eq!(m.sql(), r#"VACUUM (ANALYZE) "public"."orders""#);
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{ConnectOptions, Connection};

use crate::advice::{Recommendation, RecommendationKind};
use crate::error::DbMonError;
use crate::monitor::{DbMonitor, millis};

/// Quotes an SQL identifier: `x"y` → `"x""y"`. Never format a name into SQL any other way.
///
/// ```
/// assert_eq!(nexus_dbmon::quote_ident(r#"x"; DROP TABLE y; --"#), r#""x""; DROP TABLE y; --""#);
/// ```
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars().filter(|c| *c != '\0') {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// A maintenance command, structured: the SQL is rendered from it, never taken from input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Maintenance {
    /// `ANALYZE table`.
    Analyze {
        /// Schema.
        schema: String,
        /// Table.
        table: String,
    },
    /// `VACUUM (ANALYZE) table`.
    VacuumAnalyze {
        /// Schema.
        schema: String,
        /// Table.
        table: String,
    },
    /// `VACUUM (FREEZE, ANALYZE) table`.
    VacuumFreeze {
        /// Schema.
        schema: String,
        /// Table.
        table: String,
    },
    /// `VACUUM (FULL, ANALYZE) table`: rewrites the table under an ACCESS EXCLUSIVE lock, so it is
    /// only ever shown, never run by `optimize` (use pg_repack online).
    VacuumFull {
        /// Schema.
        schema: String,
        /// Table.
        table: String,
    },
    /// `REINDEX INDEX CONCURRENTLY index`.
    Reindex {
        /// Schema.
        schema: String,
        /// Index.
        index: String,
    },
    /// `CREATE INDEX CONCURRENTLY ON table (columns)` (needs `allow_create`).
    CreateIndex {
        /// Schema.
        schema: String,
        /// Table.
        table: String,
        /// Columns, in order.
        columns: Vec<String>,
    },
    /// `DROP INDEX CONCURRENTLY IF EXISTS index` (needs `allow_drop`).
    DropIndex {
        /// Schema.
        schema: String,
        /// Index.
        index: String,
    },
    /// `ALTER TABLE … ALTER COLUMN … TYPE bigint`: rewrites the table under an exclusive lock, so
    /// it is only ever shown, never run by `optimize`.
    WidenToBigint {
        /// Schema.
        schema: String,
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
}

impl Maintenance {
    /// The SQL, with every identifier quoted.
    pub fn sql(&self) -> String {
        match self {
            Maintenance::Analyze { schema, table } => {
                format!("ANALYZE {}", qualified(schema, table))
            }
            Maintenance::VacuumAnalyze { schema, table } => {
                format!("VACUUM (ANALYZE) {}", qualified(schema, table))
            }
            Maintenance::VacuumFreeze { schema, table } => {
                format!("VACUUM (FREEZE, ANALYZE) {}", qualified(schema, table))
            }
            Maintenance::CreateIndex {
                schema,
                table,
                columns,
            } => format!(
                "CREATE INDEX CONCURRENTLY ON {} ({})",
                qualified(schema, table),
                columns
                    .iter()
                    .map(|c| quote_ident(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Maintenance::VacuumFull { schema, table } => {
                format!("VACUUM (FULL, ANALYZE) {}", qualified(schema, table))
            }
            Maintenance::Reindex { schema, index } => {
                format!("REINDEX INDEX CONCURRENTLY {}", qualified(schema, index))
            }
            Maintenance::DropIndex { schema, index } => {
                format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {}",
                    qualified(schema, index)
                )
            }
            Maintenance::WidenToBigint {
                schema,
                table,
                column,
            } => format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE bigint",
                qualified(schema, table),
                quote_ident(column)
            ),
        }
    }

    /// The object a command acts on: `(is an index, schema, name)`.
    fn target(&self) -> (bool, &str, &str) {
        match self {
            Maintenance::Analyze { schema, table }
            | Maintenance::VacuumAnalyze { schema, table }
            | Maintenance::VacuumFreeze { schema, table }
            | Maintenance::VacuumFull { schema, table }
            | Maintenance::CreateIndex { schema, table, .. }
            | Maintenance::WidenToBigint { schema, table, .. } => (false, schema, table),
            Maintenance::Reindex { schema, index } | Maintenance::DropIndex { schema, index } => {
                (true, schema, index)
            }
        }
    }

    /// How much a command does on its object, for commands that include one another: ANALYZE <
    /// VACUUM (ANALYZE) < VACUUM (FREEZE, ANALYZE); REINDEX < DROP. 0: includes nothing else.
    pub(crate) fn strength(&self) -> u8 {
        match self {
            Maintenance::Analyze { .. } | Maintenance::Reindex { .. } => 1,
            Maintenance::VacuumAnalyze { .. } | Maintenance::DropIndex { .. } => 2,
            Maintenance::VacuumFreeze { .. } => 3,
            _ => 0,
        }
    }

    /// Whether two commands are one action: the same SQL, or one including the other on the same
    /// object (so a plan never runs two commands for one object).
    pub(crate) fn merges_with(&self, other: &Maintenance) -> bool {
        self == other
            || (self.target() == other.target() && self.strength() > 0 && other.strength() > 0)
    }

    /// Why `optimize` would not run it under `opts`, if it would not.
    fn refused(&self, opts: &OptimizeOptions) -> Option<&'static str> {
        match self {
            Maintenance::DropIndex { .. } if !opts.allow_drop => {
                Some("DROP is not enabled (allow_drop)")
            }
            Maintenance::CreateIndex { .. } if !opts.allow_create => {
                Some("CREATE is not enabled (allow_create)")
            }
            Maintenance::WidenToBigint { .. } | Maintenance::VacuumFull { .. } => {
                Some("rewrites the table under an exclusive lock: run it in a maintenance window")
            }
            _ => None,
        }
    }
}

/// What `optimize` may do. Default: dry run, no DROP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OptimizeOptions {
    /// Only report what would run (default true).
    pub dry_run: bool,
    /// Allow `DROP INDEX CONCURRENTLY` for unused and duplicate indexes (default false).
    pub allow_drop: bool,
    /// Allow `CREATE INDEX CONCURRENTLY` for verified missing indexes (default false).
    pub allow_create: bool,
    /// Only these kinds (default: all).
    pub kinds: Option<Vec<RecommendationKind>>,
    /// Statement timeout of each command, seconds (default 600).
    pub timeout_seconds: u64,
}

impl Default for OptimizeOptions {
    fn default() -> Self {
        Self {
            dry_run: true,
            allow_drop: false,
            allow_create: false,
            kinds: None,
            timeout_seconds: 600,
        }
    }
}

impl OptimizeOptions {
    /// Actually run the commands.
    pub fn execute(mut self) -> Self {
        self.dry_run = false;
        self
    }

    /// Allow CREATE INDEX.
    pub fn allow_create(mut self, allow: bool) -> Self {
        self.allow_create = allow;
        self
    }

    /// Allow DROP INDEX.
    pub fn allow_drop(mut self, allow: bool) -> Self {
        self.allow_drop = allow;
        self
    }
}

/// What happened to one command.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActionStatus {
    /// Dry run: would run.
    Planned,
    /// Ran.
    Done {
        /// Duration, seconds.
        seconds: f64,
    },
    /// Not run.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Ran and failed (lock timeout, statement timeout, privilege…).
    Failed {
        /// The server's message.
        error: String,
    },
}

/// One command of an `optimize` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ActionResult {
    /// What it was for.
    pub kind: RecommendationKind,
    /// The object.
    pub object: String,
    /// The SQL.
    pub sql: String,
    /// Outcome.
    pub status: ActionStatus,
}

/// The result of [`DbMonitor::optimize`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OptimizeReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// One entry per recommendation with a command.
    pub actions: Vec<ActionResult>,
}

impl DbMonitor {
    /// Runs (or, by default, plans) the maintenance commands of `recommendations`.
    ///
    /// Each command runs alone on a fresh connection (so no session setting leaks into the pool),
    /// outside any transaction, with `lock_timeout` and `statement_timeout` set; a failure is
    /// reported and the next command still runs.
    pub async fn optimize(
        &self,
        recommendations: &[Recommendation],
        opts: &OptimizeOptions,
    ) -> Result<OptimizeReport, DbMonError> {
        if opts.timeout_seconds == 0 || opts.timeout_seconds > 86_400 {
            return Err(DbMonError::InvalidInput(
                "timeout_seconds must be between 1 and 86400".into(),
            ));
        }
        let mut actions: Vec<ActionResult> = Vec::new();
        // One action per object, also for a list that did not come from `advise`.
        let recommendations = crate::advice::merge(recommendations.to_vec());
        for rec in &recommendations {
            let Some(m) = &rec.action else { continue };
            if opts
                .kinds
                .as_ref()
                .is_some_and(|k| !k.iter().any(|k| rec.is(*k)))
            {
                continue;
            }
            let sql = m.sql();
            let status = if let Some(why) = m.refused(opts) {
                ActionStatus::Skipped { reason: why.into() }
            } else if opts.dry_run {
                ActionStatus::Planned
            } else {
                self.run_one(&sql, Duration::from_secs(opts.timeout_seconds))
                    .await
            };
            tracing::info!(kind = ?rec.kind, object = %rec.object, %sql, status = ?status, "maintenance");
            actions.push(ActionResult {
                kind: rec.kind,
                object: rec.object.clone(),
                sql,
                status,
            });
        }
        Ok(OptimizeReport {
            dry_run: opts.dry_run,
            actions,
        })
    }

    async fn run_one(&self, sql: &str, timeout: Duration) -> ActionStatus {
        let started = std::time::Instant::now();
        let result = async {
            let mut conn = self.connect_options().connect().await?;
            sqlx::query(crate::monitor::marked!("SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)"))
                .bind(millis(self.config.lock_timeout))
                .bind(millis(timeout))
                .execute(&mut conn)
                .await?;
            // Rendered by `Maintenance::sql` from quoted identifiers only: never from input text.
            let marked = format!("{sql}\n{}", crate::monitor::STATEMENT_MARK);
            let r = sqlx::raw_sql(sqlx::AssertSqlSafe(marked)).execute(&mut conn).await;
            let _ = conn.close().await;
            r
        }
        .await;
        match result {
            Ok(_) => ActionStatus::Done {
                seconds: started.elapsed().as_secs_f64(),
            },
            Err(e) => ActionStatus::Failed {
                error: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_ident("a\0b"), "\"ab\"");
        let m = Maintenance::VacuumAnalyze {
            schema: "public".into(),
            table: "x\"; DROP TABLE y; --".into(),
        };
        assert_eq!(
            m.sql(),
            "VACUUM (ANALYZE) \"public\".\"x\"\"; DROP TABLE y; --\""
        );
    }

    #[test]
    fn drop_and_rewrites_are_refused_by_default() {
        let d = Maintenance::DropIndex {
            schema: "s".into(),
            index: "i".into(),
        };
        assert!(d.refused(&OptimizeOptions::default()).is_some());
        assert!(
            d.refused(&OptimizeOptions::default().allow_drop(true))
                .is_none()
        );
        let w = Maintenance::WidenToBigint {
            schema: "s".into(),
            table: "t".into(),
            column: "id".into(),
        };
        assert!(
            w.refused(&OptimizeOptions::default().allow_drop(true))
                .is_some()
        );
        let f = Maintenance::VacuumFull {
            schema: "s".into(),
            table: "t".into(),
        };
        assert!(
            f.refused(&OptimizeOptions::default().allow_drop(true))
                .is_some()
        );
    }
}
