//! The app's integration tests, one binary with a module per area. Database tests (`db_test!`)
//! run on SQLite and on PostgreSQL; the mail tests talk to a real SMTP server on localhost.

mod helpers;

mod audit;
mod auth;
mod chat;
mod clocks;
mod collab;
mod db;
mod housekeeping;
mod insight;
mod intake;
mod mail;
mod render;
mod search;
mod workflow;
