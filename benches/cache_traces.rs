//! Hit ratio on public request traces (`shared/data/cache-traces`): nexus-cache's L1 (its own
//! W-TinyLFU, bounded by entries) next to raw moka, LRU and Bélády's optimum computed in the same
//! run, and the capacity advisor's SHARDS-sampled LRU curve next to the exact LRU curve.
//!
//! `cargo bench --bench cache_traces` (with `-- --quick`, the two largest traces are cut to
//! their first million requests).

#[path = "common/traces.rs"]
mod traces;

use futures_util::FutureExt;
use nexus_cache::advisor::Shards;
use nexus_cache::{MemoryTier, TieredCache};
use traces::{belady, load, lru, next_use, traces_root};

/// Raw moka (0.12, bounded by entries, no weigher) with the same keys: `get`, `insert` on a miss.
/// `bounded`: run moka's pending maintenance after each insert, so it never holds more than
/// `cap` entries (as used, it admits and evicts in batches and holds more in between: up to
/// 63 % more at a capacity of 100).
fn moka_raw(keys: &[u64], cap: u64, bounded: bool) -> u64 {
    let cache: moka::sync::Cache<String, u8> = moka::sync::Cache::new(cap);
    let (mut buf, mut hits) = (String::new(), 0);
    for &k in keys {
        use std::fmt::Write;
        buf.clear();
        let _ = write!(buf, "{k}");
        if cache.get(&buf).is_some() {
            hits += 1;
        } else {
            cache.insert(buf.clone(), 0);
            if bounded {
                cache.run_pending_tasks();
            }
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

/// Per trace: name, mean ratios to Bélády (L1, moka, moka bounded, LRU), SHARDS error, rate,
/// requests.
type Row<'a> = (&'a str, f64, f64, f64, f64, f64, f64, usize);

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
        "| trace | capacity | Bélády % | LRU % | moka % | moka bounded % | nexus L1 % | L1 / Bélády | moka / Bélády | moka bounded / Bélády | LRU / Bélády | SHARDS LRU est. % |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let mut below_lru = 0;
    let mut summary = Vec::new();
    for (name, caps) in traces {
        let mut keys = load(&root, name);
        if quick && keys.len() > 1_000_000 {
            keys.truncate(1_000_000);
        }
        let next_use = next_use(&keys);
        let max_cap = *caps.iter().max().unwrap_or(&1);
        // SHARDS: sample at most 10 % of keys, fewer for large capacities (about 2 000 sampled
        // slots at the largest capacity), so the error shown is the sampling error.
        let rate = (2000.0 / max_cap as f64).min(0.1);
        let mut shards = Shards::new(rate, max_cap * 2);
        for (i, k) in keys.iter().enumerate() {
            shards.record(k, i as u64);
        }
        let n = keys.len() as f64;
        let (mut l1_sum, mut lru_sum, mut moka_sum, mut mb_sum, mut err_sum) =
            (0.0, 0.0, 0.0, 0.0, 0.0);
        for &cap in caps {
            let opt = belady(&keys, &next_use, cap as usize) as f64;
            let l = lru(&keys, cap as usize) as f64;
            let ours = nexus_l1(&keys, cap) as f64;
            let mk = moka_raw(&keys, cap, false) as f64;
            let mb = moka_raw(&keys, cap, true) as f64;
            let est = shards.hit_ratio(cap);
            let of_opt = |x: f64| if opt > 0.0 { x / opt } else { 1.0 };
            let (ro, rl, rm, rb) = (of_opt(ours), of_opt(l), of_opt(mk), of_opt(mb));
            mb_sum += rb;
            l1_sum += ro;
            lru_sum += rl;
            moka_sum += rm;
            err_sum += (est - l / n).abs();
            let flag = if (l - ours) / n > 0.01 {
                below_lru += 1;
                " ⚠"
            } else {
                ""
            };
            println!(
                "| {name} | {cap} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}{flag} | {ro:.3} | {rm:.3} | {rb:.3} | {rl:.3} | {:.2} |",
                100.0 * opt / n,
                100.0 * l / n,
                100.0 * mk / n,
                100.0 * mb / n,
                100.0 * ours / n,
                100.0 * est
            );
        }
        let k = caps.len() as f64;
        summary.push((
            name,
            l1_sum / k,
            moka_sum / k,
            mb_sum / k,
            lru_sum / k,
            100.0 * err_sum / k,
            rate,
            keys.len(),
        ));
    }
    println!();
    println!(
        "| trace | requests | nexus L1 / Bélády | moka / Bélády | moka bounded / Bélády | LRU / Bélády | SHARDS rate | SHARDS mean abs. error (points) |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for (name, l1, mk, mb, l, err, rate, n) in &summary {
        println!("| {name} | {n} | {l1:.3} | {mk:.3} | {mb:.3} | {l:.3} | {rate:.4} | {err:.2} |");
    }
    let m = summary.len() as f64;
    let mean = |f: fn(&Row<'_>) -> f64| summary.iter().map(f).sum::<f64>() / m;
    println!(
        "| **mean** | | **{:.3}** | {:.3} | {:.3} | {:.3} | | {:.2} |",
        mean(|s| s.1),
        mean(|s| s.2),
        mean(|s| s.3),
        mean(|s| s.4),
        mean(|s| s.5)
    );
    let below = |f: fn(&Row<'_>) -> f64| {
        summary
            .iter()
            .filter(|s| s.1 < f(s))
            .map(|s| s.0)
            .collect::<Vec<_>>()
    };
    println!(
        "\nrows where the L1 is more than 1 point below LRU: {below_lru}; traces where its mean is \
         below moka's: {:?}, below bounded moka's: {:?}",
        below(|s| s.2),
        below(|s| s.3)
    );
}
