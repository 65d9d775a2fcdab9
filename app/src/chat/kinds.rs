//! The names shared by the server and the pages: platforms and events.

use serde::{Deserialize, Serialize};

/// Which platform a channel posts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// DingTalk (钉钉) custom robot.
    Dingtalk,
    /// WeCom (企业微信) group robot.
    Wecom,
    /// Feishu/Lark (飞书) custom bot.
    Feishu,
    /// Any HTTPS endpoint, signed like Standard Webhooks.
    Webhook,
}

impl ChannelKind {
    /// Every platform, in the order the form offers them.
    pub const ALL: [ChannelKind; 4] =
        [ChannelKind::Dingtalk, ChannelKind::Wecom, ChannelKind::Feishu, ChannelKind::Webhook];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Wecom => "wecom",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Webhook => "webhook",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the platform signs its requests with a secret (WeCom's key is in the URL).
    pub fn has_secret(self) -> bool {
        !matches!(self, ChannelKind::Wecom)
    }

    /// Messages a minute the platform accepts per robot (DingTalk and WeCom document 20;
    /// Feishu 100; a webhook receiver gets a generous default).
    pub fn per_minute(self) -> u32 {
        match self {
            ChannelKind::Dingtalk | ChannelKind::Wecom => 20,
            ChannelKind::Feishu => 100,
            ChannelKind::Webhook => 60,
        }
    }

    /// The platform's name as users know it (not translated: these are product names).
    pub fn product_name(self, t: &crate::i18n::Strings) -> &'static str {
        match self {
            ChannelKind::Dingtalk => t.chat_kind_dingtalk,
            ChannelKind::Wecom => t.chat_kind_wecom,
            ChannelKind::Feishu => t.chat_kind_feishu,
            ChannelKind::Webhook => t.chat_kind_webhook,
        }
    }
}

/// What a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatEvent {
    /// An incident entered a stage: its new owners must act.
    StageEntered,
    /// A stage clock reached 75 % of its target.
    ClockReminder,
    /// A stage clock passed its target.
    ClockBreach,
    /// A stage clock passed the escalation threshold.
    ClockEscalation,
    /// A new report arrived through intake.
    Intake,
    /// The step-9 report was sent.
    Report,
    /// An item entered the requirement pool.
    PoolItem,
    /// A named owner was replaced (a reassignment): the new one must act.
    OwnerChanged,
    /// Someone was @-mentioned in a comment.
    Mention,
    /// An admin's test message.
    Test,
}

impl ChatEvent {
    /// Every event.
    pub const ALL: [ChatEvent; 10] = [
        ChatEvent::StageEntered,
        ChatEvent::OwnerChanged,
        ChatEvent::Mention,
        ChatEvent::ClockReminder,
        ChatEvent::ClockBreach,
        ChatEvent::ClockEscalation,
        ChatEvent::Intake,
        ChatEvent::Report,
        ChatEvent::PoolItem,
        ChatEvent::Test,
    ];

    /// The events a channel may subscribe to: all but the test message (last in [`Self::ALL`]),
    /// which always reaches its channel.
    pub fn subscribable() -> &'static [ChatEvent] {
        &Self::ALL[..Self::ALL.len() - 1]
    }

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatEvent::StageEntered => "stage_entered",
            ChatEvent::ClockReminder => "clock_reminder",
            ChatEvent::ClockBreach => "clock_breach",
            ChatEvent::ClockEscalation => "clock_escalation",
            ChatEvent::Intake => "intake",
            ChatEvent::Report => "report",
            ChatEvent::PoolItem => "pool_item",
            ChatEvent::OwnerChanged => "owner_changed",
            ChatEvent::Mention => "mention",
            ChatEvent::Test => "test",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The generic webhook's event `type`.
    pub fn webhook_type(self) -> &'static str {
        match self {
            ChatEvent::StageEntered => "incident.stage_entered",
            ChatEvent::ClockReminder => "incident.clock_reminder",
            ChatEvent::ClockBreach => "incident.clock_breach",
            ChatEvent::ClockEscalation => "incident.clock_escalation",
            ChatEvent::Intake => "incident.reported",
            ChatEvent::Report => "incident.report_sent",
            ChatEvent::PoolItem => "pool.item_added",
            ChatEvent::OwnerChanged => "incident.owner_changed",
            ChatEvent::Mention => "incident.mention",
            ChatEvent::Test => "channel.test",
        }
    }

    /// The label on the channel form, in the language of `t`.
    pub fn label(self, t: &crate::i18n::Strings) -> &'static str {
        match self {
            ChatEvent::StageEntered => t.chat_event_stage_entered,
            ChatEvent::ClockReminder => t.chat_event_clock_reminder,
            ChatEvent::ClockBreach => t.chat_event_clock_breach,
            ChatEvent::ClockEscalation => t.chat_event_clock_escalation,
            ChatEvent::Intake => t.chat_event_intake,
            ChatEvent::Report => t.chat_event_report,
            ChatEvent::PoolItem => t.chat_event_pool_item,
            ChatEvent::OwnerChanged => t.chat_event_owner_changed,
            ChatEvent::Mention => t.chat_event_mention,
            ChatEvent::Test => t.chat_event_test,
        }
    }
}
