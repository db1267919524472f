//! PromQL: parse to a typed error with a position, or evaluate within bounds, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nexus_alerting::{EvalConfig, Evaluator, Labels, Sample};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let expr = match nexus_alerting::promql::parse(src) {
        Ok(e) => e,
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1, "{e}");
            return;
        }
    };
    let mut ev = Evaluator::new(EvalConfig::default());
    for (i, v) in [1.0, 5.0, f64::NAN, 2.0, 0.0].into_iter().enumerate() {
        for (name, le) in [("up", ""), ("http_requests_total", ""), ("h_bucket", "0.5"), ("h_bucket", "+Inf")] {
            let labels = Labels::from_pairs([("job", "a"), ("le", le)]);
            ev.push(Sample::new(name, labels, v * (i as f64 + 1.0), i as i64 * 15_000));
        }
    }
    let _ = ev.query(&expr, 60_000);
});
