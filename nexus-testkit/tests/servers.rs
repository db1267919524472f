//! The test kit itself: each server starts, answers, stops and comes back.

use nexus_testkit::{PostgresServer, RedisCluster, RedisServer};
use std::process::Command;

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new(nexus_testkit::require("redis-cli"))
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn redis_starts_stops_and_restarts() {
    let redis = RedisServer::start();
    assert_eq!(cli(redis.port(), &["ping"]), "PONG");
    redis.stop();
    assert_ne!(cli(redis.port(), &["ping"]), "PONG");
    redis.restart();
    assert_eq!(cli(redis.port(), &["ping"]), "PONG");
}

#[test]
fn cluster_has_three_masters_covering_all_slots() {
    let cluster = RedisCluster::start();
    assert_eq!(cluster.urls().len(), 6);
    assert_eq!(cluster.master_ports().len(), 3);
    let info = cli(cluster.master_ports()[0], &["cluster", "info"]);
    assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
    assert!(info.contains("cluster_known_nodes:6"), "{info}");
}

#[test]
fn postgres_runs_with_pg_stat_statements() {
    let pg = PostgresServer::start();
    assert_eq!(pg.psql("select 1").trim(), "1");
    assert_eq!(
        pg.psql("show shared_preload_libraries").trim(),
        "pg_stat_statements"
    );
    pg.psql("create extension pg_stat_statements");
    let version =
        pg.psql("select extversion from pg_extension where extname = 'pg_stat_statements'");
    assert!(version.trim().starts_with("1."), "{version}");
    assert!(pg.psql("show server_version").starts_with("15."));
    pg.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", pg.port())).is_err());
    pg.restart();
    assert_eq!(pg.psql("select 2").trim(), "2");
}

#[test]
#[should_panic(expected = "install the Debian package")]
fn missing_binary_names_the_package() {
    nexus_testkit::require("definitely-not-a-server-binary");
}
