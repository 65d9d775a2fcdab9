//! The incident process: the rule book ([`rules`]) shared by server and browser, the inputs of
//! each gate action ([`input`]), and on the server the engine that applies them ([`engine`]).

pub mod input;
pub mod rules;

#[cfg(feature = "ssr")]
pub mod effects;
#[cfg(feature = "ssr")]
pub mod engine;
