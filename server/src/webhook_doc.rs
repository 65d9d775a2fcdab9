//! The outgoing chat webhook, described in the OpenAPI document under `webhooks` (OpenAPI 3.1):
//! the event a "Webhook (signed)" channel receives, its headers and how to verify them. The
//! schema is derived from these types; the event itself is built by `app::chat::wire`, and a test
//! checks the two agree on every field.
// Schema-only types: never constructed, read by the derive.
#![allow(dead_code)]

use serde_json::{json, Value};
use utoipa::{PartialSchema, ToSchema};

/// A person an event names.
#[derive(ToSchema)]
pub struct WebhookPerson {
    /// Baton username.
    pub username: String,
    /// Display name.
    pub name: String,
    /// The role they act in: `ops`, `pm`, `dev`, `qa` or `admin`.
    pub role: String,
}

/// The incident an event is about.
#[derive(ToSchema)]
pub struct WebhookIncident {
    /// Key, e.g. `INC-2026-0042`.
    pub key: String,
    /// Title (as reported: may hold any text).
    pub title: String,
    /// `p0` … `p3`.
    pub severity: String,
    /// The stage now, e.g. `fixing`.
    pub stage: String,
    /// Link to the incident page.
    pub url: String,
}

/// What happened.
#[derive(ToSchema)]
pub struct WebhookData {
    /// The incident; `null` for events not about one (a pool item without one, a test message).
    pub incident: Option<WebhookIncident>,
    /// What the event is about: the incident's title, a pool item's title, a test's.
    pub title: String,
    /// Link to it.
    pub url: String,
    /// One sentence in the channel's language.
    pub headline: String,
    /// Who must act now.
    pub must_act: Vec<WebhookPerson>,
    /// Every named owner of the incident.
    pub owners: Vec<WebhookPerson>,
    /// Time to the stage's target in seconds (negative: over it); `null` without a target.
    pub time_left_seconds: Option<i64>,
    /// `zh-CN` or `en`.
    pub language: String,
}

/// One event, as the body of a `POST` to the channel's URL.
#[derive(ToSchema)]
pub struct WebhookEvent {
    /// `incident.stage_entered`, `incident.owner_changed`, `incident.mention`, `incident.clock_reminder`, `incident.clock_breach`,
    /// `incident.clock_escalation`, `incident.reported`, `incident.report_sent`, `pool.item_added`,
    /// `channel.test`, or `digest` (several events sent together when the rate limit was reached:
    /// `data.heading` and `data.events`, each an event object).
    pub r#type: String,
    /// Version of this format: 1.
    pub version: i64,
    /// Unique per event and stable across retries (the `webhook-id` header): deduplicate on it.
    pub id: String,
    /// When it happened (RFC 3339).
    pub occurred_at: String,
    /// The event's data.
    pub data: WebhookData,
}

/// How to verify a delivery.
const VERIFY: &str = "Signed like Standard Webhooks (https://www.standardwebhooks.com/). Headers: `webhook-id`, \
`webhook-timestamp` (Unix seconds; reject one older than 5 minutes) and `webhook-signature`: space-separated \
`v1,<base64>` values, one of which must equal base64(HMAC-SHA256(key, webhook-id + \".\" + webhook-timestamp + \".\" + \
raw body)), where the key is the base64-decoded part of the channel's secret after `whsec_`. In Python:\n\n\
```python\nimport base64, hashlib, hmac\n\
def verify(secret, headers, body):  # body: the raw bytes\n\
    key = base64.b64decode(secret.removeprefix(\"whsec_\"))\n\
    signed = f\"{headers['webhook-id']}.{headers['webhook-timestamp']}.\".encode() + body\n\
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()\n\
    return any(s == \"v1,\" + expected for s in headers[\"webhook-signature\"].split())\n```\n\n\
Answer 2xx once stored. Other answers, timeouts and connection failures are retried with backoff (429 and 5xx \
included); the channel's later events wait behind the failed one, so events arrive in order.";

/// Adds the webhook to `doc` (the intake API's document, as JSON).
pub fn add_to(doc: &mut Value) {
    let header = |name: &str, description: &str| json!({ "name": name, "in": "header", "required": true, "description": description, "schema": { "type": "string" } });
    let schemas = &mut doc["components"]["schemas"];
    for (name, schema) in [
        ("WebhookEvent", serde_json::to_value(WebhookEvent::schema()).unwrap_or_default()),
        ("WebhookData", serde_json::to_value(WebhookData::schema()).unwrap_or_default()),
        ("WebhookIncident", serde_json::to_value(WebhookIncident::schema()).unwrap_or_default()),
        ("WebhookPerson", serde_json::to_value(WebhookPerson::schema()).unwrap_or_default()),
    ] {
        schemas[name] = schema;
    }
    doc["webhooks"] = json!({
        "chatChannelEvent": {
            "post": {
                "summary": "An event sent to a \"Webhook (signed)\" chat channel",
                "description": VERIFY,
                "parameters": [
                    header("webhook-id", "The event's id (as `id` in the body)."),
                    header("webhook-timestamp", "When it was signed, Unix seconds."),
                    header("webhook-signature", "`v1,<base64 HMAC-SHA256>`."),
                ],
                "requestBody": {
                    "required": true,
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/WebhookEvent" } } }
                },
                "responses": { "2XX": { "description": "Received; not sent again." } }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use app::chat::{
        message::{ChatMessage, Fact, Person},
        wire, ChannelKind, ChatEvent,
    };

    use super::*;

    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        keys.sort();
        keys
    }

    #[test]
    fn the_documented_event_has_exactly_the_fields_baton_sends() {
        let person = Person { username: "dev1".into(), name: "Dana".into(), role: "dev".into(), ..Person::default() };
        let message = ChatMessage {
            id: "msg_1".into(),
            event: ChatEvent::StageEntered,
            occurred_at: chrono::Utc::now(),
            language: "en".into(),
            incident_key: "INC-1".into(),
            title: "t".into(),
            severity: "p1".into(),
            stage: "fixing".into(),
            headline: "h".into(),
            facts: vec![Fact { label: "l".into(), value: "v".into() }],
            must_act: vec![person.clone()],
            owners: vec![person],
            time_left_seconds: Some(60),
            url: "https://baton.example/incidents/INC-1".into(),
            open_label: "Open".into(),
        };
        let sent = wire::render(ChannelKind::Webhook, &[message], "");
        let mut doc = json!({ "components": { "schemas": {} } });
        add_to(&mut doc);
        let schemas = &doc["components"]["schemas"];
        let props = |name: &str| keys(&schemas[name]["properties"]);
        assert_eq!(keys(&sent), props("WebhookEvent"));
        assert_eq!(keys(&sent["data"]), props("WebhookData"));
        assert_eq!(keys(&sent["data"]["incident"]), props("WebhookIncident"));
        assert_eq!(keys(&sent["data"]["must_act"][0]), props("WebhookPerson"));
        assert!(doc["webhooks"]["chatChannelEvent"]["post"]["description"].as_str().unwrap().contains("whsec_"));
    }
}
