//! Prometheus' text exposition format (what `/metrics` serves) → samples, and a [`Source`]
//! that feeds the engine the process's own metrics under the names and labels `/metrics` shows.

use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use foldhash::HashSet;

use crate::labels::{Labels, METRIC_NAME};
use crate::source::Source;
use crate::store::{STALE_NAN, Sample};
use crate::time::Millis;

/// Parses exposition text: one sample per series line (`# HELP`/`# TYPE` and comments
/// skipped), stamped `now` unless the line carries its own timestamp.
///
/// ```
/// let text = "# TYPE http_requests_total counter\n\
///             http_requests_total{route=\"/a\",code=\"200\"} 1027\n\
///             latency_seconds_bucket{le=\"+Inf\"} 3\n";
/// let samples = nexus_alerting::exposition::parse(text, 1_000).unwrap();
/// assert_eq!(samples.len(), 2);
/// assert_eq!(samples[0].labels.get("route"), Some("/a"));
/// assert_eq!(samples[1].labels.get("le"), Some("+Inf"));
/// assert!(nexus_alerting::exposition::parse("bad{ 1", 0).is_err());
/// ```
pub fn parse(text: &str, now: Millis) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_line(line, now).map_err(|e| format!("line {}: {e}: {line:?}", n + 1))?);
    }
    Ok(out)
}

fn parse_line(line: &str, now: Millis) -> Result<Sample, String> {
    let b = line.as_bytes();
    let name_len = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b':')
        .count();
    if name_len == 0 || b[0].is_ascii_digit() {
        return Err("expected a metric name".into());
    }
    let mut labels = Labels::new();
    labels.insert(METRIC_NAME, &line[..name_len]);
    let mut i = name_len;
    if b.get(i) == Some(&b'{') {
        i += 1;
        loop {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            if b.get(i) == Some(&b'}') {
                i += 1;
                break;
            }
            let start = i;
            while b
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                i += 1;
            }
            if start == i || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                return Err("expected label=\"value\"".into());
            }
            let key = &line[start..i];
            i += 2;
            let mut value = String::new();
            loop {
                match b.get(i) {
                    None => return Err("unterminated label value".into()),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        value.push(match b.get(i + 1) {
                            Some(b'n') => '\n',
                            Some(b'\\') => '\\',
                            Some(b'"') => '"',
                            _ => return Err("bad escape in label value".into()),
                        });
                        i += 2;
                    }
                    Some(_) => {
                        let ch = line[i..].chars().next().unwrap_or('?');
                        value.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            labels.insert(key, value);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err("expected , or } after a label".into()),
            }
        }
    }
    let mut fields = line[i..].split_whitespace();
    let value = fields.next().ok_or("missing value")?;
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    let ts = match fields.next() {
        Some(t) => t.parse().map_err(|_| format!("bad timestamp {t:?}"))?,
        None => now,
    };
    Ok(Sample {
        labels,
        value,
        timestamp: ts,
    })
}

/// A [`Source`] reading exposition text (the process's own `/metrics`, rendered in memory) at
/// every evaluation. A series that disappears gets a staleness marker, as Prometheus' scrape
/// gives one, so rules stop seeing it at once instead of after the 5-minute lookback.
///
/// ```
/// use nexus_alerting::exposition::ExpositionSource;
/// let src = ExpositionSource::new("self", || Ok("up 1\n".to_owned()));
/// # let _ = src;
/// ```
pub struct ExpositionSource<F> {
    name: String,
    render: F,
    seen: Mutex<HashSet<Labels>>,
}

impl<F> ExpositionSource<F>
where
    F: Fn() -> Result<String, String> + Send + Sync,
{
    /// A source named `name`; `render` returns the exposition text.
    pub fn new(name: &str, render: F) -> Self {
        Self {
            name: name.to_owned(),
            render,
            seen: Mutex::new(HashSet::default()),
        }
    }
}

impl<F> fmt::Debug for ExpositionSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpositionSource")
            .field("name", &self.name)
            .finish()
    }
}

#[async_trait]
impl<F> Source for ExpositionSource<F>
where
    F: Fn() -> Result<String, String> + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    async fn collect(&self, now: Millis) -> Result<Vec<Sample>, String> {
        let mut samples = parse(&(self.render)()?, now)?;
        let current: HashSet<Labels> = samples.iter().map(|s| s.labels.clone()).collect();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for gone in seen.difference(&current) {
            samples.push(Sample {
                labels: gone.clone(),
                value: f64::from_bits(STALE_NAN),
                timestamp: now,
            });
        }
        *seen = current;
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_specials_and_timestamps() {
        let s = parse("a{x=\"q\\\"\\n\\\\\",} NaN 5\nb -Inf\n", 9).unwrap();
        assert_eq!(s[0].labels.get("x"), Some("q\"\n\\"));
        assert!(s[0].value.is_nan() && s[0].timestamp == 5);
        assert_eq!((s[1].value, s[1].timestamp), (f64::NEG_INFINITY, 9));
        for bad in [
            "{a=\"b\"} 1",
            "a{b=c} 1",
            "a{b=\"c\" 1",
            "a",
            "a x",
            "a{b=\"\\q\"} 1",
        ] {
            assert!(parse(bad, 0).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn vanished_series_get_a_staleness_marker() {
        let text = Mutex::new("a 1\nb 2\n".to_owned());
        let src = ExpositionSource::new("t", || Ok(text.lock().unwrap().clone()));
        assert_eq!(src.collect(1).await.unwrap().len(), 2);
        *text.lock().unwrap() = "a 1\n".into();
        let s = src.collect(2).await.unwrap();
        let b = s
            .iter()
            .find(|s| s.labels.get("__name__") == Some("b"))
            .unwrap();
        assert!(crate::is_stale(b.value));
    }
}
