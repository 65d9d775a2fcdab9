//! Which events reach which channels: each writes one outbox row per subscribed channel, inside
//! the transaction of the action that causes it (so a message exists exactly when the action
//! committed), written in the channel's language and naming, with their chat identities, the
//! people who must act now.
//!
//! With no channel enabled, a stage hand-off reads nothing here: the emails' read of the incident
//! counts the enabled channels (`channels_enabled`). Otherwise, and in the other hooks, each costs
//! one small read of the channels table.

use chrono::{DateTime, Utc};

use super::{
    message::{ChatMessage, Fact, Person},
    store::{self, Subscriber},
    ChatEvent,
};
use crate::{
    auth::Role,
    db::WriteTx,
    error::AppError,
    i18n::{fill, Locale, Strings},
    mail::compose::{recipients, Recipient},
    on_tx,
    workflow::{
        effects::TransitionEvent,
        labels,
        rules::{self, ActionKind, Owners, Stage},
    },
};

/// What a message says about its incident, read in one statement.
#[derive(sqlx::FromRow)]
struct IncidentRow {
    key: String,
    title: String,
    severity: String,
    stage: String,
    ops_owner: Option<i64>,
    pm_owner: Option<i64>,
    dev_owner: Option<i64>,
    qa_owner: Option<i64>,
    root_cause: String,
    solution: String,
    source: String,
    /// The public base URL links start with (`mail::compose::base_url`).
    #[sqlx(skip)]
    base_url: String,
}

impl IncidentRow {
    fn owners(&self) -> Owners {
        Owners { ops: self.ops_owner, pm: self.pm_owner, dev: self.dev_owner, qa: self.qa_owner }
    }

    fn stage(&self) -> Result<Stage, AppError> {
        Ok(crate::db::parse_stored("incidents.stage", &self.stage, Stage::parse)?)
    }

    fn link(&self) -> String {
        format!("{}/incidents/{}", self.base_url, self.key)
    }
}

async fn incident(tx: &mut WriteTx, id: i64) -> Result<IncidentRow, AppError> {
    let mut row: IncidentRow = on_tx!(&mut *tx, conn => sqlx::query_as(
        "SELECT i.key, i.title, i.severity, i.stage, i.ops_owner, i.pm_owner, i.dev_owner, i.qa_owner, i.root_cause, \
         i.solution, COALESCE(s.name, '') AS source \
         FROM incidents i LEFT JOIN intake_sources s ON s.id = i.intake_source_id WHERE i.id = $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await?);
    row.base_url = crate::mail::compose::base_url(tx).await?;
    Ok(row)
}

/// The people a message names, loaded in one statement with the email recipients' query
/// (`mail::compose::recipients`), which also reads their chat identities.
struct People(Vec<Recipient>);

impl People {
    async fn load(tx: &mut WriteTx, ids: impl IntoIterator<Item = i64>) -> Result<Self, AppError> {
        Ok(Self(recipients(tx, &ids.into_iter().collect::<Vec<_>>()).await?))
    }

    /// The people `pairs` names (with the role they act in), in that order, each once; inactive
    /// users are left out: a mention of someone who left helps nobody.
    fn named(&self, pairs: &[(Role, i64)]) -> Vec<Person> {
        let mut out: Vec<Person> = Vec::new();
        for (role, id) in pairs {
            let Some(r) = self.0.iter().find(|r| r.id == *id && r.active) else { continue };
            if out.iter().any(|p| p.username == r.username) {
                continue;
            }
            out.push(Person {
                username: r.username.clone(),
                name: r.name.clone(),
                role: role.as_str().to_owned(),
                mobile: r.chat.mobile.clone(),
                wecom_userid: r.chat.wecom_userid.clone(),
                feishu_open_id: r.chat.feishu_open_id.clone(),
            });
        }
        out
    }

    /// The display name of `id` (also of someone inactive: a past owner, the actor).
    fn name(&self, id: i64) -> String {
        self.0.iter().find(|r| r.id == id).map(|r| r.name.clone()).unwrap_or_default()
    }
}

/// The named owners of an incident, as (role, user) pairs.
fn owner_pairs(owners: &Owners) -> Vec<(Role, i64)> {
    [Role::Ops, Role::Pm, Role::Dev, Role::Qa].into_iter().filter_map(|r| owners.get(r).map(|id| (r, id))).collect()
}

/// The owners of `stage`'s roles: the people who must act now.
fn must_act_pairs(stage: Stage, owners: &Owners) -> Vec<(Role, i64)> {
    rules::notified_roles(stage).into_iter().filter_map(|r| owners.get(r).map(|id| (r, id))).collect()
}

/// The subscribers that receive messages about something of `severity`.
fn for_severity(subs: Vec<Subscriber>, severity: &str) -> Vec<Subscriber> {
    subs.into_iter().filter(|s| s.wants(severity)).collect()
}

fn locale_of(sub: &Subscriber) -> Locale {
    Locale::from_tag(&sub.language).unwrap_or_default()
}

/// The parts every incident message shares, in the language of `t`.
struct Draft<'a> {
    event: ChatEvent,
    row: &'a IncidentRow,
    stage: Stage,
    must_act: &'a [Person],
    owners: &'a [Person],
    time_left_seconds: Option<i64>,
}

impl Draft<'_> {
    fn message(
        &self,
        t: &'static Strings,
        locale: Locale,
        headline: String,
        mut extra: Vec<Fact>,
        now: DateTime<Utc>,
    ) -> ChatMessage {
        let names = self.must_act.iter().map(|p| p.name.clone()).collect::<Vec<_>>().join(", ");
        let mut facts = vec![
            Fact { label: t.chat_fact_severity.to_owned(), value: self.row.severity.to_uppercase() },
            Fact { label: t.chat_fact_stage.to_owned(), value: labels::stage(self.stage, t).to_owned() },
        ];
        if !names.is_empty() {
            facts.push(Fact { label: t.chat_fact_must_act.to_owned(), value: names });
        }
        if let Some(left) = self.time_left_seconds {
            let (label, span) = if left >= 0 {
                (t.chat_fact_time_left, crate::clocks::format_span(left))
            } else {
                (t.chat_fact_over_target, crate::clocks::format_span(left))
            };
            facts.push(Fact { label: label.to_owned(), value: span });
        }
        facts.append(&mut extra);
        ChatMessage {
            id: new_id(),
            event: self.event,
            occurred_at: now,
            language: locale.tag().to_owned(),
            incident_key: self.row.key.clone(),
            title: self.row.title.clone(),
            severity: self.row.severity.clone(),
            stage: self.stage.as_str().to_owned(),
            headline,
            facts,
            must_act: self.must_act.to_vec(),
            owners: self.owners.to_vec(),
            time_left_seconds: self.time_left_seconds,
            url: self.row.link(),
            open_label: fill(t.chat_open, &[("key", &self.row.key)]),
        }
    }
}

/// A message id, also the webhook's `webhook-id`: unique, stable across retries.
fn new_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// Writes `message` for `channel` into the outbox.
async fn enqueue(
    tx: &mut WriteTx,
    channel: i64,
    incident_id: Option<i64>,
    message: &ChatMessage,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let payload = serde_json::to_string(message).map_err(AppError::internal)?;
    let kind = if message.event == ChatEvent::Report { "report" } else { "notification" };
    // The subject column holds the line admins see in the outbox list.
    let subject = if message.incident_key.is_empty() {
        message.headline.clone()
    } else {
        format!("{} {}", message.incident_key, message.headline)
    };
    Ok(on_tx!(&mut *tx, conn => sqlx::query_scalar(
        "INSERT INTO outbox (kind, incident_id, recipients, subject, body_text, body_html, language, status, attempts, \
         next_attempt_at, created_at, transport, channel_id, payload) \
         VALUES ($1, $2, '[]', $3, $4, '', $5, 'queued', 0, $6, $6, 'chat', $7, $8) RETURNING id",
    )
    .bind(kind)
    .bind(incident_id)
    .bind(&subject)
    .bind(message.headline.as_str())
    .bind(&message.language)
    .bind(now)
    .bind(channel)
    .bind(&payload)
    .fetch_one(conn)
    .await?))
}

/// Stage hand-offs and the step-9 report, inside the gate action's transaction (called by
/// `workflow::effects`). `channels_enabled` is whether any channel is enabled, when the emails of
/// the same action already read it (`Some(false)`: nothing to write, nothing more to read).
pub async fn on_transition(
    tx: &mut WriteTx,
    event: &TransitionEvent,
    channels_enabled: Option<bool>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let handoff = event.from != event.to && !rules::notified_roles(event.to).is_empty();
    let report = event.kind == ActionKind::SendReport;
    if (!handoff && !report) || channels_enabled == Some(false) {
        return Ok(());
    }
    let mut row = None;
    for (chat_event, wanted) in [(ChatEvent::StageEntered, handoff), (ChatEvent::Report, report)] {
        if !wanted {
            continue;
        }
        let subs = store::subscribers(tx, chat_event).await?;
        if subs.is_empty() {
            continue;
        }
        // The incident is read only when some channel listens.
        if row.is_none() {
            row = Some(incident(tx, event.incident_id).await?);
        }
        let Some(row) = row.as_ref() else { continue };
        let subs = for_severity(subs, &row.severity);
        if subs.is_empty() {
            continue;
        }
        let must_act_ids =
            if chat_event == ChatEvent::Report { Vec::new() } else { must_act_pairs(event.to, &event.owners) };
        let owner_ids = owner_pairs(&event.owners);
        let ids = must_act_ids.iter().chain(&owner_ids).map(|(_, id)| *id).chain([event.actor_id]);
        let people = People::load(tx, ids).await?;
        let (must_act, owners, actor) =
            (people.named(&must_act_ids), people.named(&owner_ids), people.name(event.actor_id));
        let left = time_left(tx, event.incident_id, now).await?;
        let draft = Draft {
            event: chat_event,
            row,
            stage: event.to,
            must_act: &must_act,
            owners: &owners,
            time_left_seconds: if chat_event == ChatEvent::Report { None } else { left },
        };
        for sub in &subs {
            let locale = locale_of(sub);
            let t = locale.strings();
            let (headline, extra) = if chat_event == ChatEvent::Report {
                let mut facts = Vec::new();
                if !row.root_cause.trim().is_empty() {
                    facts.push(Fact { label: t.chat_fact_root_cause.to_owned(), value: row.root_cause.clone() });
                }
                if !row.solution.trim().is_empty() {
                    facts.push(Fact { label: t.chat_fact_solution.to_owned(), value: row.solution.clone() });
                }
                (fill(t.chat_headline_report, &[("key", &row.key)]), facts)
            } else {
                let args = [
                    ("key", row.key.as_str()),
                    ("stage", labels::stage(event.to, t)),
                    ("action", labels::action(event.kind, t)),
                    ("actor", actor.as_str()),
                ];
                (fill(t.chat_headline_stage, &args), Vec::new())
            };
            let message = draft.message(t, locale, headline, extra, now);
            enqueue(tx, sub.id, Some(event.incident_id), &message, now).await?;
        }
    }
    Ok(())
}

/// The current stage clock's time to its target (negative: over it), in seconds.
async fn time_left(tx: &mut WriteTx, incident_id: i64, now: DateTime<Utc>) -> Result<Option<i64>, AppError> {
    let breach: Option<Option<DateTime<Utc>>> = on_tx!(&mut *tx, conn => sqlx::query_scalar(
        "SELECT breach_at FROM stage_clocks WHERE incident_id = $1 AND stopped_at IS NULL",
    )
    .bind(incident_id)
    .fetch_optional(conn)
    .await?);
    Ok(breach.flatten().map(|at| (at - now).num_seconds()))
}

/// A new report from intake: ops must triage it (called inside the intake transaction).
pub async fn on_intake(tx: &mut WriteTx, incident_id: i64, now: DateTime<Utc>) -> Result<(), AppError> {
    let subs = store::subscribers(tx, ChatEvent::Intake).await?;
    if subs.is_empty() {
        return Ok(());
    }
    let row = incident(tx, incident_id).await?;
    let subs = for_severity(subs, &row.severity);
    if subs.is_empty() {
        return Ok(());
    }
    // Nobody owns a new report yet: every active ops user may pick it up.
    let ops = crate::mail::compose::active_holders(tx, Role::Ops).await?;
    let ops_pairs: Vec<(Role, i64)> = ops.into_iter().map(|id| (Role::Ops, id)).collect();
    let must_act = People::load(tx, ops_pairs.iter().map(|(_, id)| *id)).await?.named(&ops_pairs);
    let left = time_left(tx, incident_id, now).await?;
    let draft = Draft {
        event: ChatEvent::Intake,
        row: &row,
        stage: Stage::Reported,
        must_act: &must_act,
        owners: &[],
        time_left_seconds: left,
    };
    for sub in &subs {
        let locale = locale_of(sub);
        let t = locale.strings();
        let headline = fill(t.chat_headline_intake, &[("key", &row.key), ("source", &row.source)]);
        let message = draft.message(t, locale, headline, Vec::new(), now);
        enqueue(tx, sub.id, Some(incident_id), &message, now).await?;
    }
    Ok(())
}

/// A comment that @-mentions people, inside its transaction: the mentioned are @-mentioned in
/// the channel (by their chat identity), with the start of the comment.
pub async fn on_mention(
    tx: &mut WriteTx,
    incident_id: i64,
    author: &str,
    mentioned: &[i64],
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if mentioned.is_empty() {
        return Ok(());
    }
    let subs = store::subscribers(tx, ChatEvent::Mention).await?;
    if subs.is_empty() {
        return Ok(());
    }
    let row = incident(tx, incident_id).await?;
    let subs = for_severity(subs, &row.severity);
    if subs.is_empty() {
        return Ok(());
    }
    let stage = row.stage()?;
    let owner_ids = owner_pairs(&row.owners());
    let people = People::load(tx, owner_ids.iter().map(|(_, id)| *id).chain(mentioned.iter().copied())).await?;
    // They are asked, not handed the baton: the webhook names their part as "mentioned".
    let pairs: Vec<(Role, i64)> = mentioned.iter().map(|id| (Role::Ops, *id)).collect();
    let must_act: Vec<_> = people
        .named(&pairs)
        .into_iter()
        .map(|mut p| {
            p.role = "mentioned".to_owned();
            p
        })
        .collect();
    let owners = people.named(&owner_ids);
    let left = time_left(tx, incident_id, now).await?;
    let draft = Draft {
        event: ChatEvent::Mention,
        row: &row,
        stage,
        must_act: &must_act,
        owners: &owners,
        time_left_seconds: left,
    };
    let mut quote: String = body.chars().take(300).collect();
    if body.chars().count() > 300 {
        quote.push('…');
    }
    for sub in &subs {
        let locale = locale_of(sub);
        let t = locale.strings();
        let headline = fill(t.chat_headline_mention, &[("key", &row.key), ("name", author)]);
        let extra = vec![Fact { label: t.comment_word.to_owned(), value: quote.clone() }];
        let message = draft.message(t, locale, headline, extra, now);
        enqueue(tx, sub.id, Some(incident_id), &message, now).await?;
    }
    Ok(())
}

/// A stage clock's notice (reminder, breach, escalation), inside the scheduler's transaction.
pub struct ClockNotice<'a> {
    /// The incident.
    pub incident_id: i64,
    /// Which notice.
    pub event: ChatEvent,
    /// The stage's owners (or, while nobody owns it, the role's holders): they must act.
    pub holders: &'a [i64],
    /// Escalation contacts told besides them.
    pub contacts: &'a [i64],
    /// Time to the target in the clock's basis; negative: over it.
    pub left_seconds: i64,
}

/// Queues a clock notice for the channels receiving it.
pub async fn on_clock_notice(tx: &mut WriteTx, notice: &ClockNotice<'_>, now: DateTime<Utc>) -> Result<(), AppError> {
    let subs = store::subscribers(tx, notice.event).await?;
    if subs.is_empty() {
        return Ok(());
    }
    let row = incident(tx, notice.incident_id).await?;
    let subs = for_severity(subs, &row.severity);
    if subs.is_empty() {
        return Ok(());
    }
    let stage = row.stage()?;
    let roles = rules::notified_roles(stage);
    let role = roles.first().copied().unwrap_or(Role::Pm);
    let holder_pairs: Vec<(Role, i64)> = notice.holders.iter().map(|id| (role, *id)).collect();
    // Escalation contacts are mentioned too: being told is the point of escalating.
    let contact_pairs = notice.contacts.iter().map(|id| (Role::Pm, *id));
    let must_act_pairs: Vec<(Role, i64)> = holder_pairs.into_iter().chain(contact_pairs).collect();
    let owner_ids = owner_pairs(&row.owners());
    let people = People::load(tx, must_act_pairs.iter().chain(&owner_ids).map(|(_, id)| *id)).await?;
    let (must_act, owners) = (people.named(&must_act_pairs), people.named(&owner_ids));
    let draft = Draft {
        event: notice.event,
        row: &row,
        stage,
        must_act: &must_act,
        owners: &owners,
        time_left_seconds: Some(notice.left_seconds),
    };
    for sub in &subs {
        let locale = locale_of(sub);
        let t = locale.strings();
        let template = match notice.event {
            ChatEvent::ClockReminder => t.chat_headline_reminder,
            ChatEvent::ClockBreach => t.chat_headline_breach,
            _ => t.chat_headline_escalation,
        };
        let span = crate::clocks::format_span(notice.left_seconds);
        let headline = fill(template, &[("key", &row.key), ("stage", labels::stage(stage, t)), ("span", &span)]);
        let message = draft.message(t, locale, headline, Vec::new(), now);
        enqueue(tx, sub.id, Some(notice.incident_id), &message, now).await?;
    }
    Ok(())
}

/// A new requirement-pool item (an interim plan's optimal solution, or a PM's own), inside the
/// transaction that adds it.
pub async fn on_pool_item(
    tx: &mut WriteTx,
    item_id: i64,
    title: &str,
    priority: &str,
    incident_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let subs = for_severity(store::subscribers(tx, ChatEvent::PoolItem).await?, priority);
    if subs.is_empty() {
        return Ok(());
    }
    let row = match incident_id {
        Some(id) => Some(incident(tx, id).await?),
        None => None,
    };
    let base = crate::mail::compose::base_url(tx).await?;
    for sub in &subs {
        let locale = locale_of(sub);
        let t = locale.strings();
        let key = row.as_ref().map(|r| r.key.clone()).unwrap_or_default();
        let headline = if key.is_empty() {
            t.chat_headline_pool.to_owned()
        } else {
            fill(t.chat_headline_pool_from, &[("key", &key)])
        };
        let message = ChatMessage {
            id: new_id(),
            event: ChatEvent::PoolItem,
            occurred_at: now,
            language: locale.tag().to_owned(),
            incident_key: key,
            title: title.to_owned(),
            severity: priority.to_owned(),
            stage: row.as_ref().map(|r| r.stage.clone()).unwrap_or_default(),
            headline,
            facts: vec![Fact { label: t.chat_fact_priority.to_owned(), value: priority.to_uppercase() }],
            must_act: Vec::new(),
            owners: Vec::new(),
            time_left_seconds: None,
            url: format!("{base}/pool/{item_id}"),
            open_label: t.chat_open_pool.to_owned(),
        };
        enqueue(tx, sub.id, incident_id, &message, now).await?;
    }
    Ok(())
}

/// Queues an admin's test message for `channel` (written in `language`); returns its outbox row.
pub async fn queue_test(
    tx: &mut WriteTx,
    channel: i64,
    language: &str,
    admin: &str,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let locale = Locale::from_tag(language).unwrap_or_default();
    let t = locale.strings();
    let base = crate::mail::compose::base_url(tx).await?;
    let message = ChatMessage {
        id: new_id(),
        event: ChatEvent::Test,
        occurred_at: now,
        language: locale.tag().to_owned(),
        incident_key: String::new(),
        title: t.chat_test_title.to_owned(),
        severity: String::new(),
        stage: String::new(),
        headline: fill(t.chat_headline_test, &[("admin", admin)]),
        facts: Vec::new(),
        must_act: Vec::new(),
        owners: Vec::new(),
        time_left_seconds: None,
        url: format!("{base}/admin/channels"),
        open_label: t.chat_open_channels.to_owned(),
    };
    enqueue(tx, channel, None, &message, now).await
}

/// A reassignment (an owner replaced by the PM or an admin), inside its transaction: the new owner
/// is mentioned. A dispatch that changes owners is told by its hand-off message instead.
pub async fn on_owner_change(
    tx: &mut WriteTx,
    change: &crate::mail::compose::OwnerChange<'_>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let subs = store::subscribers(tx, ChatEvent::OwnerChanged).await?;
    if subs.is_empty() {
        return Ok(());
    }
    let row = incident(tx, change.incident_id).await?;
    let subs = for_severity(subs, &row.severity);
    if subs.is_empty() {
        return Ok(());
    }
    let stage = row.stage()?;
    let owner_ids = owner_pairs(&row.owners());
    let ids = owner_ids.iter().map(|(_, id)| *id).chain([change.after, change.actor_id]).chain(change.before);
    let people = People::load(tx, ids).await?;
    let must_act = people.named(&[(change.role, change.after)]);
    let owners = people.named(&owner_ids);
    let (by, before) = (people.name(change.actor_id), change.before.map(|id| people.name(id)).unwrap_or_default());
    let left = time_left(tx, change.incident_id, now).await?;
    let draft = Draft {
        event: ChatEvent::OwnerChanged,
        row: &row,
        stage,
        must_act: &must_act,
        owners: &owners,
        time_left_seconds: left,
    };
    let after = must_act.first().map(|p| p.name.clone()).unwrap_or_default();
    for sub in &subs {
        let locale = locale_of(sub);
        let t = locale.strings();
        let args = [
            ("key", row.key.as_str()),
            ("role", change.role.label(t)),
            ("before", before.as_str()),
            ("after", after.as_str()),
            ("by", by.as_str()),
        ];
        let headline = fill(t.chat_headline_owner_changed, &args);
        let mut extra = Vec::new();
        if !change.reason.trim().is_empty() {
            extra.push(Fact { label: t.field_reason.to_owned(), value: change.reason.trim().to_owned() });
        }
        let message = draft.message(t, locale, headline, extra, now);
        enqueue(tx, sub.id, Some(change.incident_id), &message, now).await?;
    }
    Ok(())
}
