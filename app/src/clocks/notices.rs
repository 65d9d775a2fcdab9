//! The notices of due clocks: found by `next_due_at`, claimed so that one instance sends each, and
//! queued in the outbox with a timeline entry and an audit entry, all in one transaction.
//!
//! Who is told ([`recipients`]): the named owners of the stage's roles (every active holder of a
//! role nobody owns yet) at each level; from the breach on, also the escalation contacts in turn:
//! the lead of the stage's role (a policy setting), then the incident's PM owner, then every
//! admin. The breach tells the first of them, the escalation the first two. Nobody is told twice
//! by one notice.
//!
//! A clock due while no process ran fires once when one runs again, with the highest level
//! passed only: a reminder that comes after the breach would be noise.

use chrono::{DateTime, Utc};

use super::{
    format_span, policy,
    store::{calendar_for, ClockRow, CLOCK_COLUMNS},
    ClockPolicy, Level,
};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
    },
    auth::Role,
    db::{parse_stored, Db, WriteTx},
    error::AppError,
    i18n::Strings,
    mail::{
        compose::{active_holders, queue_notification, recipients as load_recipients, Recipient, HTML_HEAD, HTML_TAIL},
        html::{escape, fill},
    },
    on_db, on_tx,
    workflow::{
        engine::TimelineRow,
        input::Severity,
        labels,
        rules::{Owners, Stage, TimelineAction},
    },
};

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Clocks whose notice was sent (queued), with the level sent.
    pub sent: Vec<(i64, Level)>,
    /// The incidents concerned, for live updates.
    pub incidents: Vec<i64>,
    /// Clocks looked at (a full batch means more may be due).
    pub claimed: usize,
}

/// The clock and the incident fields a notice needs, read in one statement.
#[derive(sqlx::FromRow)]
struct DueRow {
    #[sqlx(flatten)]
    clock: ClockRow,
    key: String,
    title: String,
    ops_owner: Option<i64>,
    pm_owner: Option<i64>,
    dev_owner: Option<i64>,
    qa_owner: Option<i64>,
}

/// Sends the notices due at `now`, at most `batch` clocks in one transaction.
pub async fn run_due(db: &Db, now: DateTime<Utc>, batch: i64) -> Result<Pass, AppError> {
    // A look without the write lock first: the scheduler wakes on every incident change, and on
    // SQLite a write transaction would queue gate actions behind a pass that has nothing to do.
    if next_due(db).await?.is_none_or(|due| due > now) {
        return Ok(Pass::default());
    }
    let mut tx = db.begin_write().await?;
    // PostgreSQL: the incident is locked with its clock, as a gate action locks it (the incident
    // first), and rows another instance or a gate action holds are skipped, never waited for;
    // SQLite: the write lock is the claim.
    let lock = match &tx {
        WriteTx::Postgres(_) => " FOR UPDATE OF c, i SKIP LOCKED",
        WriteTx::Sqlite(_) => "",
    };
    let columns = CLOCK_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT {columns}, i.key, i.title, i.ops_owner, i.pm_owner, i.dev_owner, i.qa_owner \
         FROM stage_clocks c JOIN incidents i ON i.id = c.incident_id \
         WHERE c.next_due_at <= $1 ORDER BY c.next_due_at LIMIT $2{lock}"
    );
    let due: Vec<DueRow> = on_tx!(&mut tx, conn => sqlx::query_as(&sql).bind(now).bind(batch).fetch_all(conn).await?);
    let mut pass = Pass { claimed: due.len(), ..Pass::default() };
    if due.is_empty() {
        tx.rollback().await?;
        return Ok(pass);
    }
    let policy = policy::load_in(&mut tx).await?;
    let base = crate::mail::compose::base_url(&mut tx).await?;
    let zone = crate::mail::compose::time_zone(&mut tx).await?;
    let mut audit = Vec::new();
    for row in &due {
        if let Some((level, details)) = fire(&mut tx, row, &policy, &base, &zone, now).await? {
            pass.sent.push((row.clock.id, level));
            if !pass.incidents.contains(&row.clock.incident_id) {
                pass.incidents.push(row.clock.incident_id);
            }
            audit.push((row.key.as_str(), details));
        }
    }
    // Last, as in every change: appending holds the audit chain's lock until the commit.
    let origin = Origin::system("clocks");
    for (key, details) in audit {
        Record::new(&origin, event::CLOCK_NOTICE).target("incident", key).details(details).append(&mut tx, now).await?;
    }
    tx.commit().await?;
    Ok(pass)
}

/// The earliest time a notice is due, if any.
pub async fn next_due(db: &Db) -> Result<Option<DateTime<Utc>>, AppError> {
    Ok(on_db!(db, pool => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
        "SELECT MIN(next_due_at) FROM stage_clocks WHERE next_due_at IS NOT NULL",
    )
    .fetch_one(pool)
    .await?))
}

/// Sends the notice of one due clock, inside `tx`: the level sent and the details of its audit
/// entry, or `None` when nothing was sent.
async fn fire(
    tx: &mut WriteTx,
    row: &DueRow,
    policy: &ClockPolicy,
    base: &str,
    zone: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Level, serde_json::Value)>, AppError> {
    let clock = &row.clock;
    let calendar = calendar_for(policy, clock.basis()?)?;
    // The instants stored when the clock started or resumed, the ones its badge shows: a later
    // change of the calendar does not move them.
    let Some(schedule) = clock.stored_schedule() else {
        set_next(tx, clock, clock.level, None).await?;
        return Ok(None);
    };
    // The highest level passed; lower ones that were missed are not sent after it.
    let Some(level) = Level::ALL
        .into_iter()
        .filter(|l| l.number() > clock.level && schedule.at(*l).is_some_and(|at| at <= now))
        .max()
    else {
        set_next(tx, clock, clock.level, schedule.next_after(clock.level)).await?;
        return Ok(None);
    };
    // The compare-and-set on the level is the dedupe: a notice exists once per clock and level.
    if !set_next(tx, clock, level.number(), schedule.next_after(level.number())).await? {
        return Ok(None);
    }
    let stage = clock.stage()?;
    let severity = parse_stored("stage_clocks.severity", &clock.severity, Severity::parse)?;
    let owners = Owners { ops: row.ops_owner, pm: row.pm_owner, dev: row.dev_owner, qa: row.qa_owner };
    let told = recipients(tx, stage, owners, policy, level).await?;
    let spent = clock.spent_at(calendar.as_ref(), now)?;
    let target = clock.target_seconds.unwrap_or_default();
    let ids: Vec<i64> = told.holders.iter().chain(&told.contacts).copied().collect();
    let people = load_recipients(tx, &ids).await?;
    let holder_names = told
        .holders
        .iter()
        .filter_map(|id| people.iter().find(|p| p.id == *id).map(|p| p.name.clone()))
        .collect::<Vec<_>>()
        .join(", ");
    let due = schedule.at(level.min(Level::Breach)).unwrap_or(now);
    let note = Notice {
        key: &row.key,
        title: &row.title,
        severity,
        stage,
        level,
        spent,
        target,
        basis_working: clock.basis()? == super::Basis::Working,
        due: &crate::clock::with_zone_name(&due.to_rfc3339(), zone),
        holders: &holder_names,
        link: &format!("{base}/incidents/{}", row.key),
    };
    for person in people.iter().filter(|p| p.active && !p.email.trim().is_empty()) {
        let as_contact = told.contacts.contains(&person.id) && !told.holders.contains(&person.id);
        let dedupe = format!("clock:{}:{}:{}", clock.id, level.number(), person.id);
        let rendered = note.render(person, as_contact);
        queue_notification(tx, clock.incident_id, &row.key, person, rendered, base, Some(dedupe), now).await?;
    }
    let notified: Vec<i64> = people.iter().filter(|p| p.active).map(|p| p.id).collect();
    let chat_event = match level {
        Level::Reminder => crate::chat::ChatEvent::ClockReminder,
        Level::Breach => crate::chat::ChatEvent::ClockBreach,
        Level::Escalation => crate::chat::ChatEvent::ClockEscalation,
    };
    let notice = crate::chat::notify::ClockNotice {
        incident_id: clock.incident_id,
        event: chat_event,
        holders: &told.holders,
        contacts: &told.contacts,
        left_seconds: target - spent,
    };
    crate::chat::notify::on_clock_notice(tx, &notice, now).await?;
    let action = match level {
        Level::Reminder => TimelineAction::ClockReminder,
        Level::Breach => TimelineAction::ClockBreach,
        Level::Escalation => TimelineAction::ClockEscalation,
    };
    let fields = serde_json::json!({ "spent_seconds": spent, "target_seconds": target, "notified": notified });
    let entry = TimelineRow::new(clock.incident_id, now, None, "system", action);
    entry.stay(stage).insert(tx, &fields.to_string()).await?;
    let details = serde_json::json!({
        "clock": clock.id,
        "stage": stage.as_str(),
        "level": action.as_str(),
        "spent_seconds": spent,
        "target_seconds": target,
        "basis": clock.basis,
        "notified": notified,
    });
    tracing::info!(incident = %row.key, stage = stage.as_str(), level = action.as_str(), "stage clock notice queued");
    // Counted when queued: the pass's transaction only fails on a database error, counted too.
    metrics::counter!("baton_clock_notices_total", "level" => action.as_str()).increment(1);
    Ok(Some((level, details)))
}

/// Records that notices up to `level` were sent and when the next is due; false when another
/// pass moved the clock meanwhile (its notice is then theirs to send).
async fn set_next(
    tx: &mut WriteTx,
    clock: &ClockRow,
    level: i64,
    next_due: Option<DateTime<Utc>>,
) -> Result<bool, AppError> {
    let updated = on_tx!(&mut *tx, conn => sqlx::query(
        "UPDATE stage_clocks SET level = $1, next_due_at = $2 WHERE id = $3 AND level = $4 AND stopped_at IS NULL",
    )
    .bind(level)
    .bind(next_due)
    .bind(clock.id)
    .bind(clock.level)
    .execute(conn)
    .await?
    .rows_affected());
    Ok(updated == 1)
}

/// Who a notice goes to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Told {
    /// Whoever must act: the named owners of the stage's roles, or every holder of a role that has
    /// no owner yet.
    pub holders: Vec<i64>,
    /// The escalation contacts told at this level (none for a reminder).
    pub contacts: Vec<i64>,
}

async fn recipients(
    tx: &mut WriteTx,
    stage: Stage,
    owners: Owners,
    policy: &ClockPolicy,
    level: Level,
) -> Result<Told, AppError> {
    let mut holders: Vec<i64> = Vec::new();
    for role in stage.owner_roles() {
        let ids = match owners.get(role) {
            Some(id) => vec![id],
            None => active_holders(tx, role).await?,
        };
        for id in ids {
            if !holders.contains(&id) {
                holders.push(id);
            }
        }
    }
    let wanted = match level {
        Level::Reminder => 0,
        Level::Breach => 1,
        Level::Escalation => 2,
    };
    let mut contacts = Vec::new();
    if wanted > 0 {
        let leads = stage.owner_roles().into_iter().filter_map(|r| policy.lead(r));
        let mut chain: Vec<Vec<i64>> = Vec::new();
        // A lead or PM who left is skipped, not counted as a step that tells nobody.
        for id in leads.chain(owners.pm) {
            if is_active(tx, id).await? {
                chain.push(vec![id]);
            }
        }
        chain.push(active_holders(tx, Role::Admin).await?);
        let chain = chain
            .into_iter()
            .map(|step| step.into_iter().filter(|id| !holders.contains(id)).collect::<Vec<_>>())
            .filter(|step| !step.is_empty());
        for step in chain.take(wanted) {
            for id in step {
                if !contacts.contains(&id) {
                    contacts.push(id);
                }
            }
        }
    }
    Ok(Told { holders, contacts })
}

async fn is_active(tx: &mut WriteTx, id: i64) -> Result<bool, AppError> {
    let n: i64 = on_tx!(&mut *tx, conn => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1 AND active = $2")
        .bind(id)
        .bind(true)
        .fetch_one(conn)
        .await?);
    Ok(n > 0)
}

/// What a notice says.
struct Notice<'a> {
    key: &'a str,
    title: &'a str,
    severity: Severity,
    stage: Stage,
    level: Level,
    spent: i64,
    target: i64,
    basis_working: bool,
    due: &'a str,
    holders: &'a str,
    link: &'a str,
}

impl Notice<'_> {
    /// Subject, text and HTML for `person`, in their language.
    fn render(&self, person: &Recipient, as_contact: bool) -> (String, String, String) {
        let t: &'static Strings = person.locale.strings();
        let stage = labels::stage(self.stage, t);
        let args = [("key", self.key), ("stage", stage), ("title", self.title)];
        let subject = match self.level {
            Level::Reminder => fill(t.mail_clock_reminder_subject, &args),
            Level::Breach => fill(t.mail_clock_breach_subject, &args),
            Level::Escalation => fill(t.mail_clock_escalation_subject, &args),
        };
        let basis = if self.basis_working { t.clock_basis_working } else { t.clock_basis_wall };
        let span =
            |seconds: i64| if self.basis_working { super::format_hours_span(seconds) } else { format_span(seconds) };
        let (spent, target) = (span(self.spent), span(self.target));
        let severity = self.severity.as_str().to_uppercase();
        let body = fill(
            t.mail_clock_body,
            &[
                ("key", self.key),
                ("title", self.title),
                ("severity", &severity),
                ("stage", stage),
                ("spent", &spent),
                ("target", &target),
                ("basis", basis),
            ],
        );
        let due_line = match self.level {
            Level::Reminder => fill(t.mail_clock_due, &[("due", self.due)]),
            _ => fill(t.mail_clock_breached_at, &[("due", self.due)]),
        };
        let holders = fill(t.mail_clock_holders, &[("names", self.holders)]);
        let why = as_contact.then_some(t.mail_clock_as_contact);
        let greeting = fill(t.mail_greeting, &[("name", &person.name)]);
        let link = fill(t.mail_notify_link, &[("link", self.link)]);
        let text = format!(
            "{greeting}\n\n{body}\n{due_line}\n{holders}\n{}\n{link}\n\n-- \n{}\n",
            why.map(|w| format!("{w}\n")).unwrap_or_default(),
            t.mail_footer
        );
        let anchor = format!("<a href=\"{}\">{}</a>", escape(self.link), escape(self.link));
        let html = format!(
            "{HTML_HEAD}<p>{}</p>\n<p>{}<br>\n{}<br>\n{}</p>\n{}<p>{}</p>\n<p style=\"color:#666;font-size:12px\">{}</p>\n{HTML_TAIL}",
            escape(&greeting),
            escape(&body),
            escape(&due_line),
            escape(&holders),
            why.map(|w| format!("<p><strong>{}</strong></p>\n", escape(w))).unwrap_or_default(),
            fill(&escape(t.mail_notify_link), &[("link", &anchor)]),
            crate::mail::html::escape_lines(t.mail_footer),
        );
        (subject, text, html)
    }
}
