use super::*;

fn err(src: &str) -> ParseError {
    parse(src).expect_err(src)
}

#[test]
fn parses_real_world_rules() {
    for src in [
        r#"sum by (route) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (route) (rate(http_requests_total[5m])) > 0.05"#,
        r#"histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m])))"#,
        r#"absent(up{job="api"} == 1)"#,
        r#"predict_linear(node_filesystem_free_bytes{fstype!="tmpfs"}[6h], 4 * 3600) < 0"#,
        r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
        r#"max_over_time(rate(x_total[1m])[10m:30s] offset -5m @ end())"#,
        r#"a * on(instance) group_left(node) b"#,
        r#"count by (job) (changes(process_start_time_seconds[1h]) > 3)"#,
        r#"-x ^ 2 + time() % 60 atan2 1"#,
        r#"{"my.metric", "label.name"="v"}"#,
        "sum(x) without (a,)",
    ] {
        parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    }
}

#[test]
fn precedence_and_associativity() {
    // `^` is right-associative and binds tighter than unary minus.
    let Expr::Neg(inner) = parse("-2 ^ 3 ^ 2").unwrap() else {
        panic!("expected a negation");
    };
    let Expr::Binary {
        op: BinOp::Pow,
        rhs,
        ..
    } = *inner
    else {
        panic!("expected ^");
    };
    assert!(matches!(*rhs, Expr::Binary { op: BinOp::Pow, .. }));
    // `or` binds loosest, `and` tighter, comparisons tighter still.
    let Expr::Binary {
        op: BinOp::Or, rhs, ..
    } = parse("a or b and c > 1").unwrap()
    else {
        panic!("expected or at the top");
    };
    assert!(matches!(*rhs, Expr::Binary { op: BinOp::And, .. }));
}

#[test]
fn errors_name_line_and_column() {
    let e = err("sum(rate(x[5m]) by (a)");
    assert_eq!((e.line, e.column), (1, 17), "{e}");
    let e = err("rate(x[5m])\n  + foo{a=\"b\" c=\"d\"}");
    assert_eq!((e.line, e.column), (2, 15), "{e}");
    assert!(e.to_string().starts_with("2:15: parse error:"), "{e}");
}

#[test]
fn type_errors_fail_at_parse() {
    for (src, msg) in [
        (
            "rate(x)",
            "expected type range vector in call to function \"rate\"",
        ),
        (
            "x[5m] + 1",
            "binary expression must contain only scalar and instant vector",
        ),
        (
            "1 > 2",
            "comparisons between scalars must use BOOL modifier",
        ),
        (
            "1 and x",
            "set operator \"and\" not allowed in binary scalar expression",
        ),
        (
            "x + bool y",
            "bool modifier can only be used on comparison operators",
        ),
        ("sum(x) offset 5m", "offset modifier must be preceded by"),
        ("(x + y)[5m]", "ranges only allowed for vector selectors"),
        ("{a=~\".*\"}", "at least one non-empty matcher"),
        ("foo{__name__=\"bar\"}", "metric name must not be set twice"),
        (
            "nonexistent_fn(x)",
            "unknown function with name \"nonexistent_fn\"",
        ),
        ("topk(x)", "wrong number of arguments"),
        (
            "x and on(a) group_left b",
            "no grouping allowed for \"and\" operation",
        ),
        ("x{a=~\"(\"}", "invalid regular expression"),
        ("round(x, 1, 2)", "expected 1 to 2 argument(s)"),
    ] {
        let e = err(src);
        assert!(e.message.contains(msg), "{src}: {e}");
    }
}

#[test]
fn hostile_input_is_bounded() {
    let deep = "(".repeat(10_000) + "1" + &")".repeat(10_000);
    assert!(err(&deep).message.contains("nested more than"));
    assert!(parse(&"x + ".repeat(50)).is_err());
    assert!(err("x @ 1e300").message.contains("out of bounds"));
}

#[test]
fn evaluation_is_bounded() {
    let store = crate::store::Store::new(3_600_000);
    let q = Query::default();
    let e = parse("max_over_time(up[1y:1ms])").unwrap();
    assert!(matches!(
        q.instant(&store, &e, 0),
        Err(EvalError::TooManySteps(_))
    ));
    let e = parse("max_over_time(up[1h:1s])").unwrap();
    assert!(q.instant(&store, &e, 0).is_ok());
    let mut store = crate::store::Store::new(3_600_000);
    for t in 0..100 {
        store.push(
            &crate::Labels::from_pairs([("__name__", "up")]),
            t * 1000,
            1.0,
        );
    }
    let e = parse("count_over_time(up[1h])").unwrap();
    let small = Query::default().max_samples(10);
    assert!(matches!(
        small.instant(&store, &e, 100_000),
        Err(EvalError::TooManySamples(10))
    ));
}
