//! Alerting peers: a real Prometheus Alertmanager and Postfix's `smtp-sink`, on loopback.

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use crate::binaries::require;
use crate::ports::free_port;
use crate::process::{Managed, wait_until};

const READY_TIMEOUT: Duration = Duration::from_secs(20);

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A real `prometheus-alertmanager` (Debian package `prometheus-alertmanager`) on 127.0.0.1,
/// clustering off, with a config that routes everything to a receiver that sends nothing.
///
/// ```no_run
/// let am = nexus_testkit::AlertmanagerServer::start();
/// println!("{}/api/v2/alerts", am.url());
/// ```
#[derive(Debug)]
pub struct AlertmanagerServer {
    port: u16,
    proc: Managed,
    _dir: TempDir,
}

impl AlertmanagerServer {
    /// Starts Alertmanager and waits until its API answers.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"));
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        let port = free_port();
        let args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".to_owned(),
            "--log.level=warn".to_owned(),
        ];
        let proc = Managed::new(
            require("prometheus-alertmanager"),
            args,
            dir.path().join("alertmanager.log"),
        );
        proc.start();
        if !wait_until(READY_TIMEOUT, || listening(port)) {
            panic!(
                "Alertmanager did not listen on {port} within {READY_TIMEOUT:?}; log:\n{}",
                proc.log_tail()
            );
        }
        Self {
            port,
            proc,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills it.
    pub fn stop(&self) {
        self.proc.kill();
    }
}

/// Postfix's `smtp-sink` (Debian package `postfix`) on 127.0.0.1, saving every message it
/// receives as a file in a temporary directory.
///
/// ```no_run
/// let sink = nexus_testkit::SmtpSink::start();
/// let _port = sink.port();
/// let _mails: Vec<String> = sink.messages();
/// ```
#[derive(Debug)]
pub struct SmtpSink {
    port: u16,
    proc: Managed,
    dir: TempDir,
}

impl SmtpSink {
    /// Starts the sink and waits until it accepts connections.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"));
        let mail = dir.path().join("mail");
        std::fs::create_dir_all(&mail)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", mail.display()));
        // smtp-sink drops root privileges to `nobody`, which must be able to write the dumps.
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [dir.path(), mail.as_path()] {
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777));
            }
        }
        let port = free_port();
        let mut args = vec!["-d".to_owned(), format!("{}/%M.", mail.display())];
        if is_root() {
            args.extend(["-u".to_owned(), "nobody".to_owned()]);
        }
        args.extend([format!("127.0.0.1:{port}"), "16".to_owned()]);
        let bin = find_smtp_sink();
        let proc = Managed::new(bin, args, dir.path().join("smtp-sink.log"));
        proc.start();
        if !wait_until(READY_TIMEOUT, || listening(port)) {
            panic!(
                "smtp-sink did not listen on {port}; log:\n{}",
                proc.log_tail()
            );
        }
        Self { port, proc, dir }
    }

    /// The SMTP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The raw messages received so far (headers and body), oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("mail"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Kills it.
    pub fn stop(&self) {
        self.proc.kill();
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        self.proc.start();
        if !wait_until(READY_TIMEOUT, || listening(self.port)) {
            panic!("smtp-sink did not come back on {}", self.port);
        }
    }
}

fn find_smtp_sink() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/smtp-sink");
    if sbin.exists() {
        sbin
    } else {
        require("smtp-sink")
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
