//! The channels table: admins' changes (checked, sealed, audited), the list the page shows, and
//! the subscribers of an event, read inside the transaction that causes it.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{
    destination::{self, Refused},
    sealed::SecretKey,
    ChannelKind, ChannelView, ChatEvent,
};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
    },
    db::{parse_stored, Db, WriteTx},
    error::{AppError, FieldProblem},
    on_db, on_tx,
    workflow::input::Severity,
};

/// Associated data of a sealed URL.
const URL_PURPOSE: &str = "chat.url";
/// Associated data of a sealed secret.
const SECRET_PURPOSE: &str = "chat.secret";

/// What an admin submitted for a channel. On a change, an empty URL or secret keeps the stored one.
#[derive(Clone, Debug, Default)]
pub struct ChannelInput {
    /// Name.
    pub name: String,
    /// Platform (stored name).
    pub kind: String,
    /// Language tag of its messages.
    pub language: String,
    /// Events it receives (stored names).
    pub events: Vec<String>,
    /// Severities it receives (stored names); empty: all.
    pub severities: Vec<String>,
    /// Webhook URL (a credential).
    pub url: SecretString,
    /// Signing secret (a credential), if the platform has one.
    pub secret: SecretString,
    /// Whether it receives messages.
    pub enabled: bool,
}

/// A checked channel, ready to store.
struct Checked {
    name: String,
    kind: ChannelKind,
    language: &'static str,
    events: Vec<ChatEvent>,
    severities: Vec<Severity>,
    /// The URL and its hint, when one was given.
    url: Option<(String, String)>,
    secret: Option<String>,
}

fn invalid(field: &str, problem: FieldProblem) -> AppError {
    AppError::invalid(field, problem)
}

/// Refusal of a destination, as the field problem the form shows.
pub fn destination_problem(refused: &Refused) -> FieldProblem {
    match refused {
        Refused::NotUrl => FieldProblem::NotUrl,
        Refused::Internal(host) => FieldProblem::InternalAddress(host.clone()),
        Refused::NotAllowed(host) => FieldProblem::HostNotAllowed(host.clone()),
    }
}

/// Checks the input; `creating` requires a URL. Nothing is stored.
fn check(input: &ChannelInput, allowed: &[String], creating: bool) -> Result<Checked, AppError> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(invalid("name", FieldProblem::Required));
    }
    if name.chars().count() > 60 {
        return Err(invalid("name", FieldProblem::TooLong(60)));
    }
    crate::text::check("name", name)?;
    let kind = ChannelKind::parse(input.kind.trim()).ok_or_else(|| invalid("kind", FieldProblem::InvalidChoice))?;
    let language = match crate::i18n::Locale::from_tag(&input.language) {
        Some(locale) if !input.language.trim().is_empty() => locale.tag(),
        _ => return Err(invalid("language", FieldProblem::InvalidChoice)),
    };
    let mut events = Vec::new();
    for name in &input.events {
        let e = ChatEvent::parse(name.trim())
            .filter(|e| ChatEvent::subscribable().contains(e))
            .ok_or_else(|| invalid("events", FieldProblem::InvalidChoice))?;
        if !events.contains(&e) {
            events.push(e);
        }
    }
    if events.is_empty() {
        return Err(invalid("events", FieldProblem::Required));
    }
    let mut severities = Vec::new();
    for name in &input.severities {
        let s = Severity::parse(name).ok_or_else(|| invalid("severities", FieldProblem::InvalidChoice))?;
        if !severities.contains(&s) {
            severities.push(s);
        }
    }
    severities.sort_by_key(|s| s.as_str());
    let raw_url = input.url.expose_secret().trim();
    let url = if raw_url.is_empty() {
        if creating {
            return Err(invalid("url", FieldProblem::Required));
        }
        None
    } else {
        if raw_url.chars().count() > 2000 {
            return Err(invalid("url", FieldProblem::TooLong(2000)));
        }
        let parsed = destination::check(raw_url, allowed).map_err(|r| invalid("url", destination_problem(&r)))?;
        if !destination::fits_kind(kind, &parsed) {
            return Err(invalid("url", FieldProblem::UrlNotOfKind));
        }
        Some((parsed.to_string(), destination::hint(&parsed)))
    };
    let raw_secret = input.secret.expose_secret().trim();
    let secret = if raw_secret.is_empty() || !kind.has_secret() {
        None
    } else {
        if raw_secret.len() > 500 || raw_secret.chars().any(char::is_control) {
            return Err(invalid("secret", FieldProblem::SecretFormat));
        }
        if kind == ChannelKind::Dingtalk && !raw_secret.starts_with("SEC") {
            // DingTalk's signing secrets all start with SEC; anything else is a pasted token.
            return Err(invalid("secret", FieldProblem::SecretFormat));
        }
        Some(raw_secret.to_owned())
    };
    Ok(Checked { name: name.to_owned(), kind, language, events, severities, url, secret })
}

fn events_json(events: &[ChatEvent]) -> String {
    serde_json::to_string(&events.iter().map(|e| e.as_str()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

fn severities_json(severities: &[Severity]) -> String {
    serde_json::to_string(&severities.iter().map(|s| s.as_str()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// The hosts admins allowed, read inside `tx` or from the pool.
pub async fn allowed_hosts(db: &Db) -> Result<Vec<String>, AppError> {
    Ok(destination::parse_hosts(
        &crate::db::settings::get(db, destination::ALLOWED_HOSTS_SETTING).await?.unwrap_or_default(),
    ))
}

/// Whether a live channel already has `name` (other than `except`).
async fn name_taken(tx: &mut WriteTx, name: &str, except: i64) -> Result<bool, AppError> {
    let n: i64 = on_tx!(&mut *tx, conn => sqlx::query_scalar(
        "SELECT COUNT(*) FROM chat_channels WHERE name = $1 AND removed_at IS NULL AND id <> $2",
    )
    .bind(name)
    .bind(except)
    .fetch_one(conn)
    .await?);
    Ok(n > 0)
}

/// The key, or the refusal an admin sees when the server has none.
fn require_key(key: Option<&SecretKey>) -> Result<&SecretKey, AppError> {
    key.ok_or_else(|| invalid("url", FieldProblem::SecretKeyMissing))
}

/// What the audit log records of a channel: never the URL or the secret.
fn audit_view(c: &Checked, enabled: bool) -> serde_json::Value {
    serde_json::json!({
        "name": c.name,
        "kind": c.kind.as_str(),
        "language": c.language,
        "events": c.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "severities": c.severities.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "enabled": enabled,
    })
}

/// Adds a channel; returns its id and, for a webhook left without a secret, the secret generated
/// for it (shown to the admin once).
pub async fn create(
    db: &Db,
    key: Option<&SecretKey>,
    origin: &Origin,
    input: &ChannelInput,
    now: DateTime<Utc>,
) -> Result<(i64, Option<String>), AppError> {
    let key = require_key(key)?;
    let allowed = allowed_hosts(db).await?;
    let mut checked = check(input, &allowed, true)?;
    let generated =
        (checked.kind == ChannelKind::Webhook && checked.secret.is_none()).then(super::sign::new_webhook_secret);
    if let Some(secret) = &generated {
        checked.secret = Some(secret.clone());
    }
    let (url, hint) = checked.url.clone().ok_or_else(|| invalid("url", FieldProblem::Required))?;
    let mut tx = db.begin_write().await?;
    if name_taken(&mut tx, &checked.name, 0).await? {
        return Err(invalid("name", FieldProblem::Taken));
    }
    let id: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "INSERT INTO chat_channels (name, kind, language, events, severities, url_sealed, secret_sealed, url_hint, \
         enabled, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
    )
    .bind(&checked.name)
    .bind(checked.kind.as_str())
    .bind(checked.language)
    .bind(events_json(&checked.events))
    .bind(severities_json(&checked.severities))
    .bind(key.seal(URL_PURPOSE, &url))
    .bind(checked.secret.as_ref().map(|s| key.seal(SECRET_PURPOSE, s)))
    .bind(&hint)
    .bind(input.enabled)
    .bind(origin.user_id())
    .bind(now)
    .fetch_one(conn)
    .await?);
    let mut details = audit_view(&checked, input.enabled);
    details["url"] = hint.into();
    details["has_secret"] = checked.secret.is_some().into();
    Record::new(origin, event::CHANNEL_CREATED)
        .target("chat_channel", id.to_string())
        .details(details)
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok((id, generated))
}

/// Changes a channel; an empty URL or secret keeps the stored one. Audited with what changed
/// (the credentials only as "changed").
pub async fn update(
    db: &Db,
    key: Option<&SecretKey>,
    origin: &Origin,
    id: i64,
    input: &ChannelInput,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let allowed = allowed_hosts(db).await?;
    let checked = check(input, &allowed, false)?;
    if checked.url.is_some() || checked.secret.is_some() {
        require_key(key)?;
    }
    let mut tx = db.begin_write().await?;
    let before: Option<StoredRow> = on_tx!(&mut tx, conn => sqlx::query_as(&format!(
        "SELECT {STORED_COLUMNS} FROM chat_channels WHERE id = $1 AND removed_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?);
    let before = before.ok_or(AppError::NotFound)?;
    if name_taken(&mut tx, &checked.name, id).await? {
        return Err(invalid("name", FieldProblem::Taken));
    }
    let before_kind = parse_stored("chat_channels.kind", &before.kind, ChannelKind::parse)?;
    if before_kind != checked.kind && checked.url.is_none() {
        // Another platform needs that platform's URL.
        return Err(invalid("url", FieldProblem::Required));
    }
    let (url_sealed, hint) = match (&checked.url, key) {
        (Some((url, hint)), Some(key)) => (key.seal(URL_PURPOSE, url), hint.clone()),
        _ => (before.url_sealed.clone(), before.url_hint.clone()),
    };
    let secret_sealed = match (&checked.secret, key) {
        (Some(secret), Some(key)) => Some(key.seal(SECRET_PURPOSE, secret)),
        _ if checked.kind.has_secret() => before.secret_sealed.clone(),
        _ => None,
    };
    on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE chat_channels SET name = $1, kind = $2, language = $3, events = $4, severities = $5, url_sealed = $6, \
         secret_sealed = $7, url_hint = $8, enabled = $9, updated_at = $10 WHERE id = $11",
    )
    .bind(&checked.name)
    .bind(checked.kind.as_str())
    .bind(checked.language)
    .bind(events_json(&checked.events))
    .bind(severities_json(&checked.severities))
    .bind(&url_sealed)
    .bind(&secret_sealed)
    .bind(&hint)
    .bind(input.enabled)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ()))?;
    let mut after = audit_view(&checked, input.enabled);
    after["url"] = hint.into();
    let details = serde_json::json!({
        "before": {
            "name": before.name, "kind": before.kind, "language": before.language,
            "events": serde_json::from_str::<serde_json::Value>(&before.events).unwrap_or_default(),
            "severities": serde_json::from_str::<serde_json::Value>(&before.severities).unwrap_or_default(),
            "enabled": before.enabled, "url": before.url_hint,
        },
        "after": after,
        "url_changed": checked.url.is_some(),
        "secret_changed": checked.secret.is_some(),
    });
    Record::new(origin, event::CHANNEL_UPDATED)
        .target("chat_channel", id.to_string())
        .details(details)
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a channel: it receives nothing more, its waiting messages fail (visible on the outbox
/// page), and its row stays for the outbox history.
pub async fn remove(db: &Db, origin: &Origin, id: i64, now: DateTime<Utc>) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    let name: Option<String> = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "UPDATE chat_channels SET removed_at = $1, enabled = $2, updated_at = $1 WHERE id = $3 AND removed_at IS NULL RETURNING name",
    )
    .bind(now)
    .bind(false)
    .bind(id)
    .fetch_optional(conn)
    .await?);
    let name = name.ok_or(AppError::NotFound)?;
    on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE outbox SET status = 'failed', last_error = 'channel removed', lease_until = NULL \
         WHERE channel_id = $1 AND transport = 'chat' AND status IN ('queued', 'sending')",
    )
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ()))?;
    Record::new(origin, event::CHANNEL_REMOVED)
        .target("chat_channel", id.to_string())
        .details(serde_json::json!({ "name": name }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Stores the hosts admins allow besides the platforms' own, audited as a settings change.
pub async fn set_allowed_hosts(db: &Db, origin: &Origin, text: &str, now: DateTime<Utc>) -> Result<(), AppError> {
    crate::text::check("hosts", text)?;
    for host in destination::parse_hosts(text) {
        let valid = host.len() <= 253
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !valid {
            return Err(invalid("hosts", FieldProblem::HostNotAllowed(host)));
        }
    }
    let text = destination::parse_hosts(text).join("\n");
    let mut tx = db.begin_write().await?;
    let before =
        crate::db::settings::get_for_update(&mut tx, destination::ALLOWED_HOSTS_SETTING).await?.unwrap_or_default();
    if before != text {
        crate::db::settings::put(&mut tx, destination::ALLOWED_HOSTS_SETTING, &text, now).await?;
        Record::new(origin, event::SETTINGS_CHANGED)
            .target("setting", destination::ALLOWED_HOSTS_SETTING)
            .details(serde_json::json!({ "before": before, "after": text }))
            .append(&mut tx, now)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

const STORED_COLUMNS: &str = "id, name, kind, language, events, severities, url_sealed, secret_sealed, url_hint, \
                              enabled, last_outcome, last_answer, last_attempt_at";

#[derive(sqlx::FromRow)]
struct StoredRow {
    id: i64,
    name: String,
    kind: String,
    language: String,
    events: String,
    severities: String,
    url_sealed: String,
    secret_sealed: Option<String>,
    url_hint: String,
    enabled: bool,
    last_outcome: String,
    last_answer: String,
    last_attempt_at: Option<DateTime<Utc>>,
}

fn stored_events(json: &str) -> Result<Vec<ChatEvent>, crate::db::UnknownStoredValue> {
    parse_stored("chat_channels.events", json, |j| {
        let names: Vec<String> = serde_json::from_str(j).ok()?;
        names.iter().map(|n| ChatEvent::parse(n)).collect()
    })
}

fn stored_severities(json: &str) -> Result<Vec<String>, crate::db::UnknownStoredValue> {
    parse_stored("chat_channels.severities", json, |j| serde_json::from_str(j).ok())
}

#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    stored: StoredRow,
    waiting: i64,
}

/// Every live channel, by name, with the number of messages waiting for each.
pub async fn list(db: &Db) -> Result<Vec<ChannelView>, AppError> {
    let sql = format!(
        "SELECT {STORED_COLUMNS}, (SELECT COUNT(*) FROM outbox o WHERE o.channel_id = c.id AND o.transport = 'chat' \
         AND o.status IN ('queued', 'sending')) AS waiting FROM chat_channels c WHERE removed_at IS NULL ORDER BY name, id"
    );
    let rows: Vec<ListedRow> = on_db!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await?);
    let mut out = Vec::with_capacity(rows.len());
    for ListedRow { stored: r, waiting } in rows {
        out.push(ChannelView {
            id: r.id,
            name: r.name,
            kind: parse_stored("chat_channels.kind", &r.kind, ChannelKind::parse)?,
            language: r.language,
            events: stored_events(&r.events)?,
            severities: stored_severities(&r.severities)?,
            url_hint: r.url_hint,
            has_secret: r.secret_sealed.is_some(),
            enabled: r.enabled,
            last_outcome: r.last_outcome,
            last_answer: r.last_answer,
            last_attempt_at: r.last_attempt_at.map(|t| t.to_rfc3339()),
            waiting,
        });
    }
    Ok(out)
}

/// A channel that receives an event: where to queue it and in which language to write it.
#[derive(Clone, Debug)]
pub struct Subscriber {
    /// Channel id.
    pub id: i64,
    /// Language tag of its messages.
    pub language: String,
    /// The severities it receives (stored names); empty: all.
    pub severities: Vec<String>,
}

impl Subscriber {
    /// Whether it receives messages about something of `severity` (a priority, for pool items).
    pub fn wants(&self, severity: &str) -> bool {
        self.severities.is_empty() || self.severities.iter().any(|s| s.eq_ignore_ascii_case(severity))
    }
}

/// The channels that receive messages (`chat_channels c`): enabled and not removed.
const ENABLED: &str = "c.enabled AND c.removed_at IS NULL";

/// How many channels receive messages, as a subquery: a statement that runs anyway can tell
/// whether [`subscribers`] would find any.
pub(crate) fn enabled_count_sql() -> String {
    format!("(SELECT COUNT(*) FROM chat_channels c WHERE {ENABLED})")
}

#[derive(sqlx::FromRow)]
struct SubscriberRow {
    id: i64,
    language: String,
    events: String,
    severities: String,
}

/// The enabled channels receiving `event` (whatever the severity: see [`Subscriber::wants`]),
/// read inside `tx`. One small statement, and with no channel the only one: it runs in every gate
/// action.
pub async fn subscribers(tx: &mut WriteTx, event: ChatEvent) -> Result<Vec<Subscriber>, AppError> {
    let sql = format!("SELECT id, language, events, severities FROM chat_channels c WHERE {ENABLED} ORDER BY id");
    let rows: Vec<SubscriberRow> = on_tx!(&mut *tx, conn => sqlx::query_as(&sql)
    .fetch_all(conn)
    .await?);
    let mut out = Vec::new();
    for row in rows {
        if event == ChatEvent::Test || stored_events(&row.events)?.contains(&event) {
            out.push(Subscriber {
                id: row.id,
                language: row.language,
                severities: stored_severities(&row.severities)?,
            });
        }
    }
    Ok(out)
}

/// A channel as its sender needs it, credentials opened.
pub struct Credentials {
    /// Platform.
    pub kind: ChannelKind,
    /// The admin's name for it.
    pub name: String,
    /// The webhook URL.
    pub url: SecretString,
    /// The signing secret, if any.
    pub secret: Option<SecretString>,
    /// Whether it receives messages.
    pub enabled: bool,
}

/// Loads channel `id` with its credentials opened by `key`; `None` for a removed or unknown
/// channel.
pub async fn credentials(db: &Db, key: &SecretKey, id: i64) -> Result<Option<Credentials>, AppError> {
    let row: Option<StoredRow> = on_db!(db, pool => sqlx::query_as(&format!(
        "SELECT {STORED_COLUMNS} FROM chat_channels WHERE id = $1 AND removed_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?);
    let Some(row) = row else { return Ok(None) };
    let url = key.open(URL_PURPOSE, &row.url_sealed).map_err(AppError::internal)?;
    let secret = row.secret_sealed.map(|s| key.open(SECRET_PURPOSE, &s)).transpose().map_err(AppError::internal)?;
    Ok(Some(Credentials {
        kind: parse_stored("chat_channels.kind", &row.kind, ChannelKind::parse)?,
        name: row.name,
        url,
        secret,
        enabled: row.enabled,
    }))
}

/// At start-up: refuses to run with channels but no key, or with a key that does not open them
/// (a changed key would leave every channel silently failing).
pub async fn check_key(db: &Db, key: Option<&SecretKey>) -> Result<usize, String> {
    let sealed: Vec<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT url_sealed FROM chat_channels WHERE removed_at IS NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await)
    .map_err(|e| format!("cannot read the chat channels: {e}"))?;
    if sealed.is_empty() {
        return Ok(0);
    }
    let Some(key) = key else {
        return Err(format!(
            "{} chat channel(s) exist but no secret key is configured (BATON_SECRET_KEY or BATON_SECRET_KEY_FILE): \
             their URLs cannot be opened",
            sealed.len()
        ));
    };
    for value in &sealed {
        key.open(URL_PURPOSE, value).map_err(|_| {
            "the configured secret key (BATON_SECRET_KEY) does not open the stored chat channels: it is not the key \
             they were saved with"
                .to_owned()
        })?;
    }
    Ok(sealed.len())
}
