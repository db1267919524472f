//! Finding server binaries, with the package to install when one is missing.

use std::path::{Path, PathBuf};

/// Where Debian puts PostgreSQL 15's server binaries (not on `PATH` by default).
const PG15_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Returns the path of `binary`, searching `PATH` (and PostgreSQL 15's Debian directory for the
/// PostgreSQL tools).
///
/// # Panics
/// When the binary cannot be found, with a message naming the Debian package that provides it:
/// a missing server is a test failure, never a silent skip.
pub fn require(binary: &str) -> PathBuf {
    if let Some(found) = find(binary) {
        return found;
    }
    panic!(
        "`{binary}` was not found on PATH: install the Debian package `{}` \
         (apt-get install -y {}), or run the project's test command `scripts/test`, which installs it",
        package_of(binary),
        package_of(binary)
    );
}

fn find(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if package_of(binary).starts_with("postgresql") {
        dirs.push(PathBuf::from(PG15_BIN));
    }
    dirs.into_iter()
        .map(|d| d.join(binary))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn package_of(binary: &str) -> &'static str {
    match binary {
        "redis-server" => "redis-server",
        "redis-cli" => "redis-tools",
        "initdb" | "pg_ctl" | "postgres" | "pgbench" => "postgresql-15",
        "psql" => "postgresql-client-15",
        "runuser" => "util-linux",
        "openssl" => "openssl",
        "promtool" => "prometheus",
        "prometheus-alertmanager" | "amtool" => "prometheus-alertmanager",
        "smtp-sink" => "postfix",
        "chromium" => "chromium",
        _ => "the package that provides it",
    }
}
