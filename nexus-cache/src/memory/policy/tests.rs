use super::*;

/// Checks the lists against the table: every entry in exactly one list, weights summed right.
fn check<V>(p: &Policy<V>) {
    let mut seen = 0;
    for (l, list) in p.lists.iter().enumerate() {
        let (mut i, mut w, mut prev) = (list.head, 0u64, NIL);
        while i != NIL {
            let n = &p.nodes[i as usize];
            assert_eq!(n.list as usize, l);
            assert_eq!(n.prev, prev);
            assert!(p.find(n.hash, &n.key) == Some(i));
            w += u64::from(n.weight);
            seen += 1;
            prev = i;
            i = n.next;
        }
        assert_eq!(list.tail, prev);
        assert_eq!(list.weight, w);
    }
    assert_eq!(seen, p.len());
    assert_eq!(p.table.len(), p.len());
}

fn h(k: u64) -> u64 {
    k.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k >> 7)
}

#[test]
fn random_operations_keep_the_structure_and_the_bound() {
    let mut p: Policy<u64> = Policy::new(1000, 100, 7);
    let mut x = 1u64;
    for step in 0..200_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = x % 300;
        let key = k.to_string();
        match x % 10 {
            0..=5 => {
                if p.get(h(k), &key).is_none() {
                    p.insert(h(k), &key, k, 1 + (x >> 20) as u32 % 30);
                }
            }
            6 | 7 => {
                p.insert(h(k), &key, k, 1 + (x >> 20) as u32 % 30);
            }
            8 => {
                p.remove(h(k), &key);
            }
            _ => {
                p.sweep(3, |v| *v % 17 == 0);
            }
        }
        assert!(p.weight() <= 1000);
        if step % 997 == 0 {
            check(&p);
        }
    }
    check(&p);
    let gone = p.remove_if(|_, v| v % 2 == 0);
    assert!(gone.iter().all(|v| v % 2 == 0));
    check(&p);
    assert!(p.evicted > 0);
}

#[test]
fn frequency_keeps_a_loop_larger_than_the_cache() {
    // LRU gets 0 %; an admitting cache about capacity / loop length.
    let mut p: Policy<()> = Policy::new(500, 500, 1);
    let (mut hits, mut n) = (0, 0);
    for _ in 0..50 {
        for k in 0..1000u64 {
            let key = k.to_string();
            if p.get(h(k), &key).is_some() {
                hits += 1;
            } else {
                p.insert(h(k), &key, (), 1);
            }
            n += 1;
        }
    }
    assert!(hits as f64 / n as f64 > 0.4, "{hits} of {n}");
}

#[test]
fn an_entry_heavier_than_the_capacity_is_not_kept() {
    let mut p: Policy<u8> = Policy::new(100, 10, 1);
    p.insert(1, "a", 1, 10);
    let out = p.insert(2, "big", 2, 1000);
    assert_eq!(out, vec![2]);
    assert!(p.peek(1, "a").is_some());
    check(&p);
}
