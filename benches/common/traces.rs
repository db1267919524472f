//! The shared cache traces (`shared/data/cache-traces`): loading them, and the LRU and Bélády
//! simulators both the `cache_traces` bench and `nexus-cache/tests/hit_ratio.rs` measure against.
#![allow(dead_code)]

use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the traces are: `$NEXUS_SHARED/data/cache-traces`, or beside the repository.
pub fn traces_root() -> PathBuf {
    if let Ok(p) = std::env::var("NEXUS_SHARED") {
        return PathBuf::from(p).join("data/cache-traces");
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for c in [
        here.join("../shared/data/cache-traces"),
        here.join("../../shared/data/cache-traces"),
        PathBuf::from("/work/shared/data/cache-traces"),
    ] {
        if c.join("README.md").exists() {
            return c;
        }
    }
    panic!(
        "cache traces not found beside the repository (../shared/data/cache-traces): set NEXUS_SHARED"
    );
}

fn decompress(tool: &str, package: &str, path: &Path) -> Vec<u8> {
    let out = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{tool}` ({e}): install the Debian package `{package}`")
        });
    assert!(out.status.success(), "{tool} -dc {} failed", path.display());
    out.stdout
}

/// The keys of trace `name`, in order.
pub fn load(root: &Path, name: &str) -> Vec<u64> {
    match name {
        "OLTP" | "P3" => {
            let text = decompress("zstd", "zstd", &root.join(format!("arc/{name}.lis.zst")));
            let mut keys = Vec::new();
            for line in String::from_utf8_lossy(&text).lines() {
                let mut f = line.split_whitespace();
                let (Some(start), Some(n)) = (f.next(), f.next()) else {
                    continue;
                };
                let (Ok(start), Ok(n)) = (start.parse::<u64>(), n.parse::<u64>()) else {
                    continue;
                };
                keys.extend(start..start + n);
            }
            keys
        }
        "web07" | "orm-night" => {
            let raw = decompress(
                "xz",
                "xz-utils",
                &root.join(format!("cache2k/{name}.trace.xz")),
            );
            raw.chunks_exact(4)
                .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => {
            let text = decompress("gzip", "gzip", &root.join(format!("lirs/{name}.trace.gz")));
            String::from_utf8_lossy(&text)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && *l != "*")
                .filter_map(|l| l.parse().ok())
                .collect()
        }
    }
}

/// LRU hits with `cap` entries.
pub fn lru(keys: &[u64], cap: usize) -> u64 {
    // Intrusive doubly linked list over slots; map key -> slot.
    let mut slot_of: HashMap<u64, usize> = HashMap::with_capacity(cap * 2);
    let (mut prev, mut next, mut key_at) = (
        vec![usize::MAX; cap],
        vec![usize::MAX; cap],
        vec![0u64; cap],
    );
    let (mut head, mut tail, mut used, mut hits) = (usize::MAX, usize::MAX, 0usize, 0u64);
    let unlink =
        |s: usize, prev: &mut [usize], next: &mut [usize], head: &mut usize, tail: &mut usize| {
            let (p, n) = (prev[s], next[s]);
            if p != usize::MAX {
                next[p] = n
            } else {
                *head = n
            }
            if n != usize::MAX {
                prev[n] = p
            } else {
                *tail = p
            }
        };
    for &k in keys {
        let s = if let Some(&s) = slot_of.get(&k) {
            hits += 1;
            unlink(s, &mut prev, &mut next, &mut head, &mut tail);
            s
        } else if used < cap {
            used += 1;
            slot_of.insert(k, used - 1);
            key_at[used - 1] = k;
            used - 1
        } else {
            let s = tail;
            unlink(s, &mut prev, &mut next, &mut head, &mut tail);
            slot_of.remove(&key_at[s]);
            slot_of.insert(k, s);
            key_at[s] = k;
            s
        };
        prev[s] = usize::MAX;
        next[s] = head;
        if head != usize::MAX {
            prev[head] = s;
        }
        head = s;
        if tail == usize::MAX {
            tail = s;
        }
    }
    hits
}

/// Bélády's optimum (with bypass) with `cap` entries.
pub fn belady(keys: &[u64], next_use: &[usize], cap: usize) -> u64 {
    let mut cached: HashMap<u64, usize> = HashMap::with_capacity(cap * 2);
    let mut heap: BinaryHeap<(usize, u64)> = BinaryHeap::new();
    let mut hits = 0u64;
    for (i, &k) in keys.iter().enumerate() {
        let nu = next_use[i];
        if let Some(cur) = cached.get_mut(&k) {
            hits += 1;
            *cur = nu;
            heap.push((nu, k));
            continue;
        }
        if cached.len() < cap {
            cached.insert(k, nu);
            heap.push((nu, k));
            continue;
        }
        // Farthest next use among cached keys (skipping stale heap entries).
        while let Some(&(u, hk)) = heap.peek() {
            if cached.get(&hk) == Some(&u) {
                break;
            }
            heap.pop();
        }
        if let Some(&(far, fk)) = heap.peek()
            && far > nu
        {
            heap.pop();
            cached.remove(&fk);
            cached.insert(k, nu);
            heap.push((nu, k));
        }
    }
    hits
}

/// For each request, the index of the next request of the same key (`usize::MAX` if none).
pub fn next_use(keys: &[u64]) -> Vec<usize> {
    let mut next = vec![usize::MAX; keys.len()];
    let mut last: HashMap<u64, usize> = HashMap::new();
    for i in (0..keys.len()).rev() {
        next[i] = last.insert(keys[i], i).unwrap_or(usize::MAX);
    }
    next
}
