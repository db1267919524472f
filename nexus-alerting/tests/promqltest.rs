//! Prometheus' own PromQL test scripts (v3.5.5, `shared/data/promqltest`) against our engine.
//!
//! Every `eval` of the float-sample files runs; the ones that do not pass are listed with their
//! reason in `tests/promqltest.expected`. The test fails when an unlisted case fails or a listed
//! one passes (so the list only shrinks), and prints the pass rate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use nexus_alerting::promqltest::{Outcome, Report, run_file};

/// Files with experimental features or native histograms only: not part of the target.
const EXCLUDED: [&str; 3] = [
    "native_histograms.test",
    "duration_expression.test",
    "type_and_unit.test",
];

fn dir() -> PathBuf {
    if let Ok(p) = std::env::var("NEXUS_SHARED") {
        return PathBuf::from(p).join("data/promqltest");
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for c in [here.join("../../shared"), PathBuf::from("/work/shared")] {
        if c.join("data/promqltest/functions.test").exists() {
            return c.join("data/promqltest");
        }
    }
    panic!(
        "the shared data (data/promqltest) was not found beside the repository: set NEXUS_SHARED"
    );
}

fn expected() -> BTreeMap<String, String> {
    let text = include_str!("promqltest.expected");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, why) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (k.to_owned(), why.trim().to_owned())
        })
        .collect()
}

#[test]
fn prometheus_promql_test_suite() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .filter(|p| !EXCLUDED.iter().any(|x| p.ends_with(x)))
        .collect();
    files.sort();
    assert!(
        files.len() >= 14,
        "expected the 14 float-sample files, found {}",
        files.len()
    );
    let mut all = Report::default();
    for f in &files {
        let r = run_file(f).unwrap_or_else(|e| panic!("{e}"));
        println!("{:<28} {r}", f.file_name().unwrap().to_string_lossy());
        all.cases.extend(r.cases);
    }
    println!("all: {all}");
    let listed = expected();
    let mut problems = Vec::new();
    for c in &all.cases {
        match (&c.outcome, listed.get(&c.key())) {
            (Outcome::Failed(why), None) => {
                problems.push(format!("{} `{}` fails: {why}", c.key(), c.expr))
            }
            (Outcome::Passed, Some(_)) => problems.push(format!(
                "{} `{}` passes now: remove it from tests/promqltest.expected",
                c.key(),
                c.expr
            )),
            _ => {}
        }
    }
    if std::env::var_os("PROMQLTEST_LIST").is_some() {
        for c in &all.cases {
            if let Outcome::Failed(why) = &c.outcome {
                println!("{}\t{}\t{}", c.key(), c.expr, why);
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    let run = all.passed() + all.failed();
    assert!(
        all.passed() as f64 >= 0.97 * run as f64,
        "pass rate below 97 %: {all}"
    );
}
