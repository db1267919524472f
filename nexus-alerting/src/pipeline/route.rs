//! The routing tree: matchers, `continue`, settings inherited from the parent, escalation.

use std::time::Duration;

use crate::error::Error;
use crate::labels::Labels;
use crate::matcher::{Matcher, matches_all};
use crate::rule::Severity;
use crate::time::{Millis, ms};

/// Escalation: if a firing alert is not acknowledged within its severity's response time after
/// a notification, the next receiver of `chain` is notified, and so on down the chain.
///
/// ```
/// use nexus_alerting::Escalation;
/// use nexus_alerting::Severity;
/// use std::time::Duration;
/// // The spec's response times: critical immediately, warning 15 min, info 1 h.
/// let e = Escalation::new(["secondary", "manager"]);
/// assert_eq!(e.response_time(Severity::Warning), Duration::from_secs(900));
/// let e = e.response(Severity::Critical, Duration::from_secs(300));
/// assert_eq!(e.response_time(Severity::Critical), Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub(crate) chain: Vec<String>,
    response: [Duration; 3],
}

impl Escalation {
    /// Escalates through `chain` (receiver names) with the spec's response times.
    pub fn new<S: Into<String>>(chain: impl IntoIterator<Item = S>) -> Self {
        Self {
            chain: chain.into_iter().map(Into::into).collect(),
            response: [
                Duration::from_secs(3600),
                Duration::from_secs(900),
                Duration::ZERO,
            ],
        }
    }

    /// Sets the response time of `severity`.
    #[must_use]
    pub fn response(mut self, severity: Severity, d: Duration) -> Self {
        self.response[severity as usize] = d;
        self
    }

    /// The response time of `severity`.
    pub fn response_time(&self, severity: Severity) -> Duration {
        self.response[severity as usize]
    }

    pub(crate) fn response_ms(&self, severity: Option<Severity>) -> Millis {
        ms(self.response_time(severity.unwrap_or(Severity::Warning)))
    }
}

/// A node of the routing tree (Alertmanager's `route`).
///
/// ```
/// use nexus_alerting::Route;
/// use std::time::Duration;
/// let tree = Route::to("default")
///     .group_by(["alertname", "service"])
///     .child(Route::to("db-team").matchers(r#"team="db""#).unwrap().continue_matching(true))
///     .child(Route::to("pager").matchers(r#"severity="critical""#).unwrap().group_wait(Duration::ZERO));
/// # let _ = tree;
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Route {
    receiver: Option<String>,
    matchers: Vec<Matcher>,
    group_by: Option<Vec<String>>,
    group_wait: Option<Duration>,
    group_interval: Option<Duration>,
    repeat_interval: Option<Duration>,
    continue_: bool,
    children: Vec<Route>,
    escalation: Option<Escalation>,
}

impl Route {
    /// A route that inherits its receiver.
    pub fn new() -> Self {
        Self::default()
    }

    /// A route to `receiver`.
    pub fn to(receiver: &str) -> Self {
        Self {
            receiver: Some(receiver.to_owned()),
            ..Self::default()
        }
    }

    /// Matchers (`{team="db", severity=~"critical|warning"}`), all of which must pass.
    pub fn matchers(mut self, m: &str) -> Result<Self, Error> {
        self.matchers
            .extend(Matcher::parse_list(m).map_err(Error::Config)?);
        Ok(self)
    }

    /// Adds one matcher.
    pub fn matcher(mut self, m: Matcher) -> Self {
        self.matchers.push(m);
        self
    }

    /// Labels to group by; `"..."` groups by all labels. Inherited; default: none (one group).
    pub fn group_by<S: Into<String>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
        self.group_by = Some(labels.into_iter().map(Into::into).collect());
        self
    }

    /// Wait before the first notification of a new group (inherited; default 30 s).
    pub fn group_wait(mut self, d: Duration) -> Self {
        self.group_wait = Some(d);
        self
    }

    /// Wait between notifications about changes in a group (inherited; default 5 min).
    pub fn group_interval(mut self, d: Duration) -> Self {
        self.group_interval = Some(d);
        self
    }

    /// Wait before re-sending an unchanged group (inherited; default 4 h).
    pub fn repeat_interval(mut self, d: Duration) -> Self {
        self.repeat_interval = Some(d);
        self
    }

    /// Keep matching the following siblings after this route matched.
    pub fn continue_matching(mut self, yes: bool) -> Self {
        self.continue_ = yes;
        self
    }

    /// Adds a child route.
    pub fn child(mut self, r: Route) -> Self {
        self.children.push(r);
        self
    }

    /// Escalation for alerts routed here (inherited).
    pub fn escalate(mut self, e: Escalation) -> Self {
        self.escalation = Some(e);
        self
    }
}

#[derive(Debug, Clone)]
pub(crate) enum GroupBy {
    All,
    Labels(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) key: String,
    pub(crate) receiver: String,
    matchers: Vec<Matcher>,
    pub(crate) group_by: GroupBy,
    pub(crate) group_wait: Millis,
    pub(crate) group_interval: Millis,
    pub(crate) repeat_interval: Millis,
    continue_: bool,
    children: Vec<usize>,
    pub(crate) escalation: Option<Escalation>,
}

/// The tree, flattened; node 0 is the root.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
}

impl Tree {
    pub(crate) fn build(root: Route, receivers: &[&str]) -> Result<Self, Error> {
        let Some(receiver) = root.receiver.clone() else {
            return Err(Error::Config("the root route needs a receiver".into()));
        };
        if !root.matchers.is_empty() {
            return Err(Error::Config(
                "the root route must not have matchers".into(),
            ));
        }
        let parent = Node {
            key: String::new(),
            receiver,
            matchers: Vec::new(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: 30_000,
            group_interval: 300_000,
            repeat_interval: 4 * 3_600_000,
            continue_: false,
            children: Vec::new(),
            escalation: None,
        };
        let mut t = Tree { nodes: Vec::new() };
        t.add(root, &parent, receivers)?;
        Ok(t)
    }

    fn add(&mut self, r: Route, parent: &Node, receivers: &[&str]) -> Result<usize, Error> {
        let receiver = r
            .receiver
            .clone()
            .unwrap_or_else(|| parent.receiver.clone());
        if !receivers.contains(&receiver.as_str()) {
            return Err(Error::UnknownReceiver(receiver));
        }
        let escalation = r.escalation.clone().or_else(|| parent.escalation.clone());
        if let Some(e) = &escalation {
            for name in &e.chain {
                if !receivers.contains(&name.as_str()) {
                    return Err(Error::UnknownReceiver(name.clone()));
                }
            }
        }
        let group_by = match &r.group_by {
            Some(g) if g.iter().any(|l| l == "...") => {
                if g.len() > 1 {
                    return Err(Error::Config("group_by \"...\" must be alone".into()));
                }
                GroupBy::All
            }
            Some(g) => {
                if let Some(bad) = g.iter().find(|l| !crate::matcher::is_label_name(l)) {
                    return Err(Error::Config(format!("invalid group_by label {bad:?}")));
                }
                GroupBy::Labels(g.clone())
            }
            None => parent.group_by.clone(),
        };
        let group_interval = r.group_interval.map(ms).unwrap_or(parent.group_interval);
        if group_interval <= 0 {
            return Err(Error::Config("group_interval must be positive".into()));
        }
        let matchers_text: Vec<String> = r.matchers.iter().map(ToString::to_string).collect();
        let key = if self.nodes.is_empty() {
            "{}".to_owned()
        } else {
            format!("{}/{{{}}}", parent.key, matchers_text.join(","))
        };
        let node = Node {
            key,
            receiver,
            matchers: r.matchers.clone(),
            group_by,
            group_wait: r.group_wait.map(ms).unwrap_or(parent.group_wait),
            group_interval,
            repeat_interval: r.repeat_interval.map(ms).unwrap_or(parent.repeat_interval),
            continue_: r.continue_,
            children: Vec::new(),
            escalation,
        };
        let id = self.nodes.len();
        self.nodes.push(node);
        let me = self.nodes[id].clone();
        for c in r.children {
            let cid = self.add(c, &me, receivers)?;
            self.nodes[id].children.push(cid);
        }
        Ok(id)
    }

    /// The routes an alert with `labels` goes to (Alertmanager's depth-first match).
    pub(crate) fn matches(&self, labels: &Labels) -> Vec<usize> {
        let mut out = Vec::new();
        self.match_node(0, labels, &mut out);
        out
    }

    fn match_node(&self, id: usize, labels: &Labels, out: &mut Vec<usize>) -> bool {
        let n = &self.nodes[id];
        if !matches_all(&n.matchers, labels) {
            return false;
        }
        let before = out.len();
        for &c in &n.children {
            if self.match_node(c, labels, out) && !self.nodes[c].continue_ {
                break;
            }
        }
        if out.len() == before {
            out.push(id);
        }
        true
    }

    /// The group labels of an alert in route `id`.
    pub(crate) fn group_labels(&self, id: usize, labels: &Labels) -> Labels {
        match &self.nodes[id].group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(l) => labels.project(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        let root = Route::to("default")
            .group_by(["alertname"])
            .child(
                Route::to("db")
                    .matchers(r#"team="db""#)
                    .unwrap()
                    .continue_matching(true)
                    .child(
                        Route::to("db-pager")
                            .matchers(r#"severity="critical""#)
                            .unwrap(),
                    ),
            )
            .child(
                Route::to("critical")
                    .matchers(r#"severity="critical""#)
                    .unwrap()
                    .group_wait(Duration::ZERO),
            )
            .child(
                Route::to("never")
                    .matchers(r#"severity="critical""#)
                    .unwrap(),
            );
        Tree::build(root, &["default", "db", "db-pager", "critical", "never"]).unwrap()
    }

    fn recv(t: &Tree, pairs: &[(&str, &str)]) -> Vec<String> {
        t.matches(&Labels::from_pairs(pairs.iter().copied()))
            .into_iter()
            .map(|i| t.nodes[i].receiver.clone())
            .collect()
    }

    #[test]
    fn alertmanager_matching() {
        let t = tree();
        assert_eq!(recv(&t, &[("team", "web")]), ["default"]);
        assert_eq!(recv(&t, &[("team", "db")]), ["db"]);
        // continue: the db subtree matches, then the next sibling; the first sibling that
        // matches without continue stops the search ("never" is not reached).
        assert_eq!(
            recv(&t, &[("team", "db"), ("severity", "critical")]),
            ["db-pager", "critical"]
        );
        assert_eq!(recv(&t, &[("severity", "critical")]), ["critical"]);
    }

    #[test]
    fn settings_are_inherited() {
        let t = tree();
        let critical = t.nodes.iter().find(|n| n.receiver == "critical").unwrap();
        assert_eq!(critical.group_wait, 0);
        assert_eq!(critical.group_interval, 300_000);
        assert!(matches!(&critical.group_by, GroupBy::Labels(l) if l == &["alertname"]));
        let pager = t.nodes.iter().find(|n| n.receiver == "db-pager").unwrap();
        assert_eq!(pager.key, r#"{}/{team="db"}/{severity="critical"}"#);
    }

    #[test]
    fn unknown_receivers_are_rejected() {
        assert!(matches!(
            Tree::build(Route::to("x"), &["y"]),
            Err(Error::UnknownReceiver(r)) if r == "x"
        ));
        assert!(Tree::build(Route::to("x").escalate(Escalation::new(["z"])), &["x"]).is_err());
        assert!(Tree::build(Route::new(), &["x"]).is_err());
    }
}
