//! The one integration test binary: every test starts the real server on a
//! random port, on SQLite and (when configured) PostgreSQL.

mod helpers;

mod browser;
mod cli;
mod content;
mod mail;
mod privacy_core;
mod shell;
mod staff;
