//! Inhibition: a firing source alert mutes target alerts that share the `equal` labels.

use foldhash::{HashMap, HashMapExt};

use crate::alert::Alert;
use crate::error::Error;
use crate::labels::Labels;
use crate::matcher::{Matcher, matches_all};

/// An inhibition rule (Alertmanager's `inhibit_rules` entry).
///
/// ```
/// use nexus_alerting::InhibitRule;
/// // A critical alert mutes the warnings of the same alert name and service.
/// let r = InhibitRule::new(r#"severity="critical""#, r#"severity="warning""#, ["alertname", "service"]).unwrap();
/// # let _ = r;
/// ```
#[derive(Debug, Clone)]
pub struct InhibitRule {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
}

impl InhibitRule {
    /// A rule from matcher lists and the labels that must be equal.
    pub fn new<S: Into<String>>(
        source_matchers: &str,
        target_matchers: &str,
        equal: impl IntoIterator<Item = S>,
    ) -> Result<Self, Error> {
        let source = Matcher::parse_list(source_matchers).map_err(Error::Config)?;
        let target = Matcher::parse_list(target_matchers).map_err(Error::Config)?;
        if source.is_empty() || target.is_empty() {
            return Err(Error::Config(
                "an inhibition rule needs source and target matchers".into(),
            ));
        }
        Ok(Self {
            source,
            target,
            equal: equal.into_iter().map(Into::into).collect(),
        })
    }
}

/// Per rule: equal values → (source fingerprint, source also matches the target side).
type Sources = HashMap<Vec<String>, Vec<(u64, bool)>>;

/// Firing source alerts of every rule, indexed by their `equal` label values.
pub(crate) struct Index<'a> {
    rules: &'a [InhibitRule],
    sources: Vec<Sources>,
}

fn key(labels: &Labels, equal: &[String]) -> Vec<String> {
    equal
        .iter()
        .map(|e| labels.get(e).unwrap_or("").to_owned())
        .collect()
}

impl<'a> Index<'a> {
    pub(crate) fn build<'b>(
        rules: &'a [InhibitRule],
        alerts: impl Iterator<Item = &'b Alert> + Clone,
        now: i64,
    ) -> Self {
        let mut sources = Vec::with_capacity(rules.len());
        for r in rules {
            let mut m = Sources::new();
            for a in alerts.clone() {
                if !a.is_resolved(now) && matches_all(&r.source, &a.labels) {
                    m.entry(key(&a.labels, &r.equal))
                        .or_default()
                        .push((a.fingerprint, matches_all(&r.target, &a.labels)));
                }
            }
            sources.push(m);
        }
        Self { rules, sources }
    }

    /// The fingerprint of an alert inhibiting `target`, if any.
    pub(crate) fn inhibited_by(&self, target: &Alert) -> Option<u64> {
        for (r, srcs) in self.rules.iter().zip(&self.sources) {
            if srcs.is_empty() || !matches_all(&r.target, &target.labels) {
                continue;
            }
            let both = matches_all(&r.source, &target.labels);
            if let Some(list) = srcs.get(&key(&target.labels, &r.equal)) {
                // An alert never inhibits itself; when the target matches both sides, only a
                // source that does not also match the target side inhibits it (no mutual muting).
                if let Some((fp, _)) = list
                    .iter()
                    .find(|(fp, src_both)| *fp != target.fingerprint && !(both && *src_both))
                {
                    return Some(*fp);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        Alert::new(Labels::from_pairs(pairs.iter().copied()), 0)
    }

    #[test]
    fn critical_mutes_warning_of_same_service() {
        let rules = [InhibitRule::new(
            r#"severity="critical""#,
            r#"severity="warning""#,
            ["service"],
        )
        .unwrap()];
        let crit = alert(&[
            ("alertname", "Down"),
            ("severity", "critical"),
            ("service", "api"),
        ]);
        let warn_same = alert(&[
            ("alertname", "Slow"),
            ("severity", "warning"),
            ("service", "api"),
        ]);
        let warn_other = alert(&[
            ("alertname", "Slow"),
            ("severity", "warning"),
            ("service", "web"),
        ]);
        let all = [crit.clone(), warn_same.clone(), warn_other.clone()];
        let idx = Index::build(&rules, all.iter(), 1);
        assert_eq!(idx.inhibited_by(&warn_same), Some(crit.fingerprint));
        assert_eq!(idx.inhibited_by(&warn_other), None);
        assert_eq!(idx.inhibited_by(&crit), None);
        // A resolved source inhibits nothing.
        let mut resolved = crit.clone();
        resolved.ends_at = Some(0);
        let all = [resolved, warn_same.clone()];
        assert_eq!(
            Index::build(&rules, all.iter(), 1).inhibited_by(&warn_same),
            None
        );
    }

    #[test]
    fn alerts_matching_both_sides_do_not_mute_each_other() {
        let rules = [InhibitRule::new(r#"team="db""#, r#"team="db""#, ["team"]).unwrap()];
        let a = alert(&[("alertname", "A"), ("team", "db")]);
        let b = alert(&[("alertname", "B"), ("team", "db")]);
        let all = [a.clone(), b.clone()];
        let idx = Index::build(&rules, all.iter(), 1);
        assert_eq!(idx.inhibited_by(&a), None);
        assert_eq!(idx.inhibited_by(&b), None);
    }
}
