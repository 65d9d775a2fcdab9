//! The step-9 report email, rendered on the server from the incident's record in the PM's
//! language: what happened, how long each stage took, the cause and the fix, the release and its
//! regression test, the user's answer, the prevention measures and everyone involved.
//!
//! Everything is read inside the send-report transaction, after the engine wrote the closing
//! timeline entry, so the report describes exactly the record that commits with it.

use chrono::{DateTime, Utc};

use super::{
    compose::{base_url, recipients, Recipient, HTML_HEAD, HTML_TAIL},
    html::{escape, escape_lines, fill, host_of},
    outbox::{self, NewEmail},
    EmailKind,
};
use crate::{
    auth::Role,
    db::{parse_stored, WriteTx},
    error::AppError,
    i18n::{Locale, Strings},
    on_tx,
    workflow::{
        effects::TransitionEvent,
        input::{Channel, GateInput, Severity, UserConfirmation},
        labels,
        queries::{timeline_sql, FactsRow, StoredEntry, TimelineRow, FACTS_COLUMNS},
        rules::{self, ActionKind, Plan, Stage, TimelineAction},
        views::IncidentFacts,
    },
};

/// The dedupe key that makes the database refuse a second report for one incident.
pub fn dedupe_key(incident_id: i64) -> String {
    format!("report:{incident_id}")
}

/// The incident's own columns the report shows.
#[derive(sqlx::FromRow)]
struct IncidentRow {
    key: String,
    title: String,
    severity: String,
    channel: String,
    reporter_name: String,
    created_at: DateTime<Utc>,
    plan: Option<String>,
    pool_item_id: Option<i64>,
    fix_round: i64,
    #[sqlx(flatten)]
    facts: FactsRow,
}

/// Everything the report shows, gathered from the record.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// Incident key.
    pub key: String,
    /// Title.
    pub title: String,
    /// Severity (`P1`).
    pub severity: String,
    /// How it reached us.
    pub channel: Option<Channel>,
    /// Who reported it.
    pub reporter: String,
    /// The fix plan.
    pub plan: Option<Plan>,
    /// The pool item of an interim plan: title, optimal solution, status and release, as they
    /// stand when the report is sent.
    pub pool_item: Option<(String, String, crate::pool::PoolStatus, String)>,
    /// Fix rounds, counted as the incident page counts them ([`rules::fix_round`](crate::workflow::rules::fix_round)).
    pub fix_rounds: i64,
    /// Released version.
    pub release_version: String,
    /// Deploy time in the installation's zone, named: `2026-11-30 18:15 (Asia/Shanghai)`
    /// (empty before release).
    pub deployed_at: String,
    /// Root cause of the last accepted proposal.
    pub root_cause: String,
    /// The solution of the last accepted proposal.
    pub solution: String,
    /// Notes of the passing regression test.
    pub regression_notes: Option<String>,
    /// The reply ops sent the user.
    pub reply: String,
    /// The user's answer.
    pub confirmation: Option<UserConfirmation>,
    /// The PM's summary.
    pub summary: String,
    /// Prevention measures: what, owner's name, due date.
    pub measures: Vec<(String, String, String)>,
    /// The audit log's head (`N:HASH`) in the transaction that closed the incident, printed in
    /// the footer so that a copy of it lives outside the database (see `audit verify --head`).
    pub audit_head: Option<String>,
    /// Time spent per stage in order of first entry: stage, seconds, visits.
    pub stages: Vec<(Stage, i64, i64)>,
    /// Per stage with a clock: its target (seconds of its basis, the first stay's) and whether
    /// any stay went past its target.
    pub targets: Vec<(Stage, Option<i64>, bool)>,
    /// Seconds from report to close.
    pub total_seconds: i64,
    /// Everyone involved: name and the roles they acted in.
    pub involved: Vec<(String, Vec<Role>)>,
    /// The language the PM chose for the report; `None`: their preferred one.
    pub language: Option<Locale>,
}

/// Time spent per stage, from the creation time and the stage-changing entries.
fn stage_spans(created_at: DateTime<Utc>, entries: &[StoredEntry]) -> (Vec<(Stage, i64, i64)>, i64) {
    let mut spans: Vec<(Stage, i64, i64)> = Vec::new();
    let (mut stage, mut since) = (Stage::Reported, created_at);
    for e in entries.iter().filter(|e| e.from != e.to) {
        let seconds = (e.at - since).num_seconds().max(0);
        match spans.iter_mut().find(|(s, _, _)| *s == stage) {
            Some(span) => {
                span.1 += seconds;
                span.2 += 1;
            }
            None => spans.push((stage, seconds, 1)),
        }
        (stage, since) = (e.to, e.at);
    }
    (spans, (since - created_at).num_seconds().max(0))
}

/// Each clocked stage's target and whether it was breached, read inside the closing transaction
/// (the last stage's clock was stopped just before).
async fn stage_targets(tx: &mut WriteTx, id: i64) -> Result<Vec<(Stage, Option<i64>, bool)>, AppError> {
    #[derive(sqlx::FromRow)]
    struct StayRow {
        stage: String,
        target_seconds: Option<i64>,
        spent_seconds: i64,
        level: i64,
    }
    let rows: Vec<StayRow> = on_tx!(&mut *tx, conn => sqlx::query_as(
        "SELECT stage, target_seconds, spent_seconds, level FROM stage_clocks WHERE incident_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?);
    let mut out: Vec<(Stage, Option<i64>, bool)> = Vec::new();
    for row in rows {
        let stage = parse_stored("stage_clocks.stage", &row.stage, Stage::parse)?;
        let breached = row.target_seconds.is_some_and(|t| row.spent_seconds > t) || row.level >= 2;
        match out.iter_mut().find(|(s, _, _)| *s == stage) {
            Some(known) => known.2 |= breached,
            None => out.push((stage, row.target_seconds, breached)),
        }
    }
    Ok(out)
}

/// Queues the report of the incident of `event` (the send-report action), inside its transaction.
pub(crate) async fn queue_report(tx: &mut WriteTx, event: &TransitionEvent) -> Result<(), AppError> {
    let id = event.incident_id;
    let base = base_url(tx).await?;
    let (record, extra, named) = load(tx, event).await?;
    let pm = match event.owners.pm {
        Some(pm) => recipients(tx, &[pm]).await?.into_iter().next(),
        None => None,
    };
    let locale = record.language.or(pm.as_ref().map(|p| p.locale)).unwrap_or_default();
    let link = format!("{base}/incidents/{}", record.key);
    let (subject, body_text, body_html) = render(&record, locale, pm.as_ref().map(|p| p.name.as_str()), &link);
    // Every named owner, then the addresses the PM added; one copy per address.
    let mut to: Vec<String> = Vec::new();
    let owners = recipients(tx, &named).await?;
    let addresses = owners.iter().filter(|r| r.active).map(|r| r.email.trim().to_owned()).chain(extra);
    for address in addresses {
        if !address.is_empty() && !to.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
            to.push(address);
        }
    }
    let email = NewEmail {
        kind: EmailKind::Report,
        incident_id: id,
        incident_key: record.key.clone(),
        dedupe_key: Some(dedupe_key(id)),
        recipients: to,
        subject,
        body_text,
        body_html,
        language: locale.tag().to_owned(),
        message_domain: host_of(&base),
    };
    outbox::enqueue(tx, &email, Utc::now()).await?;
    Ok(())
}

/// Reads the record; also returns the extra recipients and the ids of the users who receive it
/// (the named owners, then the measures' owners).
async fn load(tx: &mut WriteTx, event: &TransitionEvent) -> Result<(Record, Vec<String>, Vec<i64>), AppError> {
    let id = event.incident_id;
    let row: IncidentRow = on_tx!(&mut *tx, conn => sqlx::query_as(
        &format!(
            "SELECT key, title, severity, channel, reporter_name, created_at, plan, pool_item_id, fix_round, {FACTS_COLUMNS} \
             FROM incidents WHERE id = $1"
        ),
    )
    .bind(id)
    .fetch_one(conn)
    .await?);
    #[derive(sqlx::FromRow)]
    struct PoolRow {
        title: String,
        description: String,
        status: String,
        target_release: String,
    }
    let pool_item = match row.pool_item_id {
        Some(pool_id) => {
            let item: Option<PoolRow> = on_tx!(&mut *tx, conn => sqlx::query_as(
                "SELECT title, description, status, target_release FROM pool_items WHERE id = $1",
            )
            .bind(pool_id)
            .fetch_optional(conn)
            .await?);
            match item {
                Some(p) => {
                    let status =
                        crate::db::parse_stored("pool_items.status", &p.status, crate::pool::PoolStatus::parse)?;
                    Some((p.title, p.description, status, p.target_release))
                }
                None => None,
            }
        }
        None => None,
    };
    let entries: Vec<TimelineRow> =
        on_tx!(&mut *tx, conn => sqlx::query_as(&timeline_sql("ASC")).bind(id).fetch_all(conn).await?);
    let entries = entries.into_iter().map(StoredEntry::try_from).collect::<Result<Vec<_>, _>>()?;
    let created_at = row.created_at;
    let facts = IncidentFacts::try_from(row.facts)?;
    let zone = super::compose::time_zone(tx).await?;
    let mut record = Record {
        key: row.key,
        title: row.title,
        severity: parse_stored("incidents.severity", &row.severity, Severity::parse)?.as_str().to_uppercase(),
        channel: Some(parse_stored("incidents.channel", &row.channel, Channel::parse)?),
        reporter: row.reporter_name,
        plan: row.plan.map(|p| parse_stored("incidents.plan", &p, Plan::parse)).transpose()?,
        pool_item,
        fix_rounds: rules::fix_round(row.fix_round),
        release_version: facts.release_version,
        deployed_at: facts.deployed_at.as_deref().map(|at| crate::clock::with_zone_name(at, &zone)).unwrap_or_default(),
        root_cause: facts.root_cause,
        solution: facts.solution,
        regression_notes: facts.regression_notes,
        reply: facts.user_reply,
        confirmation: facts.user_confirmation,
        ..Record::default()
    };
    // The report's own input is the closing entry's record (written by the engine just before).
    let closing = entries.iter().rev().find(|e| e.action == TimelineAction::Gate(ActionKind::SendReport));
    let Some(GateInput::SendReport { summary, measures, recipients: added, language }) =
        closing.map(|e| serde_json::from_str::<GateInput>(&e.fields)).transpose().map_err(AppError::internal)?
    else {
        return Err(AppError::internal("the report's closing timeline entry is missing"));
    };
    record.summary = summary.trim().to_owned();
    record.language = language;
    let extra: Vec<String> = added.into_iter().map(|a| a.trim().to_owned()).collect();
    let measure_owners: Vec<i64> = measures.iter().map(|m| m.owner_id).collect();
    (record.stages, record.total_seconds) = stage_spans(created_at, &entries);
    record.targets = stage_targets(tx, id).await?;

    // Names of everyone involved: named owners, everyone who acted, and the measures' owners.
    let o = event.owners;
    let named: Vec<i64> = [o.ops, o.pm, o.dev, o.qa].into_iter().flatten().collect();
    let mut ids: Vec<i64> = named.clone();
    ids.extend(entries.iter().filter_map(|e| e.actor.as_ref().map(|a| a.0)));
    ids.extend(measure_owners.iter().copied());
    let people: Vec<Recipient> = recipients(tx, &ids).await?;
    let name_of = |id: i64| people.iter().find(|p| p.id == id).map(|p| p.name.clone()).unwrap_or_default();
    record.measures = measures.into_iter().map(|m| (m.text.trim().to_owned(), name_of(m.owner_id), m.due)).collect();
    let mut involved: Vec<(i64, Vec<Role>)> = Vec::new();
    let mut add = |id: i64, role: Option<Role>| {
        let at = match involved.iter().position(|(p, _)| *p == id) {
            Some(at) => at,
            None => {
                involved.push((id, Vec::new()));
                involved.len() - 1
            }
        };
        if let Some(role) = role.filter(|r| !involved[at].1.contains(r)) {
            involved[at].1.push(role);
        }
    };
    for (role, id) in [(Role::Ops, o.ops), (Role::Pm, o.pm), (Role::Dev, o.dev), (Role::Qa, o.qa)] {
        if let Some(id) = id {
            add(id, Some(role));
        }
    }
    for e in &entries {
        if let Some((id, _)) = e.actor {
            add(id, Role::parse(&e.role));
        }
    }
    for id in measure_owners.iter().copied() {
        add(id, None);
    }
    record.involved = involved.into_iter().map(|(id, roles)| (name_of(id), roles)).collect();
    // The engine appends the closing action's audit entry before the effects run, so this head
    // covers the close itself.
    #[derive(sqlx::FromRow)]
    struct HeadRow {
        seq: i64,
        hash: String,
    }
    let head: Option<HeadRow> = on_tx!(&mut *tx, conn => sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(conn)
            .await?);
    record.audit_head = head.map(|h| format!("{}:{}", h.seq, h.hash));
    // A measure's owner receives the report that gives it to them.
    let mut notify = named;
    for id in measure_owners {
        if !notify.contains(&id) {
            notify.push(id);
        }
    }
    Ok((record, extra, notify))
}

/// "2 d 3 h 5 min" in the language of `t`.
pub fn duration(seconds: i64, t: &Strings) -> String {
    let minutes = seconds / 60;
    let (d, h, m) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(fill(t.mail_duration_days, &[("n", &d.to_string())]));
    }
    if h > 0 {
        parts.push(fill(t.mail_duration_hours, &[("n", &h.to_string())]));
    }
    if m > 0 || parts.is_empty() {
        parts.push(fill(t.mail_duration_minutes, &[("n", &m.to_string())]));
    }
    parts.join(" ")
}

/// Subject, plain text and HTML of the report, in `locale`.
pub fn render(record: &Record, locale: Locale, pm_name: Option<&str>, link: &str) -> (String, String, String) {
    let t = locale.strings();
    let none = t.mail_report_none;
    let or_none = |s: &str| if s.trim().is_empty() { none.to_owned() } else { s.to_owned() };
    let subject = fill(t.mail_report_subject, &[("key", &record.key), ("title", &record.title)]);
    let intro = fill(t.mail_report_intro, &[("key", &record.key), ("name", pm_name.unwrap_or_default())]);
    let channel = record.channel.map(|c| labels::channel(c, t)).unwrap_or_default();
    let facts: Vec<(&str, String)> = vec![
        (t.field_title, format!("{} · {}", record.key, record.title)),
        (t.field_severity, record.severity.clone()),
        (t.field_channel, channel.to_owned()),
        (t.field_reporter_name, or_none(&record.reporter)),
    ];
    let stages: Vec<(String, String)> = record
        .stages
        .iter()
        .map(|(stage, secs, visits)| {
            let mut spent = duration(*secs, t);
            if *visits > 1 {
                spent = format!("{spent}{}", fill(t.mail_report_visits, &[("n", &visits.to_string())]));
            }
            if let Some((_, target, breached)) = record.targets.iter().find(|(s, _, _)| s == stage) {
                if let Some(target) = target {
                    spent = format!("{spent}{}", fill(t.mail_report_target, &[("target", &duration(*target, t))]));
                }
                if *breached {
                    spent = format!("{spent}{}", t.mail_report_over_target);
                }
            }
            (labels::stage(*stage, t).to_owned(), spent)
        })
        .collect();
    let total = fill(t.mail_report_total, &[("time", &duration(record.total_seconds, t))]);
    let plan = match record.plan {
        Some(Plan::Interim) => t.incident_plan_interim,
        Some(Plan::Optimal) => t.incident_plan_optimal,
        None => none,
    };
    let mut fix: Vec<(&str, String)> = vec![
        (t.field_root_cause, or_none(&record.root_cause)),
        (t.field_solution, or_none(&record.solution)),
        (t.incident_plan, plan.to_owned()),
    ];
    if let Some((title, description, status, release)) = &record.pool_item {
        let status = crate::workflow::labels::pool_status(*status, t);
        let state = if release.is_empty() { status.to_owned() } else { format!("{status} · {release}") };
        fix.push((t.mail_report_pool_item, format!("{title} ({state})\n{description}")));
    }
    if record.plan.is_some() {
        fix.push((t.mail_report_fix_rounds, record.fix_rounds.to_string()));
    }
    let release: Vec<(&str, String)> = vec![
        (t.incident_release, or_none(&record.release_version)),
        (t.field_deployed_at, or_none(&record.deployed_at)),
        (
            t.mail_report_regression,
            match &record.regression_notes {
                Some(notes) if !notes.is_empty() => format!("{}\n{notes}", t.action_regression_pass),
                Some(_) => t.action_regression_pass.to_owned(),
                None => none.to_owned(),
            },
        ),
    ];
    let user: Vec<(&str, String)> = vec![
        (t.field_reply, or_none(&record.reply)),
        (
            t.field_confirmation,
            match record.confirmation {
                Some(UserConfirmation::Confirmed) => t.field_confirmed.to_owned(),
                Some(UserConfirmation::NoAnswer) => t.field_no_answer.to_owned(),
                None => none.to_owned(),
            },
        ),
    ];
    let involved: Vec<String> = record
        .involved
        .iter()
        .map(|(name, roles)| {
            if roles.is_empty() {
                name.clone()
            } else {
                format!("{name} ({})", roles.iter().map(|r| r.label(t)).collect::<Vec<_>>().join(", "))
            }
        })
        .collect();
    let measure_line = |(text, owner, due): &(String, String, String)| {
        fill(t.mail_report_measure, &[("text", text), ("owner", owner), ("due", due)])
    };
    let link_line = fill(t.mail_report_link, &[("link", link)]);

    // Plain text.
    let mut text = String::new();
    let section = |out: &mut String, heading: &str| out.push_str(&format!("\n== {heading} ==\n"));
    let pairs = |out: &mut String, rows: &[(&str, String)]| {
        for (label, value) in rows {
            let value = value.replace('\n', "\n  ");
            out.push_str(&fill(t.mail_field, &[("label", label), ("value", &value)]));
            out.push('\n');
        }
    };
    text.push_str(&format!("{intro}\n"));
    section(&mut text, t.mail_report_summary);
    text.push_str(&format!("{}\n", or_none(&record.summary)));
    section(&mut text, t.mail_report_facts);
    pairs(&mut text, &facts);
    section(&mut text, t.mail_report_timeline);
    for (stage, spent) in &stages {
        text.push_str(&format!("- {}\n", fill(t.mail_field, &[("label", stage), ("value", spent)])));
    }
    text.push_str(&format!("{total}\n"));
    section(&mut text, t.mail_report_fix);
    pairs(&mut text, &fix);
    section(&mut text, t.mail_report_release);
    pairs(&mut text, &release);
    section(&mut text, t.mail_report_user);
    pairs(&mut text, &user);
    section(&mut text, t.mail_report_measures);
    for m in &record.measures {
        text.push_str(&format!("- {}\n", measure_line(m)));
    }
    section(&mut text, t.mail_report_involved);
    for person in &involved {
        text.push_str(&format!("- {person}\n"));
    }
    let audit_line = record.audit_head.as_deref().map(|head| fill(t.mail_report_audit_head, &[("head", head)]));
    text.push_str(&format!("\n{link_line}\n\n-- \n{}\n", t.mail_footer));
    if let Some(line) = &audit_line {
        text.push_str(&format!("{line}\n"));
    }

    // HTML: every value escaped; only our own markup is raw.
    let h2 = |heading: &str| format!("<h2 style=\"font-size:16px;margin:20px 0 6px\">{}</h2>\n", escape(heading));
    let table = |rows: &[(&str, String)]| {
        let mut out = String::from("<table style=\"border-collapse:collapse\">\n");
        for (label, value) in rows {
            out.push_str(&format!(
                "<tr><th style=\"text-align:left;vertical-align:top;padding:2px 12px 2px 0\">{}</th><td>{}</td></tr>\n",
                escape(label),
                escape_lines(value)
            ));
        }
        out.push_str("</table>\n");
        out
    };
    let list = |items: &[String]| {
        let mut out = String::from("<ul>\n");
        for item in items {
            out.push_str(&format!("<li>{}</li>\n", escape_lines(item)));
        }
        out.push_str("</ul>\n");
        out
    };
    let mut html = String::from(HTML_HEAD);
    html.push_str(&format!("<h1 style=\"font-size:20px\">{}</h1>\n<p>{}</p>\n", escape(&subject), escape(&intro)));
    html.push_str(&h2(t.mail_report_summary));
    html.push_str(&format!("<p>{}</p>\n", escape_lines(&or_none(&record.summary))));
    html.push_str(&h2(t.mail_report_facts));
    html.push_str(&table(&facts));
    html.push_str(&h2(t.mail_report_timeline));
    html.push_str(&format!(
        "<table style=\"border-collapse:collapse\">\n<tr><th style=\"text-align:left;padding:2px 12px 2px 0\">{}</th><th style=\"text-align:left\">{}</th></tr>\n",
        escape(t.mail_report_stage),
        escape(t.mail_report_time_spent)
    ));
    for (stage, spent) in &stages {
        html.push_str(&format!(
            "<tr><td style=\"padding:2px 12px 2px 0\">{}</td><td>{}</td></tr>\n",
            escape(stage),
            escape(spent)
        ));
    }
    html.push_str(&format!("</table>\n<p>{}</p>\n", escape(&total)));
    html.push_str(&h2(t.mail_report_fix));
    html.push_str(&table(&fix));
    html.push_str(&h2(t.mail_report_release));
    html.push_str(&table(&release));
    html.push_str(&h2(t.mail_report_user));
    html.push_str(&table(&user));
    html.push_str(&h2(t.mail_report_measures));
    html.push_str(&list(&record.measures.iter().map(measure_line).collect::<Vec<_>>()));
    html.push_str(&h2(t.mail_report_involved));
    html.push_str(&list(&involved));
    html.push_str(&format!(
        "<p>{}</p>\n<p style=\"color:#666;font-size:12px\">{}</p>\n",
        fill(&escape(t.mail_report_link), &[("link", &format!("<a href=\"{0}\">{0}</a>", escape(link)))]),
        escape_lines(t.mail_footer)
    ));
    if let Some(line) = &audit_line {
        html.push_str(&format!("<p style=\"color:#666;font-size:12px;word-break:break-all\">{}</p>\n", escape(line)));
    }
    html.push_str(HTML_TAIL);
    (subject, text, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: DateTime<Utc>, from: Stage, to: Stage) -> StoredEntry {
        let action = TimelineAction::Claim;
        StoredEntry { at, actor: None, role: "pm".into(), action, from, to, fields: String::new() }
    }

    #[test]
    fn time_is_summed_per_stage_across_rounds() {
        let t0 = Utc::now();
        let m = |n: i64| t0 + chrono::Duration::minutes(n);
        let entries = vec![
            entry(m(10), Stage::Reported, Stage::AwaitingPm),
            entry(m(15), Stage::AwaitingPm, Stage::Fixing),
            entry(m(75), Stage::Fixing, Stage::Testing),
            entry(m(80), Stage::Testing, Stage::Testing),
            entry(m(90), Stage::Testing, Stage::Fixing),
            entry(m(100), Stage::Fixing, Stage::Closed),
        ];
        let (spans, total) = stage_spans(t0, &entries);
        assert_eq!(
            spans,
            vec![
                (Stage::Reported, 600, 1),
                (Stage::AwaitingPm, 300, 1),
                (Stage::Fixing, 4200, 2),
                (Stage::Testing, 900, 1)
            ]
        );
        assert_eq!(total, 6000);
    }

    #[test]
    fn each_stage_shows_its_target_and_whether_it_went_past_it() {
        let record = Record {
            key: "INC-2026-0007".into(),
            stages: vec![(Stage::Testing, 3 * 3600, 1), (Stage::Fixing, 1800, 1), (Stage::Reporting, 60, 1)],
            targets: vec![(Stage::Testing, Some(2 * 3600), true), (Stage::Fixing, Some(4 * 3600), false)],
            ..Record::default()
        };
        let (_, text, html) = render(&record, Locale::En, None, "https://baton.example.com/incidents/INC-2026-0007");
        let line = |stage: &str| text.lines().find(|l| l.contains(stage)).unwrap_or_default().to_owned();
        let en = Locale::En.strings();
        assert!(line(en.stage_testing).contains("target") && line(en.stage_testing).contains("over target"), "{text}");
        assert!(line(en.stage_fixing).contains("target") && !line(en.stage_fixing).contains("over"), "{text}");
        assert!(!line(en.stage_reporting).contains("target"), "no clock, no target: {text}");
        assert!(html.contains("over target"));
        let (_, zh, _) = render(&record, Locale::ZhCn, None, "https://baton.example.com/incidents/INC-2026-0007");
        assert!(zh.contains("时限") && zh.contains("超时"), "{zh}");
    }

    #[test]
    fn durations_read_naturally_in_both_languages() {
        assert_eq!(duration(0, Locale::En.strings()), "0 min");
        assert_eq!(duration(90_061, Locale::En.strings()), "1 d 1 h 1 min");
        assert_eq!(duration(7200, Locale::ZhCn.strings()), "2 小时");
    }

    #[test]
    fn user_text_is_escaped_in_the_html_part_and_verbatim_in_the_text_part() {
        let record = Record {
            key: "INC-2026-0001".into(),
            title: "<script>alert(1)</script>".into(),
            summary: "a & b <img src=x onerror=alert(1)>".into(),
            measures: vec![("<b>alert</b>".into(), "王小明".into(), "2026-12-01".into())],
            ..Record::default()
        };
        let (subject, text, html) = render(&record, Locale::ZhCn, Some("<pm>"), "http://h/incidents/INC-2026-0001");
        assert_eq!(subject, "[INC-2026-0001] 事件处理结果：<script>alert(1)</script>");
        assert!(text.contains("a & b <img src=x onerror=alert(1)>"));
        assert!(
            !html.contains("<script>")
                && !html.contains("<img")
                && !html.contains("<b>alert")
                && !html.contains("<pm>")
        );
        assert!(html.contains("&lt;script&gt;") && html.contains("王小明"));
    }
}
