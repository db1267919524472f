//! Free loopback ports.

use std::hash::{BuildHasher, RandomState};
use std::net::TcpListener;
use std::sync::Mutex;

/// Ports handed out by this process, so two servers started concurrently never get the same one.
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// The lowest port of the kernel's ephemeral range, where outgoing connections take their
/// local ends (Linux's default when it cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A free TCP port on 127.0.0.1 whose `port + 10 000` (Redis Cluster's bus port) is free too,
/// not handed out before by this process.
///
/// Both lie below the kernel's ephemeral range when there is room. A port from that range (what
/// binding port 0 gives) can be taken as the local end of any outgoing connection between the
/// moment it is chosen and the moment the server binds it, or while a killed server is down
/// before its restart: a busy test's server then failed with "Address already in use".
pub fn free_port() -> u16 {
    let top = ephemeral_start().saturating_sub(10_000);
    if top > 10_000 {
        let state = RandomState::new();
        for attempt in 0u32..10_000 {
            let port = 10_000 + (state.hash_one(attempt) % u64::from(top - 10_000)) as u16;
            if let Some(port) = hand_out(port) {
                return port;
            }
        }
    }
    // No room below the range (or all taken): a port the kernel picks.
    loop {
        let port = match TcpListener::bind(("127.0.0.1", 0)) {
            Ok(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            Err(e) => panic!("cannot bind a loopback port: {e}"),
        };
        if port == 0 || port >= 55_000 {
            continue;
        }
        if let Some(port) = hand_out(port) {
            return port;
        }
    }
}

/// `port` if it and its bus port are free and it was not handed out before.
fn hand_out(port: u16) -> Option<u16> {
    if !is_free(port) || !is_free(port + 10_000) {
        return None;
    }
    let mut used = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    if used.contains(&port) {
        return None;
    }
    used.push(port);
    Some(port)
}

fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let start = ephemeral_start();
        for (i, &p) in ports.iter().enumerate() {
            assert!(is_free(p) && is_free(p + 10_000), "{p}");
            assert!(!ports[..i].contains(&p), "{p} handed out twice");
            if start > 20_000 {
                assert!(
                    p >= 10_000 && p + 10_000 < start,
                    "{p} (ephemeral from {start})"
                );
            }
        }
    }
}
