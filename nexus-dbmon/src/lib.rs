//! `nexus-dbmon`: PostgreSQL performance monitor on sqlx (reports, index advice, guarded maintenance). Not implemented yet: see the open issue "nexus-dbmon".
//!
//! This crate compiles and is part of the workspace so the facade and CI cover it; it exports
//! nothing yet.
#![deny(missing_docs)]
