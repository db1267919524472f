//! Secrets out of what is logged or answered: a URL is shown by scheme and host only.
//!
//! ```
//! use nexus_core::redact;
//! assert_eq!(redact::url("redis://:pa55@cache:6379/0"), "redis://cache:6379/…");
//! assert_eq!(redact::url("https://hooks.slack.com/services/T0/B0/XYZ"), "https://hooks.slack.com/…");
//! assert_eq!(redact::url("not a url"), "<unparsable URL>");
//! ```

/// `url` as scheme and host (with port) only: user info, path and query may hold tokens (a
/// Slack webhook's path is its secret, a Redis URL carries its password).
pub fn url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable URL>".to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let more = if rest.len() > authority.len() {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{more}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_scheme_and_host_remain() {
        for (given, shown) in [
            ("https://u:p@h:1/a?b=c", "https://h:1/…"),
            ("http://h/a@b", "http://h/…"),
            ("http://h:80", "http://h:80"),
            (
                "postgres://app:s3cret@db/app?sslmode=require",
                "postgres://db/…",
            ),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        ] {
            assert_eq!(super::url(given), shown, "{given}");
        }
    }
}
