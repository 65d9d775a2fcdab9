//! Reading incidents: my queue, the filtered list, one incident, people to choose from.
//!
//! Rows decode by column name into `...Row` structs, then into the domain types through one
//! `TryFrom` each; a stored stage, severity or channel this version does not know is an error.

use chrono::{DateTime, Utc};

use super::{
    input::{Channel, Severity, UserConfirmation},
    rules::{self, ActionKind, Actor, IncidentState, Owners, Plan, Resolution, Stage, TimelineAction},
    views::{
        IncidentDetail, IncidentFacts, IncidentFilter, IncidentPage, IncidentSummary, MyQueueView, Person, QueueItem,
        Staff, StaffMember, TimelineEntry,
    },
};
use crate::{
    auth::Role,
    config::Backend,
    db::{parse_stored, Db, UnknownStoredValue},
    error::AppError,
    on_db, on_read,
};

const SUMMARY_COLUMNS: &str = "id, key, title, severity, channel, stage, ops_owner, pm_owner, dev_owner, qa_owner, \
                               version, stage_entered_at, created_at, pm_verdict, dev_verdict";

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: i64,
    key: String,
    title: String,
    severity: String,
    channel: String,
    stage: String,
    ops_owner: Option<i64>,
    pm_owner: Option<i64>,
    dev_owner: Option<i64>,
    qa_owner: Option<i64>,
    version: i64,
    stage_entered_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    pm_verdict: Option<bool>,
    dev_verdict: Option<bool>,
}

/// An incident as lists show it, with what the rules need to know about it.
struct Listed {
    summary: IncidentSummary,
    state: IncidentState,
}

impl TryFrom<SummaryRow> for Listed {
    type Error = UnknownStoredValue;

    fn try_from(r: SummaryRow) -> Result<Self, Self::Error> {
        let owners = Owners { ops: r.ops_owner, pm: r.pm_owner, dev: r.dev_owner, qa: r.qa_owner };
        let stage = parse_stored("incidents.stage", &r.stage, Stage::parse)?;
        Ok(Listed {
            summary: IncidentSummary {
                id: r.id,
                key: r.key,
                title: r.title,
                severity: parse_stored("incidents.severity", &r.severity, Severity::parse)?,
                channel: parse_stored("incidents.channel", &r.channel, Channel::parse)?,
                stage,
                owners,
                version: r.version,
                stage_entered_at: r.stage_entered_at.to_rfc3339(),
                created_at: r.created_at.to_rfc3339(),
                holders: Vec::new(),
                clock: None,
            },
            state: IncidentState { stage, owners, pm_verdict: r.pm_verdict, dev_verdict: r.dev_verdict },
        })
    }
}

fn listed(rows: Vec<SummaryRow>) -> Result<Vec<Listed>, UnknownStoredValue> {
    rows.into_iter().map(Listed::try_from).collect()
}

/// Fills in who holds each incident now (the named owners of its stage's roles), with every name
/// read in one statement.
async fn fill_holders(db: &Db, items: &mut [IncidentSummary]) -> Result<(), AppError> {
    let mut ids: Vec<i64> = Vec::new();
    for item in items.iter() {
        for role in item.stage.owner_roles() {
            if let Some(id) = item.owners.get(role).filter(|id| !ids.contains(id)) {
                ids.push(id);
            }
        }
    }
    let names: Vec<(i64, String)> = if ids.is_empty() {
        Vec::new()
    } else {
        let placeholders = (1..=ids.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT id, display_name FROM users WHERE id IN ({placeholders})");
        on_db!(db, pool => {
            let mut query = sqlx::query_as(&sql);
            for id in &ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        })
    };
    for item in items.iter_mut() {
        item.holders = item
            .stage
            .owner_roles()
            .into_iter()
            .map(|role| {
                let name = item
                    .owners
                    .get(role)
                    .and_then(|id| names.iter().find(|(known, _)| *known == id).map(|(_, name)| name.clone()));
                (role, name)
            })
            .collect();
    }
    Ok(())
}

/// The queue's query: every open incident, most severe first, then longest in its stage. Its
/// `WHERE` is the partial index `incidents_open_queue`'s own, so both databases read that index.
pub fn open_queue_sql() -> String {
    format!("SELECT {SUMMARY_COLUMNS} FROM incidents WHERE stage <> 'closed' ORDER BY severity, stage_entered_at, id")
}

/// Fills in the current stage clock of each incident, as of `now`.
async fn fill_clocks(db: &Db, items: &mut [IncidentSummary], now: DateTime<Utc>) -> Result<(), AppError> {
    let ids: Vec<i64> = items.iter().filter(|i| i.stage != Stage::Closed).map(|i| i.id).collect();
    let mut clocks = crate::clocks::store::current_of(db, &ids, now).await?;
    for item in items.iter_mut() {
        item.clock = clocks.remove(&item.id);
    }
    Ok(())
}

/// [`my_queue_at`] now.
pub async fn my_queue(db: &Db, actor: &Actor) -> Result<MyQueueView, AppError> {
    my_queue_at(db, actor, Utc::now()).await
}

/// Open incidents where `actor` must act now (most severe first; within a severity, overdue
/// stages first, then the longest waiting), with the actions owed and each one's stage clock as
/// of `now`, and the open incidents per stage of the actor's roles.
pub async fn my_queue_at(db: &Db, actor: &Actor, now: DateTime<Utc>) -> Result<MyQueueView, AppError> {
    // Reads the partial index `incidents_open_queue` (its WHERE is exactly this one), so closed
    // incidents are never touched; the rule book decides which open ones are the actor's.
    let rows: Vec<SummaryRow> = on_db!(db, pool => sqlx::query_as(&open_queue_sql()).fetch_all(pool).await?);
    let open = listed(rows)?;
    let counts = Stage::ALL
        .into_iter()
        .filter(|stage| stage.owner_roles().iter().any(|r| actor.roles.contains(r)))
        .map(|stage| (stage, open.iter().filter(|l| l.summary.stage == stage).count() as i64))
        .collect();
    let (mut summaries, owed): (Vec<IncidentSummary>, Vec<Vec<ActionKind>>) = open
        .into_iter()
        .filter_map(|l| {
            let actions = rules::available_actions(&l.state, actor);
            (!actions.is_empty()).then_some((l.summary, actions))
        })
        .unzip();
    fill_holders(db, &mut summaries).await?;
    fill_clocks(db, &mut summaries, now).await?;
    let mut items: Vec<QueueItem> =
        summaries.into_iter().zip(owed).map(|(summary, actions)| QueueItem { summary, actions }).collect();
    // Stable: the longest waiting stay first among equals.
    let breached =
        |item: &QueueItem| item.summary.clock.as_ref().is_some_and(|c| c.state == crate::clocks::ClockState::Breached);
    items.sort_by_key(|item| (item.summary.severity, !breached(item)));
    Ok(MyQueueView { items, counts })
}

enum Bind {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
}

fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| AppError::invalid(field, crate::error::FieldProblem::InvalidChoice))
}

/// [`list_at`] now.
pub async fn list(db: &Db, filter: &IncidentFilter, before: Option<i64>, limit: i64) -> Result<IncidentPage, AppError> {
    list_at(db, filter, before, limit, Utc::now()).await
}

/// One page of incidents matching `filter`, newest first, before incident id `before`, with their
/// stage clocks as of `now`.
pub async fn list_at(
    db: &Db,
    filter: &IncidentFilter,
    before: Option<i64>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<IncidentPage, AppError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    // Placeholders are numbered in the order they are added (see `db` on portable SQL).
    let mut add = |clause: &dyn Fn(usize) -> String, bind: Bind, binds: &mut Vec<Bind>| {
        binds.push(bind);
        clauses.push(clause(binds.len()));
    };
    if let Some(stage) = filter.stage {
        add(&|n| format!("stage = ${n}"), Bind::Text(stage.as_str().into()), &mut binds);
    }
    if let Some(severity) = filter.severity {
        add(&|n| format!("severity = ${n}"), Bind::Text(severity.as_str().into()), &mut binds);
    }
    if let Some(channel) = filter.channel {
        add(&|n| format!("channel = ${n}"), Bind::Text(channel.as_str().into()), &mut binds);
    }
    if let Some(owner) = filter.owner {
        add(
            &|n| format!("(ops_owner = ${n} OR pm_owner = ${n} OR dev_owner = ${n} OR qa_owner = ${n})"),
            Bind::Int(owner),
            &mut binds,
        );
    }
    if let Some(from) = filter.created_from.as_deref().filter(|s| !s.is_empty()) {
        add(&|n| format!("created_at >= ${n}"), Bind::Time(parse_time("created_from", from)?), &mut binds);
    }
    if let Some(to) = filter.created_to.as_deref().filter(|s| !s.is_empty()) {
        add(&|n| format!("created_at < ${n}"), Bind::Time(parse_time("created_to", to)?), &mut binds);
    }
    if let Some(text) = filter.text.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern =
            format!("%{}%", text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        add(
            &|n| {
                format!("(LOWER(key) LIKE ${n} ESCAPE '\\' OR LOWER(title) LIKE ${n} ESCAPE '\\' OR LOWER(description) LIKE ${n} ESCAPE '\\')")
            },
            Bind::Text(pattern),
            &mut binds,
        );
    }
    if let Some(before) = before {
        add(&|n| format!("id < ${n}"), Bind::Int(before), &mut binds);
    }
    let limit = limit.clamp(1, 200);
    let where_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    // One extra row tells whether another page follows.
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM incidents {where_sql} ORDER BY id DESC LIMIT {}", limit + 1);
    let rows: Vec<SummaryRow> = on_db!(db, pool => {
        let mut query = sqlx::query_as(&sql);
        for bind in &binds {
            query = match bind {
                Bind::Text(v) => query.bind(v.clone()),
                Bind::Int(v) => query.bind(*v),
                Bind::Time(v) => query.bind(*v),
            };
        }
        query.fetch_all(pool).await?
    });
    let mut items: Vec<IncidentSummary> = listed(rows)?.into_iter().map(|l| l.summary).collect();
    let next_before = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|i| i.id)
    } else {
        None
    };
    fill_holders(db, &mut items).await?;
    fill_clocks(db, &mut items, now).await?;
    Ok(IncidentPage { items, next_before })
}

#[derive(sqlx::FromRow)]
struct DetailRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    description: String,
    reporter_name: String,
    reporter_contact: String,
    external_ref: String,
    fix_round: i64,
    plan: Option<String>,
    pool_item_id: Option<i64>,
    resolution: Option<String>,
    activity: i64,
    #[sqlx(flatten)]
    facts: FactsRow,
}

/// The columns of the typed facts, for queries that select them as a [`FactsRow`].
pub(crate) const FACTS_COLUMNS: &str =
    "root_cause, solution, release_version, deployed_at, regression_notes, user_reply, user_confirmation";

/// The typed facts as stored (see `engine::Facts` for who writes them).
#[derive(sqlx::FromRow)]
pub(crate) struct FactsRow {
    root_cause: String,
    solution: String,
    release_version: String,
    deployed_at: Option<DateTime<Utc>>,
    regression_notes: Option<String>,
    user_reply: String,
    user_confirmation: Option<String>,
}

impl TryFrom<FactsRow> for IncidentFacts {
    type Error = UnknownStoredValue;

    fn try_from(r: FactsRow) -> Result<Self, Self::Error> {
        Ok(IncidentFacts {
            root_cause: r.root_cause,
            solution: r.solution,
            release_version: r.release_version,
            deployed_at: r.deployed_at.map(|t| t.to_rfc3339()),
            regression_notes: r.regression_notes,
            user_reply: r.user_reply,
            user_confirmation: r
                .user_confirmation
                .map(|c| parse_stored("incidents.user_confirmation", &c, UserConfirmation::parse))
                .transpose()?,
        })
    }
}

/// One timeline entry as stored, for the incident page and the report.
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(crate) struct TimelineRow {
    #[serde(deserialize_with = "stored_time")]
    at: DateTime<Utc>,
    actor_id: Option<i64>,
    actor_name: Option<String>,
    actor_role: String,
    action: String,
    from_stage: String,
    to_stage: String,
    fields: String,
}

/// A time as a JSON aggregate carries it: RFC 3339, as sqlx stores it in SQLite's text column and
/// as PostgreSQL writes a `timestamptz` into JSON.
pub(crate) fn stored_time<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| serde::de::Error::custom(format!("unreadable time {text:?}: {err}")))
}

/// [`stored_time`] for a time that may be absent (JSON `null`).
pub(crate) fn stored_time_opt<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text = <Option<std::borrow::Cow<'de, str>> as serde::Deserialize>::deserialize(deserializer)?;
    text.map(|text| {
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|err| serde::de::Error::custom(format!("unreadable time {text:?}: {err}")))
    })
    .transpose()
}

/// Selects an incident's timeline (`$1`) as [`TimelineRow`]s; `{order}` is `ASC` or `DESC`.
pub(crate) fn timeline_sql(order: &str) -> String {
    format!(
        "SELECT t.at, t.actor_id, u.display_name AS actor_name, t.actor_role, t.action, t.from_stage, t.to_stage, \
         t.fields FROM incident_timeline t LEFT JOIN users u ON u.id = t.actor_id WHERE t.incident_id = $1 \
         ORDER BY t.id {order}"
    )
}

/// A timeline entry with its stored names parsed.
#[derive(Clone, Debug)]
pub(crate) struct StoredEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (id and display name), if a user acted.
    pub actor: Option<(i64, String)>,
    /// The role acted in (`intake` for deliveries).
    pub role: String,
    /// What.
    pub action: TimelineAction,
    /// Stage before.
    pub from: Stage,
    /// Stage after.
    pub to: Stage,
    /// The action's input as JSON.
    pub fields: String,
}

impl TryFrom<TimelineRow> for StoredEntry {
    type Error = UnknownStoredValue;

    fn try_from(r: TimelineRow) -> Result<Self, Self::Error> {
        Ok(StoredEntry {
            at: r.at,
            actor: r.actor_id.map(|id| (id, r.actor_name.unwrap_or_default())),
            role: r.actor_role,
            action: parse_stored("incident_timeline.action", &r.action, TimelineAction::parse)?,
            from: parse_stored("incident_timeline.from_stage", &r.from_stage, Stage::parse)?,
            to: parse_stored("incident_timeline.to_stage", &r.to_stage, Stage::parse)?,
            fields: r.fields,
        })
    }
}

impl From<StoredEntry> for TimelineEntry {
    fn from(e: StoredEntry) -> Self {
        TimelineEntry {
            at: e.at.to_rfc3339(),
            actor: e.actor.map(|(id, name)| Person { id, name }),
            role: e.role,
            action: e.action,
            from: e.from,
            to: e.to,
            details: super::timeline::details(e.action, &e.fields),
        }
    }
}

#[derive(sqlx::FromRow)]
struct PersonRow {
    id: i64,
    display_name: String,
}

impl From<PersonRow> for Person {
    fn from(r: PersonRow) -> Self {
        Person { id: r.id, name: r.display_name }
    }
}

/// The incident page's row: the incident, its owners' names and its whole timeline.
#[derive(sqlx::FromRow)]
struct PageRow {
    #[sqlx(flatten)]
    detail: DetailRow,
    ops_name: Option<String>,
    pm_name: Option<String>,
    dev_name: Option<String>,
    qa_name: Option<String>,
    /// The timeline as one JSON array of [`TimelineRow`]s, newest first.
    timeline: String,
    /// The stage clocks as one JSON array, oldest first.
    clocks: String,
    /// The comments as one JSON array, oldest first.
    comments: String,
    /// The attachments as one JSON array, oldest first.
    attachments: String,
    /// The people the page's forms may offer, as one JSON array of [`StaffRow`]s in [`staff`]'s
    /// order; `NULL` when the reader could not be shown such a form ([`may_name_people`]).
    staff: Option<String>,
}

/// The incident page in one statement and one row: a page is read far more often than written,
/// and on SQLite every statement and every row crosses to the connection's thread and back.
fn page_sql(backend: Backend, with_staff: bool) -> String {
    let timeline = match backend {
        Backend::Sqlite => {
            "SELECT json_group_array(json_object('at', t.at, 'actor_id', t.actor_id, 'actor_name', u.display_name, \
             'actor_role', t.actor_role, 'action', t.action, 'from_stage', t.from_stage, 'to_stage', t.to_stage, \
             'fields', t.fields) ORDER BY t.id DESC) \
             FROM incident_timeline t LEFT JOIN users u ON u.id = t.actor_id WHERE t.incident_id = i.id"
        }
        Backend::Postgres => {
            "SELECT COALESCE(json_agg(json_build_object('at', t.at, 'actor_id', t.actor_id, 'actor_name', \
             u.display_name, 'actor_role', t.actor_role, 'action', t.action, 'from_stage', t.from_stage, \
             'to_stage', t.to_stage, 'fields', t.fields) ORDER BY t.id DESC), '[]'::json)::text \
             FROM incident_timeline t LEFT JOIN users u ON u.id = t.actor_id WHERE t.incident_id = i.id"
        }
    };
    let clocks = crate::clocks::store::clocks_json_sql(backend);
    let comments = crate::collab::store::comments_json_sql(backend);
    let attachments = crate::collab::files::attachments_json_sql(backend);
    let staff = if with_staff { format!("({})", staff_json_sql(backend)) } else { "NULL".to_owned() };
    format!(
        "SELECT i.*, uo.display_name AS ops_name, up.display_name AS pm_name, ud.display_name AS dev_name, \
         uq.display_name AS qa_name, ({timeline}) AS timeline, ({clocks}) AS clocks, ({comments}) AS comments, \
         ({attachments}) AS attachments, {staff} AS staff \
         FROM (SELECT {SUMMARY_COLUMNS}, description, reporter_name, reporter_contact, external_ref, fix_round, plan, \
         pool_item_id, resolution, activity, {FACTS_COLUMNS} FROM incidents WHERE key = $1) i \
         LEFT JOIN users uo ON uo.id = i.ops_owner LEFT JOIN users up ON up.id = i.pm_owner \
         LEFT JOIN users ud ON ud.id = i.dev_owner LEFT JOIN users uq ON uq.id = i.qa_owner"
    )
}

/// One incident with owners, plan, pool item, timeline and what `actor` may do on it now.
/// [`detail_at`] now.
pub async fn detail(db: &Db, key: &str, actor: &Actor) -> Result<IncidentDetail, AppError> {
    detail_at(db, key, actor, Utc::now()).await
}

/// One incident as `actor` sees it, with its stage clocks as of `now`.
pub async fn detail_at(db: &Db, key: &str, actor: &Actor, now: DateTime<Utc>) -> Result<IncidentDetail, AppError> {
    // The people to offer come with the page for readers who may be shown a form that names
    // someone (PM, ops, admins): one statement fewer when a form does, a small unused JSON
    // column when none does (a closed incident, one the PM does not own).
    let with_staff = may_name_people(actor);
    let sql = page_sql(db.backend(), with_staff);
    // One row, read on every view of the page, on the task's own thread: its cost grows with the
    // incident's timeline, comments and files, which the same thread then renders as HTML.
    let page: Option<PageRow> = on_read!(db, conn => sqlx::query_as(&sql).bind(key).fetch_optional(conn).await?);
    let Some(page) = page else {
        return Err(AppError::NotFound);
    };
    let row = page.detail;
    let Listed { mut summary, state } = Listed::try_from(row.summary)?;
    let clocks: Vec<crate::clocks::store::ClockRow> = serde_json::from_str(&page.clocks)
        .map_err(|err| AppError::internal(format!("cannot read the clocks of incident {}: {err}", summary.id)))?;
    let (stays, clock) = crate::clocks::store::views_from(db, clocks, now).await?;
    summary.clock = clock;
    let owners = summary.owners;
    let person = |id: Option<i64>, name: Option<String>| id.zip(name).map(|(id, name)| Person { id, name });
    let owner_names = [
        person(owners.ops, page.ops_name),
        person(owners.pm, page.pm_name),
        person(owners.dev, page.dev_name),
        person(owners.qa, page.qa_name),
    ];
    let pool_item = match row.pool_item_id {
        Some(id) => crate::pool::store::item(db, id).await?,
        None => None,
    };
    let timeline: Vec<TimelineRow> = serde_json::from_str(&page.timeline)
        .map_err(|err| AppError::internal(format!("cannot read the timeline of incident {}: {err}", summary.id)))?;
    let timeline: Vec<TimelineEntry> = timeline
        .into_iter()
        .map(|row| StoredEntry::try_from(row).map(TimelineEntry::from))
        .collect::<Result<_, _>>()?;
    let people = named_people(db, &timeline, &owner_names).await?;
    let entry_times: Vec<DateTime<Utc>> = timeline
        .iter()
        .map(|e| DateTime::parse_from_rfc3339(&e.at).map(|t| t.with_timezone(&Utc)).unwrap_or(now))
        .collect();
    let mut comments = crate::collab::store::views_from(&page.comments, actor, &entry_times, now)?;
    let attachments = crate::collab::files::views_from(&page.attachments)?;
    // A comment shows the files posted with it (a hidden comment's files are not in the list).
    for comment in comments.iter_mut() {
        comment.files = attachments.iter().filter(|a| a.comment_id == Some(comment.id)).cloned().collect();
    }
    let my_actions = rules::available_actions(&state, actor);
    let claimable = rules::claimable_roles(&state, actor);
    let reassignable = rules::reassignable_roles(&state, actor);
    // The choices of the forms that name someone come with the page, not a query per form.
    let staff = if !reassignable.is_empty() || my_actions.iter().any(|kind| names_people(*kind)) {
        match page.staff.as_deref() {
            Some(json) => staff_from_json(json)?,
            None => staff(db).await?,
        }
    } else {
        Staff::default()
    };
    // Everyone on the incident sees the report's copy and status; the SMTP error text is for admins.
    // The report is sent in the step that closes the incident: an open one has none to look up.
    let report = if summary.stage == Stage::Closed {
        crate::mail::outbox::report_of(db, summary.id).await?.map(|mut email| {
            email.last_error.clear();
            email
        })
    } else {
        None
    };
    let facts = IncidentFacts::try_from(row.facts)?;
    Ok(IncidentDetail {
        summary,
        description: row.description,
        reporter_name: row.reporter_name,
        reporter_contact: row.reporter_contact,
        external_ref: row.external_ref,
        owner_names,
        fix_round: row.fix_round,
        plan: row.plan.map(|p| parse_stored("incidents.plan", &p, Plan::parse)).transpose()?,
        pool_item,
        resolution: row.resolution.map(|r| parse_stored("incidents.resolution", &r, Resolution::parse)).transpose()?,
        facts,
        verdicts: (state.pm_verdict, state.dev_verdict),
        my_actions,
        claimable,
        reassignable,
        timeline,
        people,
        report,
        staff,
        stays,
        comments,
        activity: row.activity,
        attachments,
        attachment_max_bytes: 0,
    })
}

/// Whether the form of `kind` chooses a person: the PM at triage, dev and QA at dispatch, the
/// owners of prevention measures in the report.
fn names_people(kind: ActionKind) -> bool {
    NAMING_ACTIONS.contains(&kind)
}

/// The actions whose forms choose a person.
const NAMING_ACTIONS: [ActionKind; 3] = [ActionKind::TriageTechnical, ActionKind::Dispatch, ActionKind::SendReport];

/// Whether `actor` could be shown a form that names someone on some incident: they hold the
/// role of an action that names people, or one that may reassign owners (the PM owner, admins).
/// A reader this misses still gets the people, from a query of their own.
fn may_name_people(actor: &Actor) -> bool {
    actor
        .roles
        .iter()
        .any(|role| matches!(role, Role::Pm | Role::Admin) || NAMING_ACTIONS.iter().any(|kind| kind.role() == *role))
}

/// The users the timeline's values name, with their names: most are owners or actors already on
/// the page, so the database is asked only for the rest (a dev replaced since dispatch).
async fn named_people(db: &Db, timeline: &[TimelineEntry], owners: &[Option<Person>]) -> Result<Vec<Person>, AppError> {
    let named: std::collections::BTreeSet<i64> =
        timeline.iter().flat_map(|e| super::timeline::users_named(&e.details)).collect();
    let known: Vec<&Person> = owners.iter().flatten().chain(timeline.iter().filter_map(|e| e.actor.as_ref())).collect();
    let mut people = Vec::with_capacity(named.len());
    let mut missing = Vec::new();
    for id in named {
        match known.iter().find(|p| p.id == id) {
            Some(p) => people.push((*p).clone()),
            None => missing.push(id),
        }
    }
    // Rare and few (an owner replaced since the entry): one small lookup each.
    for id in missing {
        let row: Option<PersonRow> = on_db!(db, pool => sqlx::query_as("SELECT id, display_name FROM users WHERE id = $1").bind(id).fetch_optional(pool).await?);
        people.extend(row.map(Person::from));
    }
    Ok(people)
}

/// Active users who work on incidents (hold a role other than admin), by name, with their
/// roles: one query for every person-choosing form of a page (the incident page has them in its
/// own statement, [`staff_json_sql`], for the readers [`may_name_people`] foresees).
pub async fn staff(db: &Db) -> Result<Staff, AppError> {
    let sql = format!("SELECT u.id, u.display_name, r.role {STAFF_SOURCE} ORDER BY {STAFF_ORDER}");
    let rows: Vec<StaffRow> = on_db!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await?);
    Ok(grouped(rows)?)
}

/// Where [`staff`] comes from: active users and their roles other than admin.
const STAFF_SOURCE: &str = "FROM users u JOIN user_roles r ON r.user_id = u.id WHERE u.active AND r.role <> 'admin'";
/// [`staff`]'s order, which [`grouped`] relies on: by name, one user's roles together.
const STAFF_ORDER: &str = "u.display_name, u.id, r.role";

/// [`staff`] as a subquery of the incident page's statement, giving one JSON array of
/// [`StaffRow`]s in the same order.
fn staff_json_sql(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => format!(
            "SELECT json_group_array(json_object('id', u.id, 'display_name', u.display_name, 'role', r.role) \
             ORDER BY {STAFF_ORDER}) {STAFF_SOURCE}"
        ),
        Backend::Postgres => format!(
            "SELECT COALESCE(json_agg(json_build_object('id', u.id, 'display_name', u.display_name, 'role', r.role) \
             ORDER BY {STAFF_ORDER}), '[]'::json)::text {STAFF_SOURCE}"
        ),
    }
}

/// The people of [`staff_json_sql`]'s array.
fn staff_from_json(json: &str) -> Result<Staff, AppError> {
    let rows: Vec<StaffRow> = serde_json::from_str(json)
        .map_err(|err| AppError::internal(format!("cannot read the people of the incident page: {err}")))?;
    Ok(grouped(rows)?)
}

/// One member per user from rows ordered by name and user, one row per role.
fn grouped(rows: Vec<StaffRow>) -> Result<Staff, UnknownStoredValue> {
    let mut members: Vec<StaffMember> = Vec::new();
    for row in rows {
        let role = parse_stored("user_roles.role", &row.role, Role::parse)?;
        match members.last_mut() {
            Some(last) if last.person.id == row.id => last.roles.push(role),
            _ => members.push(StaffMember { person: Person { id: row.id, name: row.display_name }, roles: vec![role] }),
        }
    }
    Ok(Staff(members))
}

#[derive(sqlx::FromRow, serde::Deserialize)]
struct StaffRow {
    id: i64,
    display_name: String,
    role: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's statement brings the people along for every reader who may be shown a form
    /// that names someone: in any stage, as owner of every role, with any verdicts.
    #[test]
    fn every_reader_offered_a_naming_form_is_foreseen() {
        let everyone = Owners { ops: Some(1), pm: Some(1), dev: Some(1), qa: Some(1) };
        for role in Role::ALL {
            let actor = Actor { id: 1, roles: vec![role], ..Actor::default() };
            for stage in Stage::ALL {
                for pm_verdict in [None, Some(true), Some(false)] {
                    let state = IncidentState { stage, owners: everyone, pm_verdict, dev_verdict: None };
                    let names = rules::available_actions(&state, &actor).into_iter().any(names_people)
                        || !rules::reassignable_roles(&state, &actor).is_empty();
                    assert!(!names || may_name_people(&actor), "{role:?} in {stage:?} is offered a naming form");
                }
            }
        }
        // Dev and QA never are: their pages skip the people.
        assert!(!may_name_people(&Actor { id: 1, roles: vec![Role::Dev, Role::Qa], ..Actor::default() }));
    }
}
