//! Which stage entry notifies whom, and the notification emails themselves.
//!
//! Entering a stage notifies the named owners of that stage's roles (step 3 adds QA to
//! investigating, so dev and QA both start locating the problem). A verdict that keeps the stage,
//! a claim or a reassignment sends nothing; refusals roll back and so never reach this code.

use chrono::Utc;

use super::{
    html::{escape, escape_lines, fill, host_of},
    outbox::{self, NewEmail},
    report, EmailKind,
};
use crate::{
    auth::Role,
    db::{placeholders, Db, WriteTx},
    error::AppError,
    i18n::{Locale, Strings},
    on_tx,
    workflow::{effects::TransitionEvent, labels, rules, rules::Stage},
};

/// Settings key holding the public base URL, written by the server at start-up: links in what is
/// composed outside a server's tasks (command-line tools) start with it.
pub const BASE_URL_SETTING: &str = "mail.public_base_url";

tokio::task_local! {
    /// The public base URL of the server instance whose task composes a message: set around every
    /// request and background task by the server, from that instance's own configuration. Several
    /// instances on one database each link to their own configured address (the setting above
    /// holds whichever started last).
    pub static PUBLIC_BASE_URL: std::sync::Arc<str>;
}

/// Used when no server has recorded its base URL (command-line tools, tests).
pub(crate) const FALLBACK_BASE_URL: &str = "http://127.0.0.1:3000";

/// Settings key holding the installation's time zone, the one emails show times in.
pub const TIME_ZONE_SETTING: &str = "mail.time_zone";

/// Records the public base URL for the links in emails.
pub async fn remember_base_url(db: &Db, base_url: &str) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    crate::db::settings::put(&mut tx, BASE_URL_SETTING, base_url, Utc::now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Records the installation's time zone for the times in emails.
pub async fn remember_time_zone(db: &Db, zone: &str) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    crate::db::settings::put(&mut tx, TIME_ZONE_SETTING, zone, Utc::now()).await?;
    tx.commit().await?;
    Ok(())
}

/// The zone times in emails are shown in, read inside `tx` (the default zone when no server has
/// recorded one).
pub(crate) async fn time_zone(tx: &mut WriteTx) -> Result<String, AppError> {
    let value: Option<String> = on_tx!(&mut *tx, conn => sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(TIME_ZONE_SETTING)
        .fetch_optional(conn)
        .await?);
    Ok(value.unwrap_or_else(|| crate::clock::DEFAULT_ZONE.to_owned()))
}

/// The public base URL: the instance's own inside a server's tasks, else the recorded setting
/// (read inside `tx`).
pub(crate) async fn base_url(tx: &mut WriteTx) -> Result<String, AppError> {
    // The instance's own configuration first: no query at all inside a server's tasks.
    if let Ok(url) = PUBLIC_BASE_URL.try_with(|url| url.to_string()) {
        return Ok(url);
    }
    let value: Option<String> = on_tx!(&mut *tx, conn => sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(BASE_URL_SETTING)
        .fetch_optional(conn)
        .await?);
    Ok(value.unwrap_or_else(|| FALLBACK_BASE_URL.to_owned()))
}

/// A user as an email recipient.
#[derive(Clone, Debug)]
pub(crate) struct Recipient {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub locale: Locale,
    pub active: bool,
    /// How chat channels @-mention them.
    pub chat: crate::chat::ChatIdentity,
}

#[derive(sqlx::FromRow)]
struct RecipientRow {
    id: i64,
    username: String,
    display_name: String,
    email: String,
    language: String,
    active: bool,
    chat_mobile: String,
    wecom_userid: String,
    feishu_open_id: String,
}

impl TryFrom<RecipientRow> for Recipient {
    type Error = crate::db::UnknownStoredValue;

    fn try_from(r: RecipientRow) -> Result<Self, Self::Error> {
        Ok(Recipient {
            id: r.id,
            username: r.username,
            name: r.display_name,
            email: r.email,
            locale: crate::db::parse_stored("users.language", &r.language, Locale::from_tag)?,
            active: r.active,
            chat: crate::chat::ChatIdentity {
                mobile: r.chat_mobile,
                wecom_userid: r.wecom_userid,
                feishu_open_id: r.feishu_open_id,
            },
        })
    }
}

/// Loads users by id inside `tx`, in the order of `ids`, each once (unknown ids are left out).
/// One statement for all of them: this runs inside gate transactions, where every statement
/// lengthens the time the write lock is held.
pub(crate) async fn recipients(tx: &mut WriteTx, ids: &[i64]) -> Result<Vec<Recipient>, AppError> {
    let wanted = distinct(ids);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {RECIPIENT_COLUMNS} FROM users u WHERE u.id IN ({})", placeholders(1, wanted.len()));
    let rows: Vec<RecipientRow> = on_tx!(&mut *tx, conn => {
        let mut query = sqlx::query_as(&sql);
        for id in &wanted {
            query = query.bind(*id);
        }
        query.fetch_all(conn).await?
    });
    in_order(rows, &wanted)
}

/// The columns of a [`RecipientRow`], from `users u`.
const RECIPIENT_COLUMNS: &str =
    "u.id, u.username, u.display_name, u.email, u.language, u.active, u.chat_mobile, u.wecom_userid, u.feishu_open_id";

/// `ids` without repeats, in their first order.
fn distinct(ids: &[i64]) -> Vec<i64> {
    let mut wanted: Vec<i64> = Vec::with_capacity(ids.len());
    for id in ids {
        if !wanted.contains(id) {
            wanted.push(*id);
        }
    }
    wanted
}

/// The recipients of `rows`, in the order of `wanted`.
fn in_order(rows: Vec<RecipientRow>, wanted: &[i64]) -> Result<Vec<Recipient>, AppError> {
    let mut found = rows.into_iter().map(Recipient::try_from).collect::<Result<Vec<_>, _>>()?;
    found.sort_by_key(|r| wanted.iter().position(|id| *id == r.id));
    Ok(found)
}

/// An incident's headline and the users `ids` (each once, in order), in one statement: the
/// notifications of a hand-off or an owner change need both, inside the gate transaction.
async fn headline_with_recipients(
    tx: &mut WriteTx,
    incident_id: i64,
    ids: &[i64],
) -> Result<(HeadlineRow, Vec<Recipient>), AppError> {
    #[derive(sqlx::FromRow)]
    struct Joined {
        #[sqlx(flatten)]
        headline: HeadlineRow,
        #[sqlx(flatten)]
        user: RecipientRow,
    }
    let wanted = distinct(ids);
    if wanted.is_empty() {
        return Ok((headline(tx, incident_id).await?, Vec::new()));
    }
    let sql = format!(
        "SELECT i.key, i.title, i.severity, COALESCE(s.name, '') AS source, {RECIPIENT_COLUMNS}, \
         {} AS enabled_channels FROM incidents i \
         JOIN users u ON i.id = $1 AND u.id IN ({}) \
         LEFT JOIN intake_sources s ON s.id = i.intake_source_id",
        crate::chat::store::enabled_count_sql(),
        placeholders(2, wanted.len())
    );
    let rows: Vec<Joined> = on_tx!(&mut *tx, conn => {
        let mut query = sqlx::query_as(&sql).bind(incident_id);
        for id in &wanted {
            query = query.bind(*id);
        }
        query.fetch_all(conn).await?
    });
    let mut rows = rows.into_iter();
    // No row: none of the users exists (the actor always does), or the incident does not.
    let Some(first) = rows.next() else { return Ok((headline(tx, incident_id).await?, Vec::new())) };
    let mut headline = first.headline;
    let users = std::iter::once(first.user).chain(rows.map(|r| r.user)).collect();
    headline.base_url = base_url(tx).await?;
    Ok((headline, in_order(users, &wanted)?))
}

/// Key, title and severity of an incident, for a notification, with the public base URL that
/// links in emails start with ([`base_url`]).
#[derive(sqlx::FromRow)]
struct HeadlineRow {
    key: String,
    title: String,
    severity: String,
    source: String,
    #[sqlx(skip)]
    base_url: String,
    /// How many chat channels are enabled, when read with the headline (a hand-off's chat
    /// messages then need no read of their own to learn that there are none).
    #[sqlx(default)]
    enabled_channels: Option<i64>,
}

async fn headline(tx: &mut WriteTx, incident_id: i64) -> Result<HeadlineRow, AppError> {
    let mut row: HeadlineRow = on_tx!(&mut *tx, conn => sqlx::query_as(
        "SELECT i.key, i.title, i.severity, COALESCE(s.name, '') AS source FROM incidents i \
         LEFT JOIN intake_sources s ON s.id = i.intake_source_id WHERE i.id = $1",
    )
    .bind(incident_id)
    .fetch_one(conn)
    .await?);
    row.base_url = base_url(tx).await?;
    Ok(row)
}

/// Queues the emails an accepted gate action causes, inside its transaction: the notifications of
/// the stage it entered and, for the send-report action, the report. Called by
/// `workflow::effects::on_transition`. Returns whether any chat channel is enabled when the
/// notifications' read told (`None` when it did not run), for the chat messages that follow.
pub async fn on_transition(tx: &mut WriteTx, event: &TransitionEvent) -> Result<Option<bool>, AppError> {
    if event.kind == crate::workflow::rules::ActionKind::SendReport {
        report::queue_report(tx, event).await?;
    }
    if event.from == event.to {
        return Ok(None);
    }
    let roles = rules::notified_roles(event.to);
    if roles.is_empty() {
        return Ok(None);
    }
    // The incident, the actor and everyone notified, in one statement.
    let notified: Vec<(Role, i64)> =
        roles.iter().filter_map(|role| event.owners.get(*role).map(|id| (*role, id))).collect();
    let ids: Vec<i64> = std::iter::once(event.actor_id).chain(notified.iter().map(|(_, id)| *id)).collect();
    let (HeadlineRow { key, title, severity, base_url: base, enabled_channels, .. }, people) =
        headline_with_recipients(tx, event.incident_id, &ids).await?;
    let actor = people.iter().find(|p| p.id == event.actor_id).cloned();
    let now = Utc::now();
    // One email per person, even when they hold two of the notified roles.
    let mut seen: Vec<i64> = Vec::new();
    for (role, user_id) in notified {
        if seen.contains(&user_id) {
            continue;
        }
        seen.push(user_id);
        let Some(user) = people.iter().find(|p| p.id == user_id).cloned() else { continue };
        if !user.active || user.email.trim().is_empty() {
            continue;
        }
        let note = Notification {
            key: &key,
            title: &title,
            severity: &severity.to_uppercase(),
            stage: event.to,
            role,
            action: labels::action(event.kind, user.locale.strings()),
            actor: actor.as_ref().map(|a| a.name.as_str()).unwrap_or_default(),
            link: &format!("{base}/incidents/{key}"),
        };
        let rendered = note.render(&user.name, user.locale.strings());
        queue_notification(tx, event.incident_id, &key, &user, rendered, &base, None, now).await?;
    }
    Ok(enabled_channels.map(|n| n > 0))
}

/// Queues the step-1 notification of an incident that arrived through intake: every active ops
/// user with an email address, each in their own language, inside the intake transaction (so the
/// emails exist exactly when the incident does).
pub async fn notify_ops_of_intake(tx: &mut WriteTx, incident_id: i64) -> Result<(), AppError> {
    let HeadlineRow { key, title, severity, source, base_url: base, .. } = headline(tx, incident_id).await?;
    let ops = active_holders(tx, rules::INTAKE_NOTIFIES).await?;
    let link = format!("{base}/incidents/{key}");
    let now = Utc::now();
    for user in recipients(tx, &ops).await? {
        if user.email.trim().is_empty() {
            continue;
        }
        let t = user.locale.strings();
        let stage = labels::stage(Stage::Reported, t);
        let subject = fill(t.mail_notify_subject, &[("key", &key), ("stage", stage), ("title", &title)]);
        let greeting = fill(t.mail_greeting, &[("name", &user.name)]);
        let severity = severity.to_uppercase();
        let body =
            fill(t.mail_intake_body, &[("key", &key), ("title", &title), ("severity", &severity), ("source", &source)]);
        let body_text = format!(
            "{greeting}\n\n{body}\n\n{}\n\n-- \n{}\n",
            fill(t.mail_notify_link, &[("link", &link)]),
            t.mail_footer
        );
        let anchor = format!("<a href=\"{}\">{}</a>", escape(&link), escape(&link));
        let body_html = format!(
            "{HTML_HEAD}<p>{}</p>\n<p>{}</p>\n<p>{}</p>\n<p style=\"color:#666;font-size:12px\">{}</p>\n{HTML_TAIL}",
            escape(&greeting),
            escape(&body),
            fill(&escape(t.mail_notify_link), &[("link", &anchor)]),
            escape_lines(t.mail_footer),
        );
        queue_notification(tx, incident_id, &key, &user, (subject, body_text, body_html), &base, None, now).await?;
    }
    Ok(())
}

/// The active users holding `role`, by id, read inside `tx`.
pub(crate) async fn active_holders(tx: &mut WriteTx, role: Role) -> Result<Vec<i64>, AppError> {
    Ok(on_tx!(&mut *tx, conn => sqlx::query_scalar(
        "SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id WHERE r.role = $1 AND u.active = $2 ORDER BY u.id",
    )
    .bind(role.as_str())
    .bind(true)
    .fetch_all(conn)
    .await?))
}

/// A change of one named owner, as the people it concerns are told.
pub struct OwnerChange<'a> {
    /// The incident.
    pub incident_id: i64,
    /// Whose role changed hands.
    pub role: Role,
    /// The owner replaced, if there was one.
    pub before: Option<i64>,
    /// The new owner.
    pub after: i64,
    /// Who made the change.
    pub actor_id: i64,
    /// Why (a reassignment's reason, a dispatch's note; may be empty).
    pub reason: &'a str,
    /// Tell the new owner too (a dispatch tells them already, by the stage it enters).
    pub tell_new_owner: bool,
}

/// Queues the emails of an owner change inside its transaction: the replaced owner learns the
/// role is no longer theirs and who has it now, the new owner that it is theirs and why. Nobody is
/// told of their own doing.
pub async fn notify_owner_change(tx: &mut WriteTx, change: &OwnerChange<'_>) -> Result<(), AppError> {
    if change.before == Some(change.after) {
        return Ok(());
    }
    if change.tell_new_owner {
        crate::chat::notify::on_owner_change(tx, change, Utc::now()).await?;
    }
    let ids: Vec<i64> = [Some(change.actor_id), Some(change.after), change.before].into_iter().flatten().collect();
    let (HeadlineRow { key, title, base_url: base, .. }, people) =
        headline_with_recipients(tx, change.incident_id, &ids).await?;
    let name = |id: i64| people.iter().find(|p| p.id == id).map(|p| p.name.clone()).unwrap_or_default();
    let link = format!("{base}/incidents/{key}");
    let now = Utc::now();
    let mut told: Vec<(i64, bool)> = Vec::new();
    if let Some(before) = change.before.filter(|id| *id != change.actor_id) {
        told.push((before, false));
    }
    if change.tell_new_owner && change.after != change.actor_id {
        told.push((change.after, true));
    }
    for (id, is_new) in told {
        let Some(user) = people.iter().find(|p| p.id == id).filter(|u| u.active && !u.email.trim().is_empty()) else {
            continue;
        };
        let t = user.locale.strings();
        let role = change.role.label(t);
        let args = [
            ("key", key.as_str()),
            ("title", title.as_str()),
            ("role", role),
            ("by", &name(change.actor_id)),
            ("new", &name(change.after)),
        ];
        let (subject, body) = if is_new {
            (fill(t.mail_owner_new_subject, &args), fill(t.mail_owner_new_body, &args))
        } else {
            (fill(t.mail_owner_replaced_subject, &args), fill(t.mail_owner_replaced_body, &args))
        };
        let reason = change.reason.trim();
        let reason = (!reason.is_empty()).then(|| fill(t.mail_field, &[("label", t.field_reason), ("value", reason)]));
        let greeting = fill(t.mail_greeting, &[("name", &user.name)]);
        let body_text = format!(
            "{greeting}\n\n{body}\n{}\n{}\n\n-- \n{}\n",
            reason.clone().unwrap_or_default(),
            fill(t.mail_notify_link, &[("link", &link)]),
            t.mail_footer
        );
        let anchor = format!("<a href=\"{}\">{}</a>", escape(&link), escape(&link));
        let body_html = format!(
            "{HTML_HEAD}<p>{}</p>\n<p>{}</p>\n{}<p>{}</p>\n<p style=\"color:#666;font-size:12px\">{}</p>\n{HTML_TAIL}",
            escape(&greeting),
            escape(&body),
            reason.map(|r| format!("<p>{}</p>\n", escape_lines(&r))).unwrap_or_default(),
            fill(&escape(t.mail_notify_link), &[("link", &anchor)]),
            escape_lines(t.mail_footer),
        );
        queue_notification(tx, change.incident_id, &key, user, (subject, body_text, body_html), &base, None, now)
            .await?;
    }
    Ok(())
}

/// Writes one rendered notification (subject, text, HTML) to `user` into the outbox; with a
/// dedupe key, one that may exist only once.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn queue_notification(
    tx: &mut WriteTx,
    incident_id: i64,
    key: &str,
    user: &Recipient,
    (subject, body_text, body_html): (String, String, String),
    base: &str,
    dedupe_key: Option<String>,
    now: chrono::DateTime<Utc>,
) -> Result<(), AppError> {
    let email = NewEmail {
        kind: EmailKind::Notification,
        incident_id,
        incident_key: key.to_owned(),
        dedupe_key,
        recipients: vec![user.email.trim().to_owned()],
        subject,
        body_text,
        body_html,
        language: user.locale.tag().to_owned(),
        message_domain: host_of(base),
    };
    outbox::enqueue(tx, &email, now).await?;
    Ok(())
}

/// What a hand-off notification says.
struct Notification<'a> {
    key: &'a str,
    title: &'a str,
    severity: &'a str,
    stage: Stage,
    role: Role,
    action: &'a str,
    actor: &'a str,
    link: &'a str,
}

impl Notification<'_> {
    /// Subject, plain text and HTML for `name`, in the language of `t`.
    fn render(&self, name: &str, t: &'static Strings) -> (String, String, String) {
        let stage = labels::stage(self.stage, t);
        let role = self.role.label(t);
        let subject = fill(t.mail_notify_subject, &[("key", self.key), ("stage", stage), ("title", self.title)]);
        let greeting = fill(t.mail_greeting, &[("name", name)]);
        let body = fill(
            t.mail_notify_body,
            &[("key", self.key), ("title", self.title), ("severity", self.severity), ("stage", stage), ("role", role)],
        );
        let by = fill(t.mail_notify_by, &[("action", self.action), ("name", self.actor)]);
        let text = format!(
            "{greeting}\n\n{body}\n{by}\n\n{}\n\n-- \n{}\n",
            fill(t.mail_notify_link, &[("link", self.link)]),
            t.mail_footer
        );
        let link = format!("<a href=\"{}\">{}</a>", escape(self.link), escape(self.link));
        let html = format!(
            "{HTML_HEAD}<p>{}</p>\n<p>{}<br>\n{}</p>\n<p>{}</p>\n<p style=\"color:#666;font-size:12px\">{}</p>\n{HTML_TAIL}",
            escape(&greeting),
            escape(&body),
            escape(&by),
            // The link template's text is ours; only the URL is inserted, escaped.
            fill(&escape(t.mail_notify_link), &[("link", &link)]),
            escape_lines(t.mail_footer),
        );
        (subject, text, html)
    }
}

/// Start of every HTML email: UTF-8, readable on a phone, no external resources.
pub(crate) const HTML_HEAD: &str = "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n</head>\n\
<body style=\"font-family:-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif;line-height:1.5;color:#1b1b1b;max-width:640px\">\n";

/// End of every HTML email.
pub(crate) const HTML_TAIL: &str = "</body>\n</html>\n";
