//! A single `redis-server` and a 6-node Redis Cluster on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::binaries::require;
use crate::ports::free_port;
use crate::process::{Managed, run, wait_until};

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A real `redis-server` on 127.0.0.1, in a temporary directory, killed on drop.
///
/// ```no_run
/// let redis = nexus_testkit::RedisServer::start();
/// assert!(redis.url().starts_with("redis://127.0.0.1:"));
/// ```
#[derive(Debug)]
pub struct RedisServer {
    node: Node,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"));
        let node = Node::new(dir.path(), free_port(), &[]);
        node.start();
        Self { node, _dir: dir }
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.node.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.node.port
    }

    /// Kills the server abruptly (an outage). Data is not persisted.
    pub fn stop(&self) {
        self.node.proc.kill();
    }

    /// Starts the server again on the same port and waits until it answers.
    pub fn restart(&self) {
        self.node.start();
    }
}

/// A real 6-node Redis Cluster (3 masters, 3 replicas) on 127.0.0.1, formed with
/// `redis-cli --cluster create`, killed on drop.
///
/// ```no_run
/// let cluster = nexus_testkit::RedisCluster::start();
/// assert_eq!(cluster.urls().len(), 6);
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
    _dir: TempDir,
}

impl RedisCluster {
    /// Starts six nodes and forms the cluster; returns when every slot is served.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temp dir: {e}"));
        let nodes: Vec<Node> = (0..6)
            .map(|i| {
                let node_dir = dir.path().join(format!("node{i}"));
                std::fs::create_dir_all(&node_dir)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", node_dir.display()));
                Node::new(
                    &node_dir,
                    free_port(),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                        // Replicas sync at once (the default waits 5 s for more replicas).
                        "--repl-diskless-sync-delay",
                        "0",
                    ],
                )
            })
            .collect();
        for n in &nodes {
            n.start();
        }
        let mut create = Command::new(require("redis-cli"));
        create.arg("--cluster").arg("create");
        for n in &nodes {
            create.arg(format!("127.0.0.1:{}", n.port));
        }
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        run(&mut create);
        let cluster = Self { nodes, _dir: dir };
        cluster.wait_healthy();
        cluster
    }

    /// `redis://127.0.0.1:<port>/` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect()
    }

    /// The ports of the nodes that are masters now.
    pub fn master_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.cli(&["role"]).lines().next() == Some("master"))
            .map(|n| n.port)
            .collect()
    }

    /// Number of keys held by the node on `port` (`DBSIZE`).
    pub fn dbsize(&self, port: u16) -> u64 {
        let node = self.node(port);
        node.cli(&["dbsize"]).trim().parse().unwrap_or(0)
    }

    /// Kills one node abruptly.
    pub fn stop_node(&self, port: u16) {
        self.node(port).proc.kill();
    }

    /// Starts a stopped node again and waits until the cluster is healthy.
    pub fn restart_node(&self, port: u16) {
        self.node(port).start();
        self.wait_healthy();
    }

    fn node(&self, port: u16) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("no cluster node on port {port}"))
    }

    fn wait_healthy(&self) {
        // Every slot served, and every replica in sync with its master: a replica that has
        // not synced yet refuses to fail over ("disconnected from master for longer than
        // allowed"), so a test that kills a master right after start would see no failover.
        let ok = wait_until(READY_TIMEOUT, || {
            self.nodes.iter().all(|n| {
                let info = n.cli(&["cluster", "info"]);
                let repl = n.cli(&["info", "replication"]);
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_ok:16384")
                    && (repl.contains("role:master") || repl.contains("master_link_status:up"))
            })
        });
        if !ok {
            panic!("the Redis Cluster did not become healthy within {READY_TIMEOUT:?}");
        }
    }
}

#[derive(Debug)]
struct Node {
    port: u16,
    proc: Managed,
}

impl Node {
    fn new(dir: &Path, port: u16, extra: &[&str]) -> Self {
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir.to_string_lossy(),
            "--protected-mode",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let proc = Managed::new(require("redis-server"), args, dir.join("redis.log"));
        Self { port, proc }
    }

    fn start(&self) {
        self.proc.start();
        if !wait_until(READY_TIMEOUT, || ping(self.port)) {
            panic!(
                "redis-server on port {} did not answer PING within {READY_TIMEOUT:?}; log:\n{}",
                self.port,
                self.proc.log_tail()
            );
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(require("redis-cli"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output();
        match out {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
            Err(_) => String::new(),
        }
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}
