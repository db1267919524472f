//! Silences: matchers and a time window; pending → active → expired.

use serde::Serialize;

use crate::error::Error;
use crate::labels::Labels;
use crate::matcher::{Matcher, matches_all};
use crate::time::Millis;

/// Where a silence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SilenceState {
    /// Starts in the future.
    Pending,
    /// Mutes matching alerts now.
    Active,
    /// Over.
    Expired,
}

/// A silence: mutes alerts whose labels pass all its matchers while it is active.
///
/// ```
/// use nexus_alerting::{Labels, Silence, SilenceState};
/// let s = Silence::new(r#"{alertname="HighLatency", route=~"/admin.*"}"#, 1_000, 5_000, "ana", "deploy").unwrap();
/// assert_eq!(s.state(500), SilenceState::Pending);
/// assert!(s.mutes(&Labels::from_pairs([("alertname", "HighLatency"), ("route", "/admin/x")]), 2_000));
/// assert!(Silence::new(r#"{x=~".*"}"#, 0, 1, "a", "").is_err()); // would match everything
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    /// Identifier (set when added to a pipeline).
    pub id: String,
    /// Matchers.
    pub matchers: Vec<Matcher>,
    /// Start (ms since epoch).
    pub starts_at: Millis,
    /// End.
    pub ends_at: Millis,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// A silence from a matcher list (`{a="b", c=~"d"}`) between `starts_at` and `ends_at`.
    pub fn new(
        matchers: &str,
        starts_at: Millis,
        ends_at: Millis,
        created_by: &str,
        comment: &str,
    ) -> Result<Self, Error> {
        let matchers = Matcher::parse_list(matchers).map_err(Error::Config)?;
        if matchers.is_empty() || matchers.iter().all(|m| m.matches_value("")) {
            return Err(Error::Config(
                "a silence needs at least one matcher that does not match the empty string".into(),
            ));
        }
        if ends_at <= starts_at {
            return Err(Error::Config("a silence must end after it starts".into()));
        }
        if created_by.trim().is_empty() {
            return Err(Error::Config("a silence needs its creator".into()));
        }
        Ok(Self {
            id: String::new(),
            matchers,
            starts_at,
            ends_at,
            created_by: created_by.to_owned(),
            comment: comment.to_owned(),
        })
    }

    /// The state at `now`.
    pub fn state(&self, now: Millis) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether it mutes `labels` at `now`.
    pub fn mutes(&self, labels: &Labels, now: Millis) -> bool {
        self.state(now) == SilenceState::Active && matches_all(&self.matchers, labels)
    }
}
