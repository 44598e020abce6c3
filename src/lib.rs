//! officecomms: a small software-support company's website and back office,
//! keeping its privacy policy by construction.
//!
//! Layers, bottom up, each naming only those below it: `platform` (with
//! `config` and `error`); `staff` and `privacy`; the features; `app`, which
//! composes them. `docs/architecture.md` draws it; `tests/it/layers.rs`
//! holds it.

#![forbid(unsafe_code)]

pub mod account;
pub mod analytics;
pub mod app;
pub mod chat;
pub mod cli;
pub mod config;
pub mod consent;
pub mod content;
pub mod error;
pub mod mail_in;
pub mod newsletter;
pub mod ops;
pub mod platform;
pub mod privacy;
pub mod shop;
pub mod site;
pub mod staff;
pub mod support;
pub mod surveys;
pub mod telemetry;
pub mod webhooks;

pub use app::{AppState, Application};
pub use config::Config;
