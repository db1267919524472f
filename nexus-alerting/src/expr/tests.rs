//! Parser and evaluator tests.

use super::*;

#[test]
fn parses_the_subset() {
    let e = Expr::parse(r#"up{job="api", env!~"dev|test"} == 0"#).unwrap();
    assert_eq!(e.cmp, Some((CmpOp::Eq, 0.0)));
    assert_eq!(e.operand.selector().matchers.len(), 2);
    let e = Expr::parse("max_over_time(lat_seconds[1h30m]) >= 2").unwrap();
    assert_eq!(e.range(), 5_400_000);
    let e = Expr::parse("0.8 > cache_hit_ratio").unwrap();
    assert_eq!(e.cmp, Some((CmpOp::Lt, 0.8)));
    let e = Expr::parse("x < -1e3").unwrap();
    assert_eq!(e.threshold(), Some(-1000.0));
    assert!(Expr::parse("{job=\"a\"}").is_ok());
    assert!(Expr::parse("http:rate5m:ratio > 1").is_ok());
    let e = Expr::parse(r#"anomaly(latency_seconds{route="/a"}) >= 0.5"#).unwrap();
    assert!(matches!(e.operand, Operand::Anomaly(_)));
    assert!(Expr::parse("anomaly(x[5m]) > 0.5").is_err());
}

#[test]
fn rejects_with_position() {
    for (src, off) in [
        ("sum(x) > 1", 0),
        ("x > bool 1", 4),
        ("rate(x) > 1", 6),
        ("x[5m] > 1", 1),
        ("x > 1 and y", 6),
        ("histogram_quantile(0.9, x)", 0),
        ("x{a=1}", 4),
        ("{a=~\".*\"}", 0),
        ("rate(x[5m] offset 1m)", 11),
        ("x > ", 4),
        ("x{a=~\"(\"}", 5),
        ("x + 1", 2),
    ] {
        let e = Expr::parse(src).unwrap_err();
        assert_eq!(e.offset, off, "{src}: {}", e.message);
    }
}

#[test]
fn rate_matches_prometheus_extrapolation() {
    // A clean counter +60/min sampled every minute over a 5 m window: rate = 1/s.
    let s: Vec<(Millis, f64)> = (5..=10).map(|m| (m * 60_000, m as f64 * 60.0)).collect();
    assert_eq!(RangeFn::Rate.apply(&s, 300_000, 600_000), Some(1.0));
    assert_eq!(RangeFn::Increase.apply(&s, 300_000, 600_000), Some(300.0));
    // A counter reset adds the value before the reset.
    let s = vec![(0, 10.0), (60_000, 20.0), (120_000, 5.0)];
    assert_eq!(RangeFn::Increase.apply(&s, 0, 120_000), Some(15.0));
    assert_eq!(RangeFn::Rate.apply(&s[..1], 0, 120_000), None);
    assert_eq!(RangeFn::MaxOverTime.apply(&s, 0, 1), Some(20.0));
    assert!((RangeFn::AvgOverTime.apply(&s, 0, 1).unwrap() - 35.0 / 3.0).abs() < 1e-12);
}
