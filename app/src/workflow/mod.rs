//! The incident process: the rule book ([`rules`]) shared by server and browser.

pub mod rules;
