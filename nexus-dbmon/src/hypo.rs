//! Missing-index advice verified with hypothetical indexes (hypopg), the way Dexter does it:
//! for each slow statement, the generic plan's sequential scans with a filter give candidate
//! columns; a hypothetical index on them is kept only if the planner's cost drops enough.
//!
//! Normalized statements (`$1`…) are planned generically: `PREPARE` the text, then
//! `EXPLAIN EXECUTE` it with NULL arguments under `plan_cache_mode = force_generic_plan`.
//! Everything runs on one dedicated connection (hypothetical indexes are per session), under the
//! monitor's statement timeout, and is reset afterwards.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;
use serde_json::Value;
use sqlx::{ConnectOptions, Connection, PgConnection, Row};

use crate::error::DbMonError;
use crate::maintenance::{Maintenance, quote_ident};
use crate::monitor::{DbMonitor, millis};
use crate::reports::statements::Statement;

const COLUMNS_SQL: &str = crate::monitor::marked!(include_str!("sql/columns.sql"));

/// A verified index suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexSuggestion {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Index columns, in order.
    pub columns: Vec<String>,
    /// The statement it helps.
    pub queryid: i64,
    /// Its text.
    pub query: String,
    /// Planner cost of the generic plan today.
    pub cost_before: f64,
    /// With the hypothetical index.
    pub cost_after: f64,
    /// `1 - after / before`.
    pub saving: f64,
    /// The command (CREATE INDEX CONCURRENTLY; `optimize` runs it only with `allow_create`).
    pub action: Maintenance,
}

/// The result of [`DbMonitor::index_suggestions`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IndexAdvice {
    /// Whether hypopg could be used.
    pub available: bool,
    /// What to do when it could not.
    pub note: Option<String>,
    /// Statements examined.
    pub examined: usize,
    /// Suggestions, biggest saving first.
    pub suggestions: Vec<IndexSuggestion>,
}

/// Extracts `(schema, table, filter)` of every sequential scan with a filter in an EXPLAIN JSON plan.
fn seq_scans(plan: &Value, out: &mut Vec<(String, String, String)>) {
    if plan.get("Node Type").and_then(Value::as_str) == Some("Seq Scan")
        && let (Some(s), Some(t), Some(f)) = (
            plan.get("Schema").and_then(Value::as_str),
            plan.get("Relation Name").and_then(Value::as_str),
            plan.get("Filter").and_then(Value::as_str),
        )
    {
        out.push((s.to_owned(), t.to_owned(), f.to_owned()));
    }
    if let Some(children) = plan.get("Plans").and_then(Value::as_array) {
        for c in children {
            seq_scans(c, out);
        }
    }
}

/// Identifiers that appear in a filter expression, in order (quoted ones unquoted).
fn identifiers(filter: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = filter.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            let mut name = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '"' {
                    if chars.get(i + 1) == Some(&'"') {
                        name.push('"');
                        i += 2;
                        continue;
                    }
                    break;
                }
                name.push(chars[i]);
                i += 1;
            }
            out.push(name);
        } else if c == '\'' {
            // Skip string literals.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // A type cast (`::text`) or function name is not a column; the column check filters the rest.
            let cast = start >= 2 && chars[start - 1] == ':' && chars[start - 2] == ':';
            if !cast && chars.get(i) != Some(&'(') {
                out.push(word);
            }
            continue;
        }
        i += 1;
    }
    out
}

fn param_count(query: &str) -> usize {
    let bytes = query.as_bytes();
    let mut max = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'$' {
            let digits: String = query[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse::<usize>() {
                max = max.max(n);
            }
        }
    }
    max
}

fn plannable(query: &str) -> bool {
    let q = query.trim_start().to_ascii_lowercase();
    ["select", "with", "update", "delete"]
        .iter()
        .any(|k| q.starts_with(k))
        && !q.contains("<insufficient privilege>")
}

/// Plans `query` generically: a fresh `PREPARE` (a cached plan would not see a hypothetical index
/// created since), then `EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE` with NULL arguments.
/// `prepared` says whether `nexus_hypo` exists on this connection: it is deallocated only then,
/// so the server log stays free of "prepared statement does not exist" errors.
async fn generic_plan(
    conn: &mut PgConnection,
    prepared: &mut bool,
    query: &str,
    params: usize,
) -> Result<Value, sqlx::Error> {
    deallocate(conn, prepared).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PREPARE nexus_hypo AS {query}"
    )))
    .execute(&mut *conn)
    .await?;
    *prepared = true;
    let args = if params == 0 {
        String::new()
    } else {
        format!("({})", vec!["NULL"; params].join(", "))
    };
    let sql = format!(
        "EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE nexus_hypo{args}\n{}",
        crate::monitor::STATEMENT_MARK
    );
    let plan: sqlx::types::Json<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await?;
    Ok(plan.0)
}

/// `DEALLOCATE nexus_hypo` when it exists (only our own statement: sqlx keeps its prepared
/// statements on this connection too).
async fn deallocate(conn: &mut PgConnection, prepared: &mut bool) -> Result<(), sqlx::Error> {
    if *prepared {
        sqlx::raw_sql(crate::monitor::marked!("DEALLOCATE nexus_hypo"))
            .execute(&mut *conn)
            .await?;
        *prepared = false;
    }
    Ok(())
}

fn total_cost(plan: &Value) -> f64 {
    plan[0]["Plan"]["Total Cost"].as_f64().unwrap_or(0.0)
}

impl DbMonitor {
    /// Suggests indexes for `statements` (typically the slow-query report's), keeping only those
    /// whose hypothetical index lowers the generic plan's cost by at least `min_saving` (e.g. 0.5).
    pub async fn index_suggestions(
        &self,
        statements: &[Statement],
        min_saving: f64,
    ) -> Result<IndexAdvice, DbMonError> {
        const R: &str = "index-suggestions";
        let err = DbMonError::query(R);
        let mut conn = self.connect_options().connect().await.map_err(err)?;
        let result = self.suggest_on(&mut conn, statements, min_saving).await;
        let _ = conn.close().await;
        result.map_err(DbMonError::query(R))
    }

    async fn suggest_on(
        &self,
        conn: &mut PgConnection,
        statements: &[Statement],
        min_saving: f64,
    ) -> Result<IndexAdvice, sqlx::Error> {
        sqlx::query(crate::monitor::marked!("SELECT set_config('statement_timeout', $1, false), set_config('plan_cache_mode', 'force_generic_plan', false)"))
            .bind(millis(self.config.statement_timeout))
            .execute(&mut *conn)
            .await?;
        let installed: Option<String> = sqlx::query_scalar(crate::monitor::marked!(
            "SELECT extversion FROM pg_extension WHERE extname = 'hypopg'"
        ))
        .fetch_optional(&mut *conn)
        .await?;
        if installed.is_none() {
            return Ok(IndexAdvice {
                available: false,
                note: Some("run CREATE EXTENSION hypopg (Debian package postgresql-15-hypopg) to verify index suggestions".into()),
                examined: 0,
                suggestions: Vec::new(),
            });
        }
        let mut prepared = false;
        let mut suggestions: Vec<IndexSuggestion> = Vec::new();
        let mut seen: HashSet<(String, String, Vec<String>)> = HashSet::new();
        let mut examined = 0;
        for st in statements {
            let Some(query) = st.query.as_deref().filter(|q| plannable(q)) else {
                continue;
            };
            let params = param_count(query);
            // Parameter types not inferable, or the statement no longer plans: skip it.
            let Ok(plan) = generic_plan(conn, &mut prepared, query, params).await else {
                continue;
            };
            examined += 1;
            let before = total_cost(&plan);
            let mut scans = Vec::new();
            seq_scans(&plan[0]["Plan"], &mut scans);
            for (schema, table, filter) in scans {
                let cols: BTreeSet<String> = sqlx::query(COLUMNS_SQL)
                    .bind(&schema)
                    .bind(&table)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .filter_map(|r| r.try_get::<String, _>("name").ok())
                    .collect();
                let mut candidates: Vec<String> = Vec::new();
                for id in identifiers(&filter) {
                    if cols.contains(&id) && !candidates.contains(&id) {
                        candidates.push(id);
                    }
                }
                candidates.truncate(2);
                let mut options: Vec<Vec<String>> =
                    candidates.iter().map(|c| vec![c.clone()]).collect();
                if candidates.len() == 2 {
                    options.push(candidates.clone());
                }
                let mut best: Option<(f64, Vec<String>)> = None;
                for columns in options {
                    let create = format!(
                        "CREATE INDEX ON {}.{} ({})",
                        quote_ident(&schema),
                        quote_ident(&table),
                        columns
                            .iter()
                            .map(|c| quote_ident(c))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    sqlx::query(crate::monitor::marked!(
                        "SELECT * FROM hypopg_create_index($1)"
                    ))
                    .bind(&create)
                    .execute(&mut *conn)
                    .await?;
                    let after = generic_plan(conn, &mut prepared, query, params)
                        .await
                        .map_or(before, |p| total_cost(&p));
                    sqlx::query(crate::monitor::marked!("SELECT hypopg_reset()"))
                        .execute(&mut *conn)
                        .await?;
                    if best.as_ref().is_none_or(|(b, _)| after < *b) {
                        best = Some((after, columns));
                    }
                }
                if let Some((after, columns)) = best {
                    let saving = if before > 0.0 {
                        1.0 - after / before
                    } else {
                        0.0
                    };
                    if saving >= min_saving
                        && seen.insert((schema.clone(), table.clone(), columns.clone()))
                    {
                        suggestions.push(IndexSuggestion {
                            action: Maintenance::CreateIndex {
                                schema: schema.clone(),
                                table: table.clone(),
                                columns: columns.clone(),
                            },
                            schema: schema.clone(),
                            table: table.clone(),
                            columns,
                            queryid: st.queryid,
                            query: query.to_owned(),
                            cost_before: before,
                            cost_after: after,
                            saving,
                        });
                    }
                }
            }
        }
        deallocate(conn, &mut prepared).await?;
        suggestions.sort_by(|a, b| b.saving.total_cmp(&a.saving));
        Ok(IndexAdvice {
            available: true,
            note: None,
            examined,
            suggestions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_skip_literals_casts_and_functions() {
        assert_eq!(identifiers("(customer = $1)"), vec!["customer"]);
        assert_eq!(
            identifiers("((status)::text = 'open'::text) AND (lower(\"Weird\"\"Name\") = $2)"),
            vec!["status", "AND", "Weird\"Name"]
        );
        assert_eq!(
            identifiers("(a > 5) OR (b IS NULL)"),
            vec!["a", "OR", "b", "IS", "NULL"]
        );
    }

    #[test]
    fn params_and_plannable() {
        assert_eq!(param_count("SELECT * FROM t WHERE a = $1 AND b = $12"), 12);
        assert_eq!(param_count("SELECT 1"), 0);
        assert!(plannable("  select 1"));
        assert!(!plannable("INSERT INTO t VALUES ($1)"));
        assert!(!plannable("<insufficient privilege>"));
    }

    #[test]
    fn finds_nested_seq_scans() {
        let plan: Value = serde_json::json!({"Node Type": "Aggregate", "Plans": [
            {"Node Type": "Seq Scan", "Schema": "public", "Relation Name": "orders", "Filter": "(customer = $1)"},
            {"Node Type": "Index Scan", "Schema": "public", "Relation Name": "x"}]});
        let mut out = Vec::new();
        seq_scans(&plan, &mut out);
        assert_eq!(
            out,
            vec![("public".into(), "orders".into(), "(customer = $1)".into())]
        );
    }
}
