//! The one integration test binary: every test starts the real server on a
//! random port, on SQLite and (when configured) PostgreSQL.

mod helpers;

mod account;
mod admin_pages;
mod analytics;
mod api;
mod audit;
mod automations;
mod back_office;
mod browser;
mod browser_account;
mod browser_admin;
mod browser_mydata;
mod browser_shell;
mod browser_visitor;
mod campaign_speed;
mod chat;
mod chat_search;
mod cli;
mod consent;
mod content;
mod durability;
mod erasure_copies;
mod faults;
mod hostile;
mod layers;
mod mail;
mod mail_in;
mod memory;
mod newsletter;
mod notifications;
mod ops;
mod privacy_core;
mod privacy_rights;
mod routes;
mod shell;
mod shop;
mod sla;
mod staff;
mod support;
mod surveys;
mod ticket_search;
mod two_factor;
mod visitor;
mod webhooks;
