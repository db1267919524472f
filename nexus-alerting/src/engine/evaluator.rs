//! `Evaluator`: the synchronous core of the engine: the store, the rules with Prometheus'
//! pending → firing → resolved state machine (plus hysteresis, tiers and flap handling), and
//! the anomaly detectors behind `anomaly(...)`.

#[allow(unused_imports)]
use super::*;

/// Resolved alerts are kept (and re-sent) this long, as in Prometheus.
const RESOLVED_RETENTION: Millis = 15 * 60_000;

/// Makes one anomaly detector (one per series used in `anomaly(...)`).
pub type DetectorFactory = Arc<dyn Fn() -> Box<dyn Detector> + Send + Sync>;

/// A series' detector and how far it has been fed.
struct Fed {
    det: Box<dyn Detector>,
    fed_until: Millis,
    last: (Millis, f64),
}

fn anomaly(
    detectors: &mut HashMap<u64, Fed>,
    make: &DetectorFactory,
    series: &store::Series,
    t: Millis,
    lookback: Millis,
) -> Option<f64> {
    let d = detectors.entry(series.fp).or_insert_with(|| Fed {
        det: make(),
        fed_until: Millis::MIN,
        last: (Millis::MIN, 0.0),
    });
    let s = &series.samples;
    let start = s.partition_point(|p| p.0 <= d.fed_until);
    let end = s.partition_point(|p| p.0 <= t);
    for &(ts, v) in s.range(start..end.max(start)) {
        if !store::is_stale(v) {
            d.last = (ts, d.det.update(ts, v));
        }
        d.fed_until = ts;
    }
    (d.last.0 != Millis::MIN && d.last.0 >= t - lookback).then_some(d.last.1)
}

/// Where evaluated alerts go (the pipeline implements it).
pub trait AlertSink: Send + Sync + std::fmt::Debug {
    /// Called after every evaluation with the firing alerts and the recently resolved ones.
    fn send(&self, alerts: Vec<Alert>);
}

/// Evaluation settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EvalConfig {
    /// Default evaluation interval (15 s).
    pub interval: Duration,
    /// Instant-selector lookback (5 min, as Prometheus).
    pub lookback: Duration,
    /// Windows include their left edge (`[t - range, t]`), as Prometheus 2.x (`promtool`
    /// 2.42); the default `false` gives Prometheus 3's left-open windows.
    pub closed_windows: bool,
    /// `$externalLabels`, also added to every alert.
    pub external_labels: Labels,
    /// Prefix of every alert's `generator_url`.
    pub external_url: String,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            lookback: Duration::from_secs(300),
            closed_windows: false,
            external_labels: Labels::new(),
            external_url: String::new(),
        }
    }
}

struct Held {
    labels: Labels,
    annotations: Labels,
    state: AlertState,
    active_at: Millis,
    fired_at: Millis,
    resolved_at: Option<Millis>,
    keep_firing_since: Option<Millis>,
    last_true: Millis,
    value: f64,
    flapping: bool,
}

struct RuleState {
    rule: Arc<Rule>,
    group: String,
    interval: Option<Millis>,
    last_eval: Option<Millis>,
    active: HashMap<u64, Held>,
    /// The selectors' series, per store generation.
    selected: SelectCache,
    /// Per store series id: (alert fingerprint, alert labels before severity, template labels),
    /// valid for `label_generation`.
    label_cache: HashMap<u32, (u64, Labels, Labels)>,
    /// The same for a plain-selector rule, by position in its selection (no map probe).
    slot_cache: Vec<Option<(u64, Labels, Labels)>>,
    label_generation: u64,
    /// The last evaluation's error, if it failed.
    last_error: Option<String>,
    /// Scratch map of this evaluation's results, kept to reuse its allocation.
    hits: HashMap<u64, Hit>,
    starts: HashMap<u64, VecDeque<Millis>>,
    static_labels: bool,
}

struct Hit {
    value: f64,
    labels: Labels,
    template_labels: Labels,
}

impl RuleState {
    fn new(rule: Rule, group: &str, interval: Option<Duration>) -> Self {
        let static_labels = rule.labels.iter().all(|(_, t)| t.is_static());
        Self {
            rule: Arc::new(rule),
            group: group.to_owned(),
            interval: interval.map(ms),
            last_eval: None,
            active: HashMap::new(),
            selected: SelectCache::default(),
            label_cache: HashMap::new(),
            slot_cache: Vec::new(),
            label_generation: u64::MAX,
            last_error: None,
            hits: HashMap::new(),
            starts: HashMap::new(),
            static_labels,
        }
    }

    fn key(&self) -> (String, String, String) {
        (
            self.group.clone(),
            self.rule.name.clone(),
            self.rule.text.clone(),
        )
    }
}

/// The synchronous core of the [`Engine`]: a sample store and rule states.
///
/// ```
/// use nexus_alerting::{Evaluator, EvalConfig, Labels, Rule, Sample};
/// let mut ev = Evaluator::new(EvalConfig::default());
/// ev.add_rule("g", Rule::builder("Down", "up == 0").build().unwrap());
/// ev.push(Sample::new("up", Labels::from_pairs([("job", "api")]), 0.0, 0));
/// let firing = ev.eval(0);
/// assert_eq!(firing[0].labels.get("alertname"), Some("Down"));
/// ```
pub struct Evaluator {
    store: Store,
    rules: Vec<RuleState>,
    cfg: EvalConfig,
    detectors: HashMap<u64, Fed>,
    make_detector: DetectorFactory,
    /// Scratch list of a rule's results (store id, element index, value), reused.
    items: Vec<(Option<u32>, usize, f64)>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (series, samples) = self.store.size();
        f.debug_struct("Evaluator")
            .field("rules", &self.rules.len())
            .field("series", &series)
            .field("samples", &samples)
            .finish()
    }
}

impl Evaluator {
    /// An evaluator with no rules and no samples.
    pub fn new(cfg: EvalConfig) -> Self {
        let mut ev = Self {
            store: Store::new(0),
            rules: Vec::new(),
            cfg,
            detectors: HashMap::new(),
            make_detector: Arc::new(|| Box::new(CombinedDetector::default())),
            items: Vec::new(),
        };
        ev.update_retention();
        ev
    }

    fn update_retention(&mut self) {
        let longest = self.rules.iter().map(|r| r.rule.horizon).max().unwrap_or(0);
        self.store.retention = longest + ms(self.cfg.lookback);
    }

    /// Adds one rule to group `group`.
    pub fn add_rule(&mut self, group: &str, rule: Rule) {
        self.store.retention = self
            .store
            .retention
            .max(rule.horizon + ms(self.cfg.lookback));
        self.rules.push(RuleState::new(rule, group, None));
    }

    /// Replaces all rules. A rule with the same group, name and expression as before keeps its
    /// alerts (pending time, firing state), as on a Prometheus reload.
    pub fn set_rules(&mut self, groups: Vec<RuleGroup>) {
        let mut old: HashMap<(String, String, String), RuleState> = HashMap::new();
        for r in self.rules.drain(..) {
            old.entry(r.key()).or_insert(r);
        }
        for g in groups {
            for rule in g.rules {
                let mut st = RuleState::new(rule, &g.name, g.interval);
                if let Some(prev) = old.remove(&st.key()) {
                    st.active = prev.active;
                    st.starts = prev.starts;
                    st.last_eval = prev.last_eval;
                }
                self.rules.push(st);
            }
        }
        self.update_retention();
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The configuration.
    pub fn config(&self) -> &EvalConfig {
        &self.cfg
    }

    /// Stores a sample (an older-than-last sample of a series is dropped).
    pub fn push(&mut self, s: Sample) {
        self.store.push(&s.labels, s.timestamp, s.value);
    }

    /// Stores samples.
    pub fn push_all(&mut self, samples: impl IntoIterator<Item = Sample>) {
        for s in samples {
            self.push(s);
        }
    }

    /// The detector `anomaly(...)` uses for each series (default: [`CombinedDetector`]).
    /// Existing detector state is kept.
    pub fn set_detector_factory(&mut self, make: DetectorFactory) {
        self.make_detector = make;
    }

    /// Forgets series with no sample in the retention window (and their detectors).
    pub fn compact(&mut self, now: Millis) {
        self.store.compact(now);
        if !self.detectors.is_empty() {
            let live: foldhash::HashSet<u64> = self.store.series.iter().map(|s| s.fp).collect();
            self.detectors.retain(|fp, _| live.contains(fp));
        }
    }

    /// (series, samples) held.
    pub fn size(&self) -> (usize, usize) {
        self.store.size()
    }

    /// Evaluates `expr` at `t` as a PromQL instant query (a scalar gives one element with no
    /// labels), sorted by labels.
    pub fn query(
        &mut self,
        expr: &Expr,
        t: Millis,
    ) -> Result<Vec<(Labels, f64)>, promql::EvalError> {
        let q = self.query_settings();
        let (detectors, make) = (&mut self.detectors, &self.make_detector);
        let lookback = q.lookback;
        let mut score = |s: &store::Series, t: Millis| anomaly(detectors, make, s, t, lookback);
        let hooks = Hooks {
            cache: None,
            anomaly: Some(&mut score),
        };
        let (v, _) = q.instant_with(&self.store, expr, t, hooks)?;
        let mut out: Vec<(Labels, f64)> = match v {
            Value::Scalar(v) => vec![(Labels::new(), v)],
            Value::Vector(v) => v.into_iter().map(|e| (e.labels, e.value)).collect(),
            _ => Vec::new(),
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn query_settings(&self) -> Query {
        Query::default()
            .lookback(ms(self.cfg.lookback))
            .closed_windows(self.cfg.closed_windows)
            .subquery_step(ms(self.cfg.interval))
    }

    /// Each rule's health: (group, rule, the last evaluation's error), in rule order.
    pub fn rule_health(&self) -> Vec<(String, String, Option<String>)> {
        self.rules
            .iter()
            .map(|r| (r.group.clone(), r.rule.name.clone(), r.last_error.clone()))
            .collect()
    }

    /// Evaluates every due rule at `t`; returns the alerts to send (firing, and resolved within
    /// the last 15 minutes).
    pub fn eval(&mut self, t: Millis) -> Vec<Alert> {
        let mut out = Vec::new();
        let default_interval = ms(self.cfg.interval);
        for i in 0..self.rules.len() {
            let due = {
                let r = &self.rules[i];
                let iv = r.interval.unwrap_or(default_interval);
                r.last_eval.is_none_or(|l| t - l >= iv || t < l)
            };
            if due {
                // A panic (a user's detector, a bug) fails this rule only: logged, counted,
                // shown in its health; the others and the engine task go on.
                let run = std::panic::AssertUnwindSafe(|| self.eval_rule(i, t, &mut out));
                if let Err(p) = std::panic::catch_unwind(run) {
                    let msg = p
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".to_owned());
                    let rs = &mut self.rules[i];
                    tracing::error!(rule = %rs.rule.name, group = %rs.group, panic = %msg, "rule evaluation panicked; the other rules go on");
                    metrics::counter!(crate::metrics::RULE_EVALUATION_FAILURES.name, "rule_group" => rs.group.clone()).increment(1);
                    rs.last_error = Some(format!("evaluation panicked: {msg}"));
                }
            }
        }
        out
    }

    fn eval_rule(&mut self, i: usize, t: Millis, out: &mut Vec<Alert>) {
        let generation = self.store.generation;
        let q = self.query_settings();
        let lookback = q.lookback;
        let rs = &mut self.rules[i];
        rs.last_eval = Some(t);
        let rule = Arc::clone(&rs.rule);
        let target = rule.cond.as_ref().map_or(&rule.expr, |c| &c.operand);
        // (store series id, index in `elements` or in the selection, value). A plain selector
        // (the common threshold rule) is read in place: no result vector, labels touched for
        // hits only.
        let mut elements: Vec<promql::Element> = Vec::new();
        let mut items = std::mem::take(&mut self.items);
        let fast = matches!(target, Expr::Selector(vs) if vs.offset == 0 && vs.at.is_none());
        if rs.label_generation != generation {
            rs.label_cache.clear();
            rs.slot_cache.clear();
            rs.label_generation = generation;
        }
        match target {
            Expr::Selector(vs) if fast => {
                let ids = rs.selected.get(&self.store, vs);
                rs.slot_cache.resize(ids.len(), None);
                for (slot, &id) in ids.iter().enumerate() {
                    let s = &self.store.series[id as usize];
                    if let Some(v) = store::instant(s, t, lookback, q.closed) {
                        items.push((Some(id), slot, v));
                    }
                }
            }
            _ => {
                let (detectors, make) = (&mut self.detectors, &self.make_detector);
                let mut score =
                    |s: &store::Series, t: Millis| anomaly(detectors, make, s, t, lookback);
                let hooks = Hooks {
                    cache: Some(&mut rs.selected),
                    anomaly: Some(&mut score),
                };
                let mut result = q.instant_with(&self.store, target, t, hooks);
                if matches!(result, Err(promql::EvalError::DuplicateLabelset))
                    && rule.cond.is_some()
                {
                    // The operand's series collide once their names are dropped; Prometheus
                    // checks after the comparison, which may remove the collision: evaluate
                    // the whole expression instead (its values are the operand's, filtered).
                    let hooks = Hooks {
                        cache: Some(&mut rs.selected),
                        anomaly: Some(&mut score),
                    };
                    result = q.instant_with(&self.store, &rule.expr, t, hooks);
                }
                match result {
                    Ok((Value::Vector(v), _)) => elements = v,
                    Ok((Value::Scalar(v), _)) => {
                        elements = vec![promql::Element::new(Labels::new(), v, false)];
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if rs.last_error.as_deref() != Some(&e.to_string()) {
                            tracing::warn!(rule = %rule.name, group = %rs.group, error = %e, "rule evaluation failed; its alerts are kept as they were");
                        }
                        metrics::counter!(crate::metrics::RULE_EVALUATION_FAILURES.name, "rule_group" => rs.group.clone()).increment(1);
                        rs.last_error = Some(e.to_string());
                        return;
                    }
                }
                items.extend(elements.iter().enumerate().map(|(k, e)| (e.id, k, e.value)));
            }
        }
        rs.last_error = None;
        let tiered = !rule.tiers.is_empty();
        let mut hits = std::mem::take(&mut rs.hits);
        hits.clear();
        let store = &self.store;
        for &(id, k, value) in &items {
            let el = match (fast, id) {
                (true, Some(id)) => (&store.series[id as usize].labels, Key::Slot(k)),
                _ => (&elements[k].labels, id.map_or(Key::None, Key::Series)),
            };
            let severity = match rule.fires(value, false) {
                Some(s) => s,
                None if rule.clear.is_some() => {
                    let (fp, _, _) =
                        alert_identity(rs, &rule, el, value, &self.cfg.external_labels);
                    let active = rs
                        .active
                        .get(&fp)
                        .is_some_and(|a| a.state != AlertState::Inactive);
                    match active.then(|| rule.fires(value, true)).flatten() {
                        Some(s) => s,
                        None => continue,
                    }
                }
                None => continue,
            };
            let (fp, mut labels, template_labels) =
                alert_identity(rs, &rule, el, value, &self.cfg.external_labels);
            if let Some(s) = severity.filter(|_| tiered) {
                labels.insert("severity", s.as_str());
            }
            if hits.contains_key(&fp) {
                tracing::warn!(rule = %rule.name, %labels, "two series give the same alert labels; keeping the first");
                continue;
            }
            hits.insert(
                fp,
                Hit {
                    value,
                    labels,
                    template_labels,
                },
            );
        }

        let for_ = ms(rule.for_);
        let keep_for = ms(rule.keep_firing_for);
        let external = &self.cfg.external_labels;
        let url = self.cfg.external_url.as_str();
        let store = &self.store;
        // `query` in templates: an instant query at this evaluation's time.
        let query = |expr: &str| -> Result<Vec<(Labels, f64)>, String> {
            let e = promql::parse(expr).map_err(|e| e.to_string())?;
            let (v, _) = q.instant(store, &e, t).map_err(|e| e.to_string())?;
            Ok(match v {
                Value::Scalar(v) => vec![(Labels::new(), v)],
                Value::Vector(v) => v.into_iter().map(|e| (e.labels, e.value)).collect(),
                _ => Vec::new(),
            })
        };
        let uses_query = rule.annotations.iter().any(|(_, t)| t.uses_query());
        let render = |hit: &Hit| -> Labels {
            let data = TemplateData::new(&hit.template_labels, hit.value)
                .external(external)
                .external_url(url)
                .query(&query);
            rule.annotations
                .iter()
                .map(|(k, tpl)| (k.clone(), tpl.render(&data)))
                .collect()
        };
        for (fp, hit) in hits.iter_mut() {
            match rs.active.get_mut(fp) {
                Some(a) if a.state != AlertState::Inactive => {
                    // Templates are pure functions of labels and value (unless they query):
                    // re-render on change only.
                    if uses_query
                        || a.value.to_bits() != hit.value.to_bits()
                        || a.labels != hit.labels
                    {
                        a.annotations = render(hit);
                    }
                    a.value = hit.value;
                    a.labels = std::mem::take(&mut hit.labels);
                    a.keep_firing_since = None;
                    a.last_true = t;
                }
                _ => {
                    let annotations = render(hit);
                    rs.active.insert(
                        *fp,
                        Held {
                            labels: std::mem::take(&mut hit.labels),
                            annotations,
                            state: AlertState::Pending,
                            active_at: t,
                            fired_at: 0,
                            resolved_at: None,
                            keep_firing_since: None,
                            last_true: t,
                            value: hit.value,
                            flapping: false,
                        },
                    );
                }
            }
        }

        let mut remove = Vec::new();
        let resend_until = t + 4 * rs.interval.unwrap_or(ms(self.cfg.interval)).max(60_000);
        for (fp, a) in rs.active.iter_mut() {
            if !hits.contains_key(fp) {
                let mut keep = false;
                if a.state == AlertState::Firing && keep_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(t);
                    keep = t - since < keep_for;
                }
                if a.state == AlertState::Firing && a.flapping {
                    let window = rule.flap.map(|f| ms(f.window)).unwrap_or(0);
                    keep |= t - a.last_true < window;
                }
                if a.state == AlertState::Pending
                    || a.resolved_at.is_some_and(|r| t - r > RESOLVED_RETENTION)
                {
                    remove.push(*fp);
                }
                if a.state != AlertState::Inactive && !keep {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(t);
                }
                if !keep {
                    if a.state == AlertState::Inactive && !remove.contains(fp) {
                        out.push(to_alert(
                            &rule,
                            a,
                            *fp,
                            a.resolved_at,
                            external,
                            &self.cfg.external_url,
                        ));
                    }
                    continue;
                }
            }
            if a.state == AlertState::Pending && t - a.active_at >= for_ {
                a.state = AlertState::Firing;
                a.fired_at = t;
                if let Some(flap) = rule.flap {
                    let starts = rs.starts.entry(*fp).or_default();
                    starts.push_back(t);
                    while starts.front().is_some_and(|&s| t - s > ms(flap.window)) {
                        starts.pop_front();
                    }
                    if starts.len() >= flap.max_starts {
                        a.flapping = true;
                    }
                }
            }
            if a.state == AlertState::Firing {
                out.push(to_alert(
                    &rule,
                    a,
                    *fp,
                    Some(resend_until),
                    external,
                    &self.cfg.external_url,
                ));
            }
        }
        for fp in remove {
            rs.active.remove(&fp);
        }
        if let Some(flap) = rule.flap {
            let w = ms(flap.window);
            rs.starts
                .retain(|_, s| s.back().is_some_and(|&b| t - b <= w));
        }
        hits.clear();
        rs.hits = hits;
        items.clear();
        self.items = items;
    }

    /// Firing alerts of rule `name` as the rule holds them (no external labels): what promtool
    /// compares.
    pub(crate) fn firing_of(&self, name: &str) -> Vec<(Labels, Labels)> {
        self.rules
            .iter()
            .filter(|rs| rs.rule.name == name)
            .flat_map(|rs| rs.active.values())
            .filter(|a| a.state == AlertState::Firing)
            .map(|a| {
                let mut ann = a.annotations.clone();
                if a.flapping {
                    ann.insert("flapping", "true");
                }
                (a.labels.clone(), ann)
            })
            .collect()
    }

    pub(crate) fn keep_everything(&mut self) {
        self.store.retention = Millis::MAX / 4;
    }

    /// Every alert the rules hold (pending, firing, recently resolved), sorted by rule and labels.
    pub fn alerts(&self) -> Vec<ActiveAlert> {
        let mut out: Vec<ActiveAlert> = self
            .rules
            .iter()
            .flat_map(|rs| {
                rs.active.iter().map(|(fp, a)| ActiveAlert {
                    rule: rs.rule.name.clone(),
                    group: rs.group.clone(),
                    state: a.state,
                    alert: to_alert(
                        &rs.rule,
                        a,
                        *fp,
                        a.resolved_at,
                        &self.cfg.external_labels,
                        &self.cfg.external_url,
                    ),
                    active_at: a.active_at,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.rule, &a.alert.labels).cmp(&(&b.rule, &b.alert.labels)));
        out
    }
}

/// Where a result element's alert identity is cached.
#[derive(Clone, Copy)]
enum Key {
    /// Position in a plain selector's selection.
    Slot(usize),
    /// The store series the element's labels come from.
    Series(u32),
    None,
}

/// The alert's fingerprint, labels (without the tier severity) and template labels for one
/// result element (cached when the rule's labels are static).
fn alert_identity(
    rs: &mut RuleState,
    rule: &Rule,
    (series_labels, key): (&Labels, Key),
    value: f64,
    external: &Labels,
) -> (u64, Labels, Labels) {
    let key = if rs.static_labels { key } else { Key::None };
    let cached = match key {
        Key::Slot(s) => rs.slot_cache.get(s).and_then(Option::as_ref),
        Key::Series(id) => rs.label_cache.get(&id),
        Key::None => None,
    };
    if let Some((fp, l, tl)) = cached {
        return (*fp, l.clone(), tl.clone());
    }
    let template_labels = series_labels.clone();
    let mut labels = series_labels.clone();
    labels.remove(METRIC_NAME);
    let data = TemplateData::new(&template_labels, value).external(external);
    for (k, tpl) in &rule.labels {
        labels.insert(k.clone(), tpl.render(&data));
    }
    labels.insert(ALERT_NAME, rule.name.clone());
    let fp = if rule.tiers.is_empty() {
        labels.fingerprint()
    } else {
        labels.fingerprint_without(Some("severity"))
    };
    let entry = || (fp, labels.clone(), template_labels.clone());
    match key {
        Key::Slot(s) => {
            if let Some(slot) = rs.slot_cache.get_mut(s) {
                *slot = Some(entry());
            }
        }
        Key::Series(id) => {
            rs.label_cache.insert(id, entry());
        }
        Key::None => {}
    }
    (fp, labels, template_labels)
}

fn to_alert(
    rule: &Rule,
    a: &Held,
    fp: u64,
    ends_at: Option<Millis>,
    external: &Labels,
    url: &str,
) -> Alert {
    let mut labels = a.labels.clone();
    // External labels are added on the way out, as Prometheus adds them when sending.
    for (k, v) in external.iter() {
        if labels.get(k).is_none() {
            labels.insert(k, v);
        }
    }
    let mut annotations = a.annotations.clone();
    if a.flapping {
        annotations.insert("flapping", "true");
    }
    Alert {
        fingerprint: fp,
        labels,
        annotations,
        starts_at: if a.fired_at > 0 {
            a.fired_at
        } else {
            a.active_at
        },
        ends_at,
        value: a.value,
        flapping: a.flapping,
        generator_url: if url.is_empty() {
            String::new()
        } else {
            format!("{url}?alertname={}", rule.name)
        },
    }
}

#[cfg(test)]
mod tests;
