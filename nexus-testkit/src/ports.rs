//! Free loopback ports.

use std::net::TcpListener;
use std::sync::Mutex;

/// Ports handed out by this process, so two servers started concurrently never get the same one.
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// A free TCP port on 127.0.0.1 below 55 000 (so that `port + 10000`, Redis Cluster's bus port, is
/// valid too), not handed out before by this process.
pub fn free_port() -> u16 {
    loop {
        let port = match TcpListener::bind(("127.0.0.1", 0)) {
            Ok(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            Err(e) => panic!("cannot bind a loopback port: {e}"),
        };
        if port == 0 || port >= 55_000 || !is_free(port + 10_000) {
            continue;
        }
        let mut used = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if !used.contains(&port) {
            used.push(port);
            return port;
        }
    }
}

fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}
