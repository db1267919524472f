//! `histogram_quantile` and `histogram_fraction` over classic `_bucket` series.

/// Relative tolerance under which bucket counts count as equal (Prometheus' `smallDeltaTolerance`).
const SMALL_DELTA: f64 = 1e-12;

/// Prometheus' `almost.Equal`.
pub(crate) fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// One classic bucket: upper bound (`le`) and cumulative count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub(crate) le: f64,
    pub(crate) count: f64,
}

fn sort_and_coalesce(b: &mut Vec<Bucket>) {
    b.sort_by(|x, y| x.le.partial_cmp(&y.le).unwrap_or(std::cmp::Ordering::Equal));
    let mut out: Vec<Bucket> = Vec::with_capacity(b.len());
    for x in b.drain(..) {
        match out.last_mut() {
            Some(last) if last.le == x.le => last.count += x.count,
            _ => out.push(x),
        }
    }
    *b = out;
}

/// Makes counts monotonic: (forced, fixed precision).
fn ensure_monotonic(b: &mut [Bucket]) -> bool {
    let mut forced = false;
    let mut prev = b[0].count;
    for x in b.iter_mut().skip(1) {
        let cur = x.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, SMALL_DELTA) {
            x.count = prev;
            continue;
        }
        if cur < prev {
            x.count = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    forced
}

/// Prometheus' `BucketQuantile`: (value, forced monotonic).
pub(crate) fn bucket_quantile(q: f64, mut b: Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    if b.is_empty() {
        return (f64::NAN, false);
    }
    sort_and_coalesce(&mut b);
    if b[b.len() - 1].le != f64::INFINITY {
        return (f64::NAN, false);
    }
    let forced = ensure_monotonic(&mut b);
    if b.len() < 2 {
        return (f64::NAN, false);
    }
    let observations = b[b.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, false);
    }
    let mut rank = q * observations;
    let n = b.len() - 1;
    let i = b[..n].partition_point(|x| x.count < rank);
    if i == n {
        return (b[n - 1].le, forced);
    }
    if i == 0 && b[0].le <= 0.0 {
        return (b[0].le, forced);
    }
    let (mut start, end, mut count) = (0.0, b[i].le, b[i].count);
    if i > 0 {
        start = b[i - 1].le;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Prometheus' `BucketFraction`: the estimated share of observations in `(lower, upper]`.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, mut b: Vec<Bucket>) -> f64 {
    if b.is_empty() {
        return f64::NAN;
    }
    sort_and_coalesce(&mut b);
    if b[b.len() - 1].le != f64::INFINITY {
        return f64::NAN;
    }
    let count = b[b.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0f64, 0.0f64, 0.0f64);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, x) in b.iter().enumerate() {
        let lower_bound = if i > 0 {
            b[i - 1].le
        } else if x.le > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let upper_bound = x.le;
        let interpolate =
            |v: f64| rank + (x.count - rank) * (v - lower_bound) / (upper_bound - lower_bound);
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = x.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}
