//! Conformance with Prometheus: every `tests/promtool/*.test.yml` passes `promtool test rules`
//! (the oracle, Debian package `prometheus`) and this crate's runner for the same file.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

fn test_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/promtool");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no test files in {}", dir.display());
    files
}

#[test]
fn promtool_accepts_every_test_file() {
    let promtool = nexus_testkit::require("promtool");
    for f in test_files() {
        let out = Command::new(&promtool)
            .arg("test")
            .arg("rules")
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool test rules {}:\n{}{}",
            f.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn nexus_passes_every_test_file() {
    let mut checks = 0;
    for f in test_files() {
        let report = nexus_alerting::promtool::run_file(&f).unwrap();
        assert!(
            report.ok(),
            "{}:\n{}",
            f.display(),
            report.failures.join("\n")
        );
        checks += report.passed;
    }
    assert!(checks >= 25, "only {checks} checks ran");
}

#[test]
fn the_runner_fails_when_expectations_are_wrong() {
    // The same file with one expected annotation changed must fail in both tools.
    let dir = tempfile::tempdir().unwrap();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/promtool");
    std::fs::copy(
        src.join("conformance.rules.yml"),
        dir.path().join("conformance.rules.yml"),
    )
    .unwrap();
    let test = std::fs::read_to_string(src.join("conformance.test.yml"))
        .unwrap()
        .replace("600m errors/s", "0.6 errors/s");
    let f = dir.path().join("broken.test.yml");
    std::fs::write(&f, test).unwrap();
    let report = nexus_alerting::promtool::run_file(&f).unwrap();
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let out = Command::new(nexus_testkit::require("promtool"))
        .args(["test", "rules"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn default_rules_pass_promtool_check() {
    let out = Command::new(nexus_testkit::require("promtool"))
        .args(["check", "rules"])
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules/default.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
