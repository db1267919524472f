//! Redaction of statement texts before they leave the monitor.
//!
//! `pg_stat_statements` replaces the constants of plannable statements (`SELECT`, `INSERT`,
//! `UPDATE`, `DELETE`, `MERGE`, …) with `$1`, `$2`…, but keeps utility statements verbatim:
//! `CREATE ROLE app PASSWORD 'hunter2'`, `CREATE SUBSCRIPTION … CONNECTION 'password=…'`,
//! `CREATE USER MAPPING … OPTIONS (password '…')`. Every string literal of a utility statement is
//! therefore replaced before a text is reported: a password can only ever travel as a literal.

use std::borrow::Cow;

/// What a redacted literal becomes.
pub const REDACTED: &str = "'<redacted>'";

/// Leading keywords of the statements `pg_stat_statements` normalizes (their literals are
/// already `$n`).
const PLANNABLE: &[&str] = &[
    "select", "insert", "update", "delete", "merge", "with", "values", "table",
];

/// `query` with every string literal (`'…'`, `E'…'`, `U&'…'`, `$tag$…$tag$`) of a utility
/// statement replaced by `'<redacted>'`; plannable statements are returned as they are. A literal
/// cut by truncation is redacted to the end.
///
/// ```
/// use nexus_dbmon::redact_statement;
/// assert_eq!(
///     redact_statement("CREATE ROLE app LOGIN PASSWORD 'hunter2'"),
///     "CREATE ROLE app LOGIN PASSWORD '<redacted>'"
/// );
/// assert_eq!(redact_statement("SELECT * FROM t WHERE a = $1"), "SELECT * FROM t WHERE a = $1");
/// ```
pub fn redact_statement(query: &str) -> Cow<'_, str> {
    let first = first_keyword(query).to_ascii_lowercase();
    if PLANNABLE.contains(&first.as_str()) {
        return Cow::Borrowed(query);
    }
    let b = query.as_bytes();
    let mut out = String::with_capacity(query.len());
    let (mut i, mut copied) = (0, 0);
    let mut changed = false;
    while i < b.len() {
        match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = query[i..].find('\n').map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = query[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            }
            b'\'' => {
                // E'…' takes backslash escapes; a preceding E/e/U& stays in the text.
                let escapes =
                    i > 0 && matches!(b[i - 1], b'E' | b'e') && !ident_byte_before(b, i - 1);
                let end = quoted_end(b, i + 1, escapes);
                out.push_str(&query[copied..i]);
                out.push_str(REDACTED);
                (i, copied, changed) = (end, end, true);
            }
            b'$' if !ident_byte_before(b, i) => {
                // $tag$…$tag$ (the tag may be empty); `$1` is a parameter, not a quote.
                let tag_len = b[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                let tag_end = i + 1 + tag_len;
                let is_quote =
                    b.get(tag_end) == Some(&b'$') && !b.get(i + 1).is_some_and(u8::is_ascii_digit);
                if !is_quote {
                    i += 1;
                    continue;
                }
                let tag = &query[i..=tag_end];
                let end = query[tag_end + 1..]
                    .find(tag)
                    .map_or(b.len(), |n| tag_end + 1 + n + tag.len());
                out.push_str(&query[copied..i]);
                out.push_str(REDACTED);
                (i, copied, changed) = (end, end, true);
            }
            b'"' => {
                // A quoted identifier may hold a quote character: skip it whole.
                i = quoted_end_double(b, i + 1);
            }
            _ => i += 1,
        }
    }
    if !changed {
        return Cow::Borrowed(query);
    }
    out.push_str(&query[copied..]);
    Cow::Owned(out)
}

/// The first word of `query`, after whitespace and comments.
fn first_keyword(query: &str) -> &str {
    let mut rest = query;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.find('\n').map_or("", |n| &r[n..]);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |n| &r[n + 2..]);
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r; // (SELECT …) UNION …
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    &rest[..end]
}

fn ident_byte_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// The index after the closing quote of a `'…'` literal whose body starts at `i`.
fn quoted_end(b: &[u8], mut i: usize, escapes: bool) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' if escapes => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

fn quoted_end_double(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'"' if b.get(i + 1) == Some(&b'"') => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utility_literals_are_redacted() {
        let cases = [
            (
                "CREATE ROLE bob PASSWORD 'hunter2'",
                "CREATE ROLE bob PASSWORD '<redacted>'",
            ),
            (
                "alter user bob with encrypted password 'it''s secret' valid until 'infinity'",
                "alter user bob with encrypted password '<redacted>' valid until '<redacted>'",
            ),
            (
                "CREATE SUBSCRIPTION s CONNECTION 'host=db password=pw' PUBLICATION p",
                "CREATE SUBSCRIPTION s CONNECTION '<redacted>' PUBLICATION p",
            ),
            (
                "CREATE USER MAPPING FOR bob SERVER f OPTIONS (user 'bob', password 'pw')",
                "CREATE USER MAPPING FOR bob SERVER f OPTIONS (user '<redacted>', password '<redacted>')",
            ),
            (
                r"CREATE ROLE x PASSWORD E'a\'b'",
                "CREATE ROLE x PASSWORD E'<redacted>'",
            ),
            (
                "DO $do$ BEGIN EXECUTE 'ALTER ROLE x PASSWORD ''p'''; END $do$",
                "DO '<redacted>'",
            ),
            // Cut by truncation: redacted to the end.
            (
                "CREATE ROLE x PASSWORD 'half-a-secr",
                "CREATE ROLE x PASSWORD '<redacted>'",
            ),
            // Comments and quoted identifiers are not literals.
            (
                "/* it's */ CREATE ROLE \"o'neil\" PASSWORD 'p' -- don't",
                "/* it's */ CREATE ROLE \"o'neil\" PASSWORD '<redacted>' -- don't",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact_statement(input), want, "{input}");
        }
    }

    #[test]
    fn normalized_statements_and_parameters_are_kept() {
        for q in [
            "SELECT * FROM t WHERE a = $1 AND b = 'x'",
            "  /* c */ with x as (select 1) select * from x",
            "(SELECT 1) UNION (SELECT 2)",
            "INSERT INTO t VALUES ($1, $2)",
        ] {
            assert!(matches!(redact_statement(q), Cow::Borrowed(_)), "{q}");
        }
        assert_eq!(redact_statement("VACUUM ANALYZE t"), "VACUUM ANALYZE t");
        assert_eq!(
            redact_statement("PREPARE p AS SELECT $1 + 1"),
            "PREPARE p AS SELECT $1 + 1"
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        for q in [
            "'", "$", "$$", "$a", "E'", "\"", "--", "/*", "é'ü", "x$é$'", "'\\",
        ] {
            let _ = redact_statement(q);
        }
    }
}
