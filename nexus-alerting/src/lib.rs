//! `nexus-alerting`: Alert rules with Prometheus semantics, an Alertmanager-class pipeline and notifiers. Not implemented yet: see the open issue "nexus-alerting".
//!
//! This crate compiles and is part of the workspace so the facade and CI cover it; it exports
//! nothing yet.
#![deny(missing_docs)]
