//! Overdue prevention measures remind their owner and the incident's PM owner by email, through
//! the outbox, at most once a day per measure and only while the measure is open.
//!
//! The stage-clock scheduler runs [`run_due`] on each of its passes (at least once a minute), so
//! no other task is needed. "Today" is the date in the installation's time zone: a measure due on
//! the 5th is overdue from the 6th, and reminded on the 6th, 7th, ... until it is closed. The date
//! of the last reminder is kept on the measure and set by a compare-and-set in the transaction
//! that queues the emails, so two instances never remind twice on one day.

use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    db::{Db, WriteTx},
    error::AppError,
    i18n::Strings,
    mail::{
        compose::{base_url, queue_notification, recipients, Recipient, HTML_HEAD, HTML_TAIL, TIME_ZONE_SETTING},
        html::{escape, escape_lines, fill},
    },
    on_db, on_tx,
};

/// Measures reminded per transaction.
const BATCH: i64 = 100;

#[derive(sqlx::FromRow)]
struct DueRow {
    id: i64,
    text: String,
    due: String,
    owner_id: i64,
    incident_id: i64,
    key: String,
    title: String,
    pm_owner: Option<i64>,
}

/// Queues the reminders of every open measure past its date that was not reminded today;
/// returns how many measures were reminded.
///
/// The scheduler runs this on every pass, and a pass follows every change of an incident: so it
/// first asks, with one indexed read and no write lock, whether anything is due at all.
pub async fn run_due(db: &Db, now: DateTime<Utc>) -> Result<usize, AppError> {
    let zone = crate::db::settings::get(db, TIME_ZONE_SETTING).await?;
    let zone = zone.as_deref().unwrap_or(crate::clock::DEFAULT_ZONE);
    let today = crate::clock::zone::today(now, zone)
        .or_else(|| crate::clock::zone::today(now, crate::clock::DEFAULT_ZONE))
        .ok_or_else(|| AppError::internal(format!("no date for {now} in {zone}")))?
        .format("%Y-%m-%d")
        .to_string();
    let any: Option<i64> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT id FROM measures WHERE status = 'open' AND due < $1 \
         AND (reminded_on IS NULL OR reminded_on < $1) LIMIT 1",
    )
    .bind(&today)
    .fetch_optional(pool)
    .await?);
    if any.is_none() {
        return Ok(0);
    }
    let mut total = 0;
    loop {
        let (reminded, looked) = batch(db, &today, now).await?;
        total += reminded;
        if looked < BATCH {
            return Ok(total);
        }
    }
}

/// One transaction: up to [`BATCH`] due measures; returns (reminded, looked at).
async fn batch(db: &Db, today_text: &str, now: DateTime<Utc>) -> Result<(usize, i64), AppError> {
    const SELECT: &str = "SELECT m.id, m.text, m.due, m.owner_id, i.id AS incident_id, i.key, i.title, i.pm_owner \
         FROM measures m JOIN incidents i ON i.id = m.incident_id \
         WHERE m.status = 'open' AND m.due < $1 AND (m.reminded_on IS NULL OR m.reminded_on < $1) \
         ORDER BY m.due, m.id LIMIT $2";
    let today = NaiveDate::parse_from_str(today_text, "%Y-%m-%d").map_err(AppError::internal)?;
    let mut tx = db.begin_write().await?;
    // Another instance's pass takes the rows this one holds, not the same ones.
    let sql = match tx {
        WriteTx::Sqlite(_) => SELECT.to_owned(),
        WriteTx::Postgres(_) => format!("{SELECT} FOR UPDATE OF m SKIP LOCKED"),
    };
    let due: Vec<DueRow> =
        on_tx!(&mut tx, conn => sqlx::query_as(&sql).bind(today_text).bind(BATCH).fetch_all(conn).await?);
    let looked = i64::try_from(due.len()).unwrap_or(BATCH);
    if due.is_empty() {
        return Ok((0, 0));
    }
    let base = base_url(&mut tx).await?;
    let mut reminded = 0;
    for row in &due {
        let claimed = on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE measures SET reminded_on = $1 WHERE id = $2 AND status = 'open' \
             AND (reminded_on IS NULL OR reminded_on < $1)",
        )
        .bind(today_text)
        .bind(row.id)
        .execute(conn)
        .await?
        .rows_affected());
        if claimed != 1 {
            continue;
        }
        remind(&mut tx, row, today, &base, now).await?;
        reminded += 1;
    }
    tx.commit().await?;
    if reminded > 0 {
        tracing::info!(measures = reminded, "overdue prevention measures reminded");
    }
    Ok((reminded, looked))
}

/// Queues one measure's reminder to its owner and the PM owner, each in their language.
async fn remind(
    tx: &mut WriteTx,
    row: &DueRow,
    today: NaiveDate,
    base: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let ids: Vec<i64> = std::iter::once(row.owner_id).chain(row.pm_owner).collect();
    let people = recipients(tx, &ids).await?;
    let owner_name = people.iter().find(|p| p.id == row.owner_id).map(|p| p.name.clone()).unwrap_or_default();
    let days = NaiveDate::parse_from_str(&row.due, "%Y-%m-%d").map(|d| (today - d).num_days()).unwrap_or(0);
    let link = format!("{base}/incidents/{}#measures", row.key);
    let reminder = Reminder { row, owner_name: &owner_name, days, link: &link };
    for person in people.iter().filter(|p| p.active && !p.email.trim().is_empty()) {
        let dedupe = format!("measure:{}:{}:{}", row.id, today.format("%Y-%m-%d"), person.id);
        let rendered = reminder.render(person);
        queue_notification(tx, row.incident_id, &row.key, person, rendered, base, Some(dedupe), now).await?;
    }
    Ok(())
}

/// What a reminder says.
struct Reminder<'a> {
    row: &'a DueRow,
    owner_name: &'a str,
    days: i64,
    link: &'a str,
}

impl Reminder<'_> {
    /// Subject, text and HTML for `person`, in their language; the owner reads that it is theirs,
    /// the PM whose it is.
    fn render(&self, person: &Recipient) -> (String, String, String) {
        let t: &'static Strings = person.locale.strings();
        let row = self.row;
        let subject = fill(t.mail_measure_subject, &[("key", &row.key), ("text", &row.text)]);
        let days = self.days.to_string();
        let body = fill(
            t.mail_measure_body,
            &[("key", &row.key), ("title", &row.title), ("text", &row.text), ("due", &row.due), ("days", &days)],
        );
        let whose = if person.id == row.owner_id {
            t.mail_measure_yours.to_owned()
        } else {
            fill(t.mail_measure_owner, &[("name", self.owner_name)])
        };
        let greeting = fill(t.mail_greeting, &[("name", &person.name)]);
        let link = fill(t.mail_measure_link, &[("link", self.link)]);
        let text = format!("{greeting}\n\n{body}\n{whose}\n\n{link}\n\n-- \n{}\n", t.mail_footer);
        let anchor = format!("<a href=\"{}\">{}</a>", escape(self.link), escape(self.link));
        let html = format!(
            "{HTML_HEAD}<p>{}</p>\n<p>{}<br>\n{}</p>\n<p>{}</p>\n<p style=\"color:#666;font-size:12px\">{}</p>\n{HTML_TAIL}",
            escape(&greeting),
            escape(&body),
            escape(&whose),
            fill(&escape(t.mail_measure_link), &[("link", &anchor)]),
            escape_lines(t.mail_footer),
        );
        (subject, text, html)
    }
}
