//! Baton: the urgent-bug response process, from the user's first report to the final report email.
//!
//! This crate is shared by the server (feature `ssr`) and the browser (feature `hydrate`). It is
//! organised by feature: each module holds its components, server functions and, behind
//! `ssr`, its storage code.

// The release build of the browser crate lays out deeply nested view types (a page inside an
// island inside an async block); the default limit of 128 is just short for some pages.
#![recursion_limit = "256"]

pub mod audit;
pub mod auth;
pub mod chat;
pub mod clock;
pub mod clocks;
pub mod collab;
pub mod enhance;
pub mod error;
pub mod forms;
pub mod home;
pub mod i18n;
pub mod insight;
pub mod intake;
pub mod mail;
pub mod pool;
pub mod search;
pub mod shell;
pub mod text;
pub mod users;
pub mod workflow;

#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod digest;
#[cfg(feature = "ssr")]
pub mod housekeeping;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "test-support")]
pub mod testing;

#[cfg(feature = "ssr")]
pub use shell::shell;
pub use shell::App;
