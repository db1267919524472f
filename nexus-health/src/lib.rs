//! `nexus-health`: HealthLayer, 0–100 health score, dependency probes and health endpoints. Not implemented yet: see the open issue "nexus-health".
//!
//! This crate compiles and is part of the workspace so the facade and CI cover it; it exports
//! nothing yet.
#![deny(missing_docs)]
