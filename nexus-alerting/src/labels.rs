//! `Labels`: a sorted label set and its Prometheus-compatible fingerprint.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The label holding a series' metric name.
pub const METRIC_NAME: &str = "__name__";
/// The label every alert carries with its rule's name.
pub const ALERT_NAME: &str = "alertname";

/// A set of labels, sorted by name, each name at most once.
///
/// ```
/// use nexus_alerting::Labels;
/// let l = Labels::from_pairs([("job", "api"), ("instance", "a:80")]);
/// assert_eq!(l.get("job"), Some("api"));
/// assert_eq!(l.to_string(), r#"{instance="a:80", job="api"}"#);
/// // The fingerprint is Prometheus' (FNV-1a over sorted pairs): stable across processes.
/// assert_eq!(l.fingerprint(), Labels::from_pairs([("instance", "a:80"), ("job", "api")]).fingerprint());
/// ```
///
/// Cloning is a reference-count increment (alerts are resent every evaluation); a change copies.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Arc<Vec<(String, String)>>);

const FNV_OFFSET: u64 = 14695981039346656037;
const FNV_PRIME: u64 = 1099511628211;
const SEP: u8 = 0xff;

impl Labels {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set from pairs; a later pair with the same name wins. Empty values are dropped, as in
    /// Prometheus (a label with an empty value is the same as no label).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut l = Self::new();
        for (k, v) in pairs {
            l.insert(k, v);
        }
        l
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// Sets `name` to `value` (an empty value removes the label).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&name)) {
            Ok(i) if value.is_empty() => {
                Arc::make_mut(&mut self.0).remove(i);
            }
            Ok(i) if self.0[i].1 == value => {}
            Ok(i) => Arc::make_mut(&mut self.0)[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => Arc::make_mut(&mut self.0).insert(i, (name, value)),
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self
            .0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()?;
        Some(Arc::make_mut(&mut self.0).remove(i).1)
    }

    /// The pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No labels at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Prometheus' fingerprint: FNV-1a 64 over `name 0xff value 0xff` for each pair in name
    /// order (the same value `model.LabelSet.Fingerprint` gives, so alert identities match
    /// Prometheus and Alertmanager).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint_without(None)
    }

    /// The fingerprint ignoring one label (tiered rules exclude `severity`, so a severity change
    /// is the same alert).
    pub fn fingerprint_without(&self, skip: Option<&str>) -> u64 {
        let mut h = FNV_OFFSET;
        for (k, v) in self.0.iter() {
            if Some(k.as_str()) == skip {
                continue;
            }
            for b in k.bytes().chain([SEP]).chain(v.bytes()).chain([SEP]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(FNV_PRIME);
            }
        }
        h
    }

    /// A hash of the labels `keep` accepts (names and values), for grouping without building the
    /// group's label set: equal subsets hash equally; compare with [`Self::subset_eq`].
    pub(crate) fn subset_hash(&self, keep: impl Fn(&str) -> bool) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = foldhash::fast::FixedState::with_seed(0x006e_6578_7573).build_hasher();
        for (k, v) in self.0.iter().filter(|(k, _)| keep(k)) {
            h.write(k.as_bytes());
            h.write_u8(SEP);
            h.write(v.as_bytes());
            h.write_u8(SEP);
        }
        h.finish()
    }

    /// Whether the labels `keep` accepts are exactly `subset`.
    pub(crate) fn subset_eq(&self, subset: &Labels, keep: impl Fn(&str) -> bool) -> bool {
        self.0.iter().filter(|(k, _)| keep(k)).eq(subset.0.iter())
    }

    /// The labels `keep` accepts.
    pub(crate) fn subset(&self, keep: impl Fn(&str) -> bool) -> Labels {
        Labels(Arc::new(
            self.0.iter().filter(|(k, _)| keep(k)).cloned().collect(),
        ))
    }

    /// Only the labels in `names` (Alertmanager's `group_by`, inhibition's `equal`).
    pub fn project(&self, names: &[String]) -> Labels {
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|(k, _)| names.iter().any(|n| n == k))
                .cloned()
                .collect(),
        ))
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Self::from_pairs(iter)
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        Ok(Self::from_pairs(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_prometheus_model() {
        // Values from prometheus/common model/signature_test.go (TestLabelsToSignature,
        // which uses the same FNV-1a construction): the empty set hashes to the FNV offset.
        assert_eq!(Labels::new().fingerprint(), 14695981039346656037);
        assert_eq!(
            Labels::from_pairs([("name", "garland, briggs"), ("fear", "love is not enough")])
                .fingerprint(),
            5799056148416392346
        );
    }

    #[test]
    fn empty_values_are_absent() {
        let mut l = Labels::from_pairs([("a", "1"), ("b", "")]);
        assert_eq!(l.len(), 1);
        l.insert("a", "");
        assert!(l.is_empty());
    }
}
