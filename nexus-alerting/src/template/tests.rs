use super::*;

fn render(src: &str, value: f64) -> String {
    let l = Labels::from_pairs([("job", "api"), ("instance", "h:1")]);
    let e = Labels::from_pairs([("cluster", "eu")]);
    Template::parse(src)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
        .render(
            &TemplateData::new(&l, value)
                .external(&e)
                .external_url("http://prom.example/p/"),
        )
}

#[test]
fn renders_like_prometheus() {
    assert_eq!(render("{{ $value }}", 0.5), "0.5");
    assert_eq!(render("{{ $value }}", 1e6), "1e+06");
    assert_eq!(
        render("{{$labels.job}}/{{ .Labels.instance }}", 0.0),
        "api/h:1"
    );
    assert_eq!(
        render("{{ $externalLabels.cluster }} {{ $externalURL }}", 0.0),
        "eu http://prom.example/p/"
    );
    // Prometheus runs templates with missingkey=zero.
    assert_eq!(render("[{{ $labels.nope }}]", 0.0), "[]");
    assert_eq!(render("{{ $labels }}", 0.0), "map[instance:h:1 job:api]");
    assert_eq!(render("{{ humanize $value }}", 1234567.0), "1.235M");
    assert_eq!(render("{{ printf \"%.2f\" $value }}s", 2.345), "2.35s");
    assert_eq!(render("a  {{- $value -}}  b", 1.0), "a1b");
    assert_eq!(render("{{/* note */}}x", 1.0), "x");
    assert_eq!(render("{{ $labels.job | toUpper }}", 1.0), "API");
}

#[test]
fn control_structures_and_variables() {
    assert_eq!(
        render(
            "{{ if gt $value 0.5 }}high{{ else if gt $value 0.1 }}mid{{ else }}low{{ end }}",
            0.3
        ),
        "mid"
    );
    assert_eq!(
        render("{{ with $labels.job }}job={{ . }}{{ end }}", 0.0),
        "job=api"
    );
    assert_eq!(
        render("{{ with $labels.nope }}x{{ else }}none{{ end }}", 0.0),
        "none"
    );
    assert_eq!(
        render(
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            0.0
        ),
        "instance=h:1;job=api;"
    );
    assert_eq!(
        render(
            "{{ $x := 2 }}{{ if eq $x 2 }}two{{ end }}{{ $x = 3 }}{{ $x }}",
            0.0
        ),
        "two3"
    );
    assert_eq!(
        render(
            "{{ if and (gt $value 1.0) (lt $value 5.0) }}in{{ end }}",
            2.0
        ),
        "in"
    );
    assert_eq!(
        render("{{ len $labels }} {{ index $labels \"job\" }}", 0.0),
        "2 api"
    );
}

#[test]
fn prometheus_functions() {
    assert_eq!(render("{{ humanize1024 $value }}", 1_048_576.0), "1Mi");
    assert_eq!(
        render("{{ humanizeDuration $value }}", 90061.0),
        "1d 1h 1m 1s"
    );
    assert_eq!(render("{{ humanizeDuration $value }}", 0.0012), "1.2ms");
    assert_eq!(render("{{ humanizePercentage $value }}", 0.0731), "7.31%");
    assert_eq!(
        render("{{ humanizeTimestamp $value }}", 1_435_065_584.128),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        render("{{ title \"hello world-wide\" }}", 0.0),
        "Hello World-Wide"
    );
    assert_eq!(
        render(
            "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}",
            0.0
        ),
        "h"
    );
    assert_eq!(
        render("{{ if match \"^a.i$\" $labels.job }}yes{{ end }}", 0.0),
        "yes"
    );
    assert_eq!(
        render(
            "{{ stripPort \"[::1]:9090\" }} {{ stripPort \"host\" }}",
            0.0
        ),
        "::1 host"
    );
    assert_eq!(
        render("{{ stripDomain \"db1.example.com:5432\" }}", 0.0),
        "db1:5432"
    );
    assert_eq!(render("{{ (args 1 \"x\").arg1 }}", 0.0), "x");
    assert_eq!(render("{{ pathPrefix }}", 0.0), "/p");
}

#[test]
fn printf_matches_go() {
    assert_eq!(render("{{ printf \"%d\" $value }}", 5.0), "%!d(float64=5)");
    assert_eq!(render("{{ printf \"%d items\" 5 }}", 0.0), "5 items");
    assert_eq!(render("{{ printf \"%s\" $value }}", 5.0), "%!s(float64=5)");
    assert_eq!(
        render("{{ printf \"%5.1f|%-6s|%05d\" $value \"ab\" 42 }}", 3.125),
        "  3.1|ab    |00042"
    );
    assert_eq!(render("{{ printf \"%d %d\" 1 }}", 0.0), "1 %!d(MISSING)");
    assert_eq!(render("{{ printf \"%d\" 1 2 }}", 0.0), "1%!(EXTRA int=2)");
    assert_eq!(
        render("{{ printf \"%q %v %t\" \"a\" $labels.job true }}", 0.0),
        "\"a\" api true"
    );
    assert_eq!(
        render("{{ printf \"%.3e %g\" $value $value }}", 1234.5),
        "1.234e+03 1234.5"
    );
}

#[test]
fn query_runs_through_the_given_engine() {
    let l = Labels::new();
    let q = |expr: &str| -> Result<Vec<(Labels, f64)>, String> {
        assert_eq!(expr, "up == 0");
        Ok(vec![(
            Labels::from_pairs([("__name__", "up"), ("instance", "a:1")]),
            0.0,
        )])
    };
    let t = Template::parse("{{ with query \"up == 0\" }}{{ . | first | label \"instance\" }} is {{ . | first | value }}{{ end }}").unwrap();
    assert!(t.uses_query());
    assert_eq!(t.render(&TemplateData::new(&l, 0.0).query(&q)), "a:1 is 0");
    assert!(
        t.render(&TemplateData::new(&l, 0.0))
            .starts_with("<error expanding template:")
    );
}

#[test]
fn errors_render_as_prometheus_does() {
    assert_eq!(
        render("{{ humanize \"abc\" }}", 0.0),
        "<error expanding template: error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax>"
    );
    assert!(render("{{ gt $value 1 }}", 0.0).contains("incompatible types for comparison"));
}

#[test]
fn hostile_templates_render_bounded_and_never_panic() {
    assert_eq!(
        render("{{ printf \"%.70000f\" $value }}", 1.0),
        "%!(BADPREC)"
    );
    assert_eq!(
        render("{{ printf \"%.99999999999999999999999f\" $value }}", 1.0),
        "%!(BADPREC)"
    );
    assert_eq!(render("{{ printf \"%.100e\" $value }}", 1.0).len(), 106);
    let many = "{{ printf \"%.100f\" $value }}".repeat(1000);
    let out = render(&many, 1e300);
    assert!(out.len() <= MAX_OUTPUT + '…'.len_utf8(), "{}", out.len());
    assert!(out.ends_with('…'));
    let nested = "{{ range $labels }}".repeat(5) + "{{ $value }}" + &"{{ end }}".repeat(5);
    assert!(render(&nested, 1.0).len() <= MAX_OUTPUT + 3);
    assert!(Template::parse(&("{{ if 1 }}".repeat(100) + &"{{ end }}".repeat(100))).is_err());
}

#[test]
fn rejects_with_position() {
    let e = Template::parse("ok {{ template \"x\" }}").unwrap_err();
    assert_eq!(e.offset, 6);
    let e = Template::parse("ok {{ nosuchfn $value }}").unwrap_err();
    assert_eq!(e.offset, 6);
    assert!(e.message.contains("supported"), "{e}");
    assert!(Template::parse("{{ $value ").is_err());
    assert!(Template::parse("{{ \"abc }}").is_err());
    assert!(Template::parse("{{ }}").is_err());
    assert!(Template::parse("{{ if $value }}x").is_err());
    assert!(Template::parse("{{ end }}").is_err());
}
