//! The server's integration tests, one binary with a module per area: the real app on port 0,
//! driven over HTTP, on SQLite and on PostgreSQL.

mod helpers;

mod assets;
mod audit;
mod auth;
mod chat;
mod clocks;
mod collab;
mod contract;
mod flood;
mod http;
mod insight;
mod intake;
mod islands;
mod live;
mod mail;
mod operations;
mod proxy;
mod text;
mod workflow;
mod zones;
