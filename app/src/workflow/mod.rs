//! The incident process: the rule book ([`rules`]) shared by server and browser, the inputs of
//! each gate action ([`input`]), what the browser sees ([`views`]), and on the server the engine
//! that applies actions ([`engine`]) and the read side ([`queries`]).

mod api;
pub mod input;
pub mod labels;
pub mod live;
mod pages;
pub mod rules;
pub mod timeline;
pub mod views;

#[cfg(feature = "ssr")]
pub mod effects;
#[cfg(feature = "ssr")]
pub mod engine;
#[cfg(feature = "ssr")]
pub mod queries;

pub use api::*;
pub use pages::{IncidentListPage, IncidentPage, MyQueue, NewIncidentPage, PrioritySelect, SeverityBadge, StageBadge};
