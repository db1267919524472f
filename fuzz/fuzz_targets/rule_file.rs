//! Rule files (YAML, expressions, templates): a typed error or rule groups, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        let _ = nexus_alerting::parse_rule_file("fuzz.yml", src);
    }
});
