//! Chat channels: the notifications email carries, delivered to group chats too: DingTalk custom
//! robots, WeCom group robots, Feishu/Lark custom bots, and signed outgoing webhooks (Standard
//! Webhooks), with the person who must act @-mentioned.
//!
//! A message is written into the one outbox (transport `chat`, one row per channel) in the
//! transaction of the action that causes it, as a platform-neutral [`message::ChatMessage`]; the
//! background [`sender`] renders it for the channel's platform ([`wire`]), signs it ([`sign`]),
//! posts it through one shared HTTP client restricted to allowed hosts ([`destination`]), and
//! records the remote answer. Messages of one channel leave in order, one sender at a time, within
//! the platform's rate limit (kept in the database, so shared by every instance); a burst beyond
//! the limit is merged into one digest message instead of being dropped.
//!
//! | part            | does                                                                |
//! |-----------------|---------------------------------------------------------------------|
//! | [`message`]     | the neutral message, stored in the outbox                            |
//! | [`wire`]        | each platform's JSON, with untrusted text neutralised                |
//! | [`sign`]        | signatures, the request, and reading the remote answer               |
//! | [`sealed`]      | URLs and secrets encrypted at rest                                   |
//! | [`destination`] | which hosts a channel may post to (no internal addresses)           |
//! | [`store`]       | the channels table                                                  |
//! | [`notify`]      | which events reach which channels, inside the causing transaction    |
//! | [`sender`]      | the background delivery loop                                         |

mod api;
mod pages;

#[cfg(feature = "ssr")]
pub mod destination;
#[cfg(feature = "ssr")]
pub mod message;
#[cfg(feature = "ssr")]
pub mod notify;
#[cfg(feature = "ssr")]
pub mod sealed;
#[cfg(feature = "ssr")]
pub mod sender;
#[cfg(feature = "ssr")]
pub mod sign;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "test-support")]
pub mod test_receiver;
#[cfg(feature = "ssr")]
pub mod wire;

pub use api::*;
pub use kinds::{ChannelKind, ChatEvent};
pub use pages::{ChannelsPage, ChatIdentityFields};

mod kinds;

use serde::{Deserialize, Serialize};

/// A channel as admins see it: never its URL or secret, only a hint of the URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    /// Row id.
    pub id: i64,
    /// The admin's name for it.
    pub name: String,
    /// Platform.
    pub kind: ChannelKind,
    /// Language tag its messages are written in.
    pub language: String,
    /// Events it receives.
    pub events: Vec<ChatEvent>,
    /// Severities it receives (stored names); empty: all.
    pub severities: Vec<String>,
    /// Scheme, host and the start of the path: enough to recognise it, no token.
    pub url_hint: String,
    /// Whether a signing secret is stored.
    pub has_secret: bool,
    /// Whether it receives messages.
    pub enabled: bool,
    /// `delivered`, `retrying`, `failed` or empty before the first attempt.
    pub last_outcome: String,
    /// The remote answer to the last attempt (status and body, trimmed).
    pub last_answer: String,
    /// When the last attempt was made (RFC 3339).
    pub last_attempt_at: Option<String>,
    /// Messages waiting for it (queued or being sent).
    pub waiting: i64,
}

/// What the channels page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelsView {
    /// Every channel, by name.
    pub channels: Vec<ChannelView>,
    /// Whether the server has a secret key, without which channels cannot be stored.
    pub key_configured: bool,
    /// Hosts admins allowed besides the platforms' own, one per line.
    pub allowed_hosts: String,
    /// The platforms' own hosts, always allowed.
    pub official_hosts: Vec<String>,
}

/// A user's chat identities, for @-mentions; empty strings: not known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatIdentity {
    /// Mobile number (DingTalk and WeCom mention by it).
    pub mobile: String,
    /// WeCom user id.
    pub wecom_userid: String,
    /// Feishu/Lark open_id (`ou_…`).
    pub feishu_open_id: String,
}
