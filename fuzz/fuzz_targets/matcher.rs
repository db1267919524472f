//! Label matchers (`{a="b", c=~"d.*"}`), as silences and inhibition rules take them: a typed error
//! or matchers, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nexus_alerting::{Labels, Matcher, matches_all};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ms) = Matcher::parse_list(src) {
        let labels = Labels::from_pairs([("alertname", "A"), ("severity", "critical")]);
        let _ = matches_all(&ms, &labels);
    }
    let _ = Matcher::parse(src);
});
