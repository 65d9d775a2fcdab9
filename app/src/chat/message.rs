//! The platform-neutral notification: what the outbox stores (as JSON) and what `wire` renders at
//! send time. Keeping it neutral means a channel's kind can change, or a renderer can be fixed,
//! without rewriting queued messages.

use serde::{Deserialize, Serialize};

/// The platform and event names are shared with the pages (which are also built for the
/// browser, where this module is not), so they live beside them; they are re-exported here so
/// the outbox's types read as one set.
pub use super::{ChannelKind, ChatEvent};

/// Someone a message names; empty strings mean "not known".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Baton login name.
    pub username: String,
    /// Display name; people choose it, so renderers treat it as untrusted text.
    pub name: String,
    /// "ops" | "pm" | "dev" | "qa" | "admin", or "mentioned" (asked in a comment).
    pub role: String,
    /// For DingTalk `atMobiles` and WeCom `mentioned_mobile_list` (digits, maybe a leading +).
    pub mobile: String,
    /// For WeCom `<@userid>` mentions.
    pub wecom_userid: String,
    /// For Feishu `<at id=ou_…></at>` mentions.
    pub feishu_open_id: String,
}

/// One fact line shown under the headline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// Baton's own wording, e.g. "Severity".
    pub label: String,
    /// The value; it may quote user input, so renderers treat it as untrusted.
    pub value: String,
}

/// A notification as stored in the outbox (JSON), independent of the platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Unique id (see [`new_message_id`]); the generic webhook sends it as `webhook-id` so
    /// receivers can drop retried duplicates.
    pub id: String,
    /// What happened.
    pub event: ChatEvent,
    /// When it happened (not when it is sent: a queued message keeps its time).
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// "zh-CN" | "en": the language the texts below were written in.
    pub language: String,
    /// E.g. "INC-42"; "" for a test message.
    pub incident_key: String,
    /// Incident title; it comes from intake, so it is untrusted.
    pub title: String,
    /// "p1".."p4", "" when none.
    pub severity: String,
    /// Stage code, e.g. "fixing".
    pub stage: String,
    /// One sentence in `language`; Baton builds it but it contains names, so it is escaped.
    pub headline: String,
    /// E.g. Severity / Stage / Must act now / Time left.
    pub facts: Vec<Fact>,
    /// The named owners who must act now: these are @-mentioned.
    pub must_act: Vec<Person>,
    /// Every named owner (sent in the webhook payload).
    pub owners: Vec<Person>,
    /// Seconds until the clock's target; negative once it is over.
    pub time_left_seconds: Option<i64>,
    /// Link to the incident on Baton's own base URL; "" for none.
    pub url: String,
    /// Button or link text, e.g. "Open INC-42" / "打开 INC-42".
    pub open_label: String,
}

/// A fresh message id: "msg_" and a random UUID (32 hex digits), the shape Standard Webhooks uses.
pub fn new_message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The stored outbox JSON depends on these names, so they are pinned here too.

    #[test]
    fn kinds_round_trip_through_their_names_and_serde() {
        for kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.as_str()));
        }
        assert_eq!(ChannelKind::parse("DingTalk"), None);
        assert_eq!(ChannelKind::parse(""), None);
    }

    #[test]
    fn only_wecom_has_no_secret_and_limits_follow_the_platforms() {
        let secrets: Vec<bool> = ChannelKind::ALL.iter().map(|k| k.has_secret()).collect();
        assert_eq!(secrets, [true, false, true, true]);
        let limits: Vec<u32> = ChannelKind::ALL.iter().map(|k| k.per_minute()).collect();
        assert_eq!(limits, [20, 20, 100, 60]);
    }

    #[test]
    fn events_round_trip_and_map_to_webhook_types() {
        let names: Vec<&str> = ChatEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "stage_entered",
                "owner_changed",
                "mention",
                "clock_reminder",
                "clock_breach",
                "clock_escalation",
                "intake",
                "report",
                "pool_item",
                "test"
            ]
        );
        for event in ChatEvent::ALL {
            assert_eq!(ChatEvent::parse(event.as_str()), Some(event));
            assert_eq!(serde_json::to_value(event).unwrap(), serde_json::json!(event.as_str()));
        }
        assert_eq!(ChatEvent::parse("incident.reported"), None);
        let types: Vec<&str> = ChatEvent::ALL.iter().map(|e| e.webhook_type()).collect();
        assert_eq!(
            types,
            [
                "incident.stage_entered",
                "incident.owner_changed",
                "incident.mention",
                "incident.clock_reminder",
                "incident.clock_breach",
                "incident.clock_escalation",
                "incident.reported",
                "incident.report_sent",
                "pool.item_added",
                "channel.test"
            ]
        );
    }

    #[test]
    fn a_message_survives_the_outbox_json() {
        let message = ChatMessage {
            id: new_message_id(),
            event: ChatEvent::ClockBreach,
            occurred_at: chrono::DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap(),
            language: "en".into(),
            incident_key: "INC-42".into(),
            title: "Checkout down".into(),
            severity: "p1".into(),
            stage: "fixing".into(),
            headline: "Ana must act now".into(),
            facts: vec![Fact { label: "Stage".into(), value: "Fixing".into() }],
            must_act: vec![Person { username: "ana".into(), mobile: "13800000000".into(), ..Person::default() }],
            owners: vec![],
            time_left_seconds: Some(-30),
            url: "https://baton.example/incidents/INC-42".into(),
            open_label: "Open INC-42".into(),
        };
        let json = serde_json::to_string(&message).unwrap();
        assert!(json.contains(r#""event":"clock_breach""#), "{json}");
        assert_eq!(serde_json::from_str::<ChatMessage>(&json).unwrap(), message);
    }

    #[test]
    fn message_ids_are_prefixed_and_unique() {
        let (a, b) = (new_message_id(), new_message_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 32);
        assert!(a.starts_with("msg_") && a[4..].bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
}
