//! Hit ratio on public request traces (`shared/data/cache-traces`): nexus-cache's L1 (moka,
//! W-TinyLFU, bounded by entries) next to LRU and Bélády's optimum computed in the same run,
//! and the capacity advisor's SHARDS-sampled LRU curve next to the exact LRU curve.
//!
//! `cargo bench --bench cache_traces` (with `-- --quick`, the two largest traces are cut to
//! their first million requests).

use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use futures_util::FutureExt;
use nexus_cache::advisor::Shards;
use nexus_cache::{MemoryTier, TieredCache};

fn traces_root() -> PathBuf {
    if let Ok(p) = std::env::var("NEXUS_SHARED") {
        return PathBuf::from(p).join("data/cache-traces");
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for c in [
        here.join("../shared/data/cache-traces"),
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

fn load(root: &Path, name: &str) -> Vec<u64> {
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
fn lru(keys: &[u64], cap: usize) -> u64 {
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
fn belady(keys: &[u64], next_use: &[usize], cap: usize) -> u64 {
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

fn nexus_l1(keys: &[u64], cap: u64) -> u64 {
    let cache: TieredCache<u8> = TieredCache::builder()
        .tier(MemoryTier::builder().max_entries(cap).build())
        .metrics_interval(None)
        .build()
        .expect("cache");
    let mut buf = String::new();
    for &k in keys {
        use std::fmt::Write;
        buf.clear();
        let _ = write!(buf, "{k}");
        let _ = cache
            .get_or_load(&buf, || async { Ok::<u8, std::io::Error>(0) })
            .now_or_never()
            .expect("an L1-only cache never waits");
    }
    cache.stats().tiers[0].hits
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let root = traces_root();
    let traces: [(&str, &[u64]); 10] = [
        ("OLTP", &[250, 500, 1000, 2000]),
        ("P3", &[1000, 10_000, 100_000, 500_000]),
        ("loop", &[256, 512]),
        ("gli", &[250, 500, 750, 1000, 1250, 1500, 1750, 2000]),
        ("multi1", &[250, 500, 750, 1000, 1250, 1500, 1750, 2000]),
        ("sprite", &[100, 200, 400, 600, 800, 1000]),
        ("2_pools", &[500, 1000, 1500, 2000]),
        ("cs", &[100, 200, 400, 600, 800, 1000]),
        ("web07", &[205, 512, 1024, 2048]),
        ("orm-night", &[865, 2162, 4323, 8647]),
    ];
    println!(
        "| trace | capacity | Bélády % | LRU % | nexus L1 % | L1 / Bélády | LRU / Bélády | SHARDS LRU est. % |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    let mut summary = Vec::new();
    for (name, caps) in traces {
        let mut keys = load(&root, name);
        if quick && keys.len() > 1_000_000 {
            keys.truncate(1_000_000);
        }
        let mut next_use = vec![usize::MAX; keys.len()];
        let mut last: HashMap<u64, usize> = HashMap::new();
        for i in (0..keys.len()).rev() {
            next_use[i] = last.insert(keys[i], i).unwrap_or(usize::MAX);
        }
        let max_cap = *caps.iter().max().unwrap_or(&1);
        // SHARDS: sample at most 10 % of keys, fewer for large capacities (about 2 000 sampled
        // slots at the largest capacity), so the error shown is the sampling error.
        let rate = (2000.0 / max_cap as f64).min(0.1);
        let mut shards = Shards::new(rate, max_cap * 2);
        for (i, k) in keys.iter().enumerate() {
            shards.record(k, i as u64);
        }
        let n = keys.len() as f64;
        let (mut l1_sum, mut lru_sum, mut err_sum) = (0.0, 0.0, 0.0);
        for &cap in caps {
            let opt = belady(&keys, &next_use, cap as usize) as f64;
            let l = lru(&keys, cap as usize) as f64;
            let ours = nexus_l1(&keys, cap) as f64;
            let est = shards.hit_ratio(cap);
            let (ro, rl) = (
                if opt > 0.0 { ours / opt } else { 1.0 },
                if opt > 0.0 { l / opt } else { 1.0 },
            );
            l1_sum += ro;
            lru_sum += rl;
            err_sum += (est - l / n).abs();
            println!(
                "| {name} | {cap} | {:.2} | {:.2} | {:.2} | {ro:.3} | {rl:.3} | {:.2} |",
                100.0 * opt / n,
                100.0 * l / n,
                100.0 * ours / n,
                100.0 * est
            );
        }
        let k = caps.len() as f64;
        summary.push((
            name,
            l1_sum / k,
            lru_sum / k,
            100.0 * err_sum / k,
            rate,
            keys.len(),
        ));
    }
    println!();
    println!(
        "| trace | requests | nexus L1 / Bélády | LRU / Bélády | SHARDS rate | SHARDS mean abs. error (points) |"
    );
    println!("|---|--:|--:|--:|--:|--:|");
    for (name, l1, l, err, rate, n) in &summary {
        println!("| {name} | {n} | {l1:.3} | {l:.3} | {rate:.4} | {err:.2} |");
    }
    let m = summary.len() as f64;
    println!(
        "| **mean** | | **{:.3}** | {:.3} | | {:.2} |",
        summary.iter().map(|s| s.1).sum::<f64>() / m,
        summary.iter().map(|s| s.2).sum::<f64>() / m,
        summary.iter().map(|s| s.3).sum::<f64>() / m
    );
}
