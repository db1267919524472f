#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod alert;
pub mod anomaly;
mod engine;
mod error;
pub mod exposition;
mod gofmt;
mod labels;
mod matcher;
pub mod metrics;
mod notation;
mod notify;
mod pipeline;
pub mod promql;
pub mod promqltest;
pub mod promtool;
mod rule;
mod rulefile;
mod source;
mod store;
mod template;
mod time;

pub use alert::{ActiveAlert, Alert, AlertState};
pub use engine::{AlertSink, DetectorFactory, Engine, EngineBuilder, EvalConfig, Evaluator};
pub use error::Error;
pub use labels::{ALERT_NAME, Labels, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, matches_all};
pub use nexus_core::task::TaskHandle;
pub use notify::{
    AlertmanagerNotifier, HttpClient, Notification, Notifier, NotifyError, PagerDutyNotifier,
    Receiver, RetryPolicy, Secret, SlackNotifier, Status, WebhookNotifier,
};
#[cfg(feature = "email")]
pub use notify::{EmailNotifier, SmtpSecurity};
pub use pipeline::{
    Ack, Escalation, InhibitRule, Job, Muted, Pipeline, PipelineAlert, PipelineBuilder, Route,
    Silence, SilenceState,
};
pub use rule::{CmpOp, FlapPolicy, Rule, RuleBuilder, RuleGroup, Severity};
pub use rulefile::{DEFAULT_RULES, default_rules, load_rule_file, parse_rule_file};
pub use source::{FnSource, Source};
pub use store::{STALE_NAN, Sample, is_stale};
pub use template::{Template, TemplateData, TemplateError};
pub use time::{Clock, Millis, format_duration, parse_duration, rfc3339};
