//! Annotation templates: parse to a typed error, or render within bounds, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nexus_alerting::{Labels, Template, TemplateData};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = Template::parse(src) else { return };
    let labels = Labels::from_pairs([("job", "api"), ("instance", "h:1")]);
    let external = Labels::from_pairs([("cluster", "eu")]);
    for value in [0.0, -1.5, 1e300, f64::NAN, f64::INFINITY] {
        let query = |_: &str| -> Result<Vec<(Labels, f64)>, String> {
            Ok(vec![(Labels::from_pairs([("instance", "a:1")]), value)])
        };
        let data = TemplateData::new(&labels, value)
            .external(&external)
            .query(&query);
        let out = t.render(&data);
        assert!(out.len() <= 16 * 1024 + 3, "rendered {} bytes", out.len());
    }
});
