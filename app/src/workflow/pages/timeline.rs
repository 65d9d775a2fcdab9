//! The incident's timeline and the solution review card: every value labelled and in the
//! reader's language, every verdict with its author.

use leptos::prelude::*;

use crate::{
    auth::Role,
    clock::LocalTime,
    i18n::{around, fill, use_i18n, Strings},
    workflow::{
        input::UserConfirmation,
        labels,
        rules::{ActionKind, Stage, TimelineAction},
        timeline::{Detail, Label, Value, VerdictSeen},
        views::{IncidentFacts, Person, TimelineEntry},
    },
};

fn label(label: Label, t: &'static Strings) -> &'static str {
    match label {
        Label::Reply => t.field_reply,
        Label::Note => t.field_note,
        Label::Pm => t.field_pm,
        Label::Dev => t.field_dev,
        Label::Qa => t.field_qa,
        Label::RootCause => t.field_root_cause,
        Label::Solution => t.field_solution,
        Label::Verdict => t.field_verdict,
        Label::PoolTitle => t.field_pool_title,
        Label::PoolDescription => t.field_pool_description,
        Label::Reason => t.field_reason,
        Label::Changes => t.field_changes,
        Label::Reference => t.field_reference,
        Label::TestNotes => t.field_notes,
        Label::Defect => t.field_defect,
        Label::Release => t.field_release,
        Label::DeployedAt => t.field_deployed_at,
        Label::Confirmation => t.field_confirmation,
        Label::Summary => t.field_summary,
        Label::Measure => t.field_measure,
        Label::Recipients => t.field_recipients_short,
        Label::Severity => t.field_severity,
        Label::Channel => t.field_channel,
        Label::Role => t.field_role,
        Label::OwnerBefore => t.field_owner_before,
        Label::OwnerAfter => t.field_owner_after,
        Label::Source => t.field_source,
        Label::Reporter => t.field_reporter_name,
        Label::ExternalRef => t.field_external_ref,
        Label::TimeUsed => t.field_time_used,
        Label::Target => t.field_target,
        Label::Notified => t.field_notified,
    }
}

/// A verdict in words.
pub fn verdict_word(optimal: bool, t: &'static Strings) -> &'static str {
    if optimal {
        t.verdict_optimal
    } else {
        t.verdict_not_optimal
    }
}

fn name_of(people: &[Person], id: Option<i64>, t: &'static Strings) -> String {
    match id {
        None => t.incident_unowned.to_owned(),
        Some(id) => people.iter().find(|p| p.id == id).map(|p| p.name.clone()).unwrap_or_else(|| format!("#{id}")),
    }
}

/// A value as the reader should see it, in their language.
fn value_text(value: &Value, people: &[Person], t: &'static Strings) -> String {
    match value {
        Value::Text(text) => text.clone(),
        Value::User(id) => name_of(people, *id, t),
        Value::Verdict(optimal) => verdict_word(*optimal, t).to_owned(),
        Value::Confirmation(UserConfirmation::Confirmed) => t.field_confirmed.to_owned(),
        Value::Confirmation(UserConfirmation::NoAnswer) => t.field_no_answer.to_owned(),
        Value::Severity(s) => s.as_str().to_uppercase(),
        Value::Channel(c) => labels::channel(*c, t).to_owned(),
        Value::Role(role) => role.label(t).to_owned(),
        // Shown as a `LocalTime` by `details_view`; this is its plain-text form.
        Value::Time(at) => crate::clock::local_parts(at, crate::clock::DEFAULT_ZONE).text,
        Value::Measure(m) => fill(
            t.timeline_measure,
            &[("text", &m.text), ("owner", &name_of(people, Some(m.owner_id), t)), ("due", &m.due)],
        ),
        Value::Span(seconds) => crate::clocks::format_span(*seconds),
    }
}

/// What an entry says happened, as (who, in bold; the rest): "Li Wei's verdict: not optimal"
/// for verdicts, "Li Wei · Propose a solution" otherwise, and the stage it led to when it moved
/// the incident.
fn headline(entry: &TimelineEntry, who: String, t: &'static Strings) -> (Option<String>, String) {
    let verdict = entry.details.iter().find_map(|d| match d.value {
        Value::Verdict(optimal) => Some(optimal),
        _ => None,
    });
    let (who, what) = match (entry.action, verdict) {
        (TimelineAction::Gate(ActionKind::VerdictPm | ActionKind::VerdictDev), Some(optimal)) => {
            (None, fill(t.timeline_verdict, &[("name", &who), ("verdict", verdict_word(optimal, t))]))
        }
        (action, _) => (Some(who), format!(" · {}", labels::timeline_action(action, t))),
    };
    if entry.from == entry.to {
        (who, what)
    } else {
        (who, format!("{what} → {}", labels::stage(entry.to, t)))
    }
}

/// The labelled values of one entry.
fn details_view(details: Vec<Detail>, people: &[Person]) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    (!details.is_empty()).then(|| {
        view! {
            <dl class="timeline__fields">
                {details.into_iter().map(|d| {
                    let value = match &d.value {
                        Value::Time(at) => view! { <LocalTime at=at.clone() /> }.into_any(),
                        other => value_text(other, people, t).into_any(),
                    };
                    view! { <div><dt>{label(d.label, t)}</dt><dd class="prewrap">{value}</dd></div> }
                }).collect_view()}
            </dl>
        }
    })
}

/// The incident's timeline, newest first, with the comments among the gate actions.
#[component]
pub fn Timeline(
    entries: Vec<TimelineEntry>,
    people: Vec<Person>,
    /// Newest first, each placed by its `position`.
    comments: Vec<crate::collab::CommentView>,
) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    let count = entries.len();
    let mut comments = comments.into_iter().peekable();
    // The comments newer than entry `i` (all that are left after the last entry).
    let mut comments_before = move |i: usize| {
        let mut here = Vec::new();
        while let Some(c) = comments.next_if(|c| c.position <= i) {
            here.push(view! { <crate::collab::CommentItem comment=c /> });
        }
        here.collect_view()
    };
    view! {
        <section class="card" aria-labelledby="timeline-heading">
            <h2 id="timeline-heading">{t.incident_timeline}</h2>
            <ol class="timeline">
                {entries.into_iter().enumerate().map(|(i, e)| {
                    let comments_here = comments_before(i);
                    // Intake entries have no user; the source that delivered the report is named instead.
                    // The scheduler's entries are the product's own.
                    let who = e.actor.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| {
                        if e.role == "system" {
                            return t.timeline_system.to_owned();
                        }
                        e.details.iter().find(|d| d.label == Label::Source).map(|d| value_text(&d.value, &[], t)).unwrap_or_default()
                    });
                    let role = Role::parse(&e.role).map(|r| r.label(t));
                    let (who, what) = headline(&e, who, t);
                    // The source is already named as the entry's author.
                    let details = e.details.into_iter().filter(|d| d.label != Label::Source).collect();
                    view! {
                        {comments_here}
                        <li class="timeline__entry" data-action=e.action.as_str()>
                            <p class="timeline__head">
                                <LocalTime at=e.at.clone() ago=true />
                                {role.map(|r| view! { " · " {r} })}
                            </p>
                            <p class="timeline__what">{who.map(|w| view! { <strong>{w}</strong> })}{what}</p>
                            {details_view(details, &people)}
                        </li>
                    }
                }).collect_view()}
                {comments_before(count)}
            </ol>
        </section>
    }
    // Type-erased: the incident page's view type is otherwise too deep for the compiler.
    .into_any()
}

/// What the previous owner handed over when the incident entered its current stage (QA's defect
/// for the dev, the change for QA, the approval note for the release, ...), above "Your action"
/// so the person whose turn it is acts with it in view. `extra` adds facts the stage needs that
/// no entry holds (the user's contact in follow-up, the agreed fix while fixing).
#[component]
pub fn HandoverCard(entry: TimelineEntry, people: Vec<Person>, extra: Vec<(&'static str, String)>) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    let who = entry.actor.as_ref().map(|p| p.name.clone()).unwrap_or_default();
    let (who, what) = headline(&entry, who, t);
    let at = entry.at.clone();
    view! {
        <section class="card handover-card" aria-labelledby="handover-heading" data-handover=entry.action.as_str()>
            <h2 id="handover-heading">{t.handover_title}</h2>
            <p class="timeline__what">{who.map(|w| view! { <strong>{w}</strong> })}{what} " · " <LocalTime at ago=true /></p>
            {details_view(entry.details, &people)}
            {(!extra.is_empty()).then(|| view! {
                <dl class="timeline__fields">
                    {extra.into_iter().map(|(label, value)| view! { <div><dt>{label}</dt><dd class="prewrap">{value}</dd></div> }).collect_view()}
                </dl>
            })}
        </section>
    }
    .into_any()
}

/// In solution review: the proposal being judged and both verdicts so far, with who gave them,
/// when, and the pool item the PM proposed. Shown above the forms so both judges see the
/// disagreement (or the missing verdict) before they act.
#[component]
pub fn ReviewCard(
    facts: IncidentFacts,
    /// The stored verdicts (PM, dev): they decide what is shown.
    verdicts: (Option<bool>, Option<bool>),
    /// The same verdicts as the timeline records them, with author and time.
    seen: (Option<VerdictSeen>, Option<VerdictSeen>),
    pm: Option<Person>,
    dev: Option<Person>,
) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    let (pm_seen, dev_seen) = seen;
    let row = |role: Role, owner: Option<Person>, state: Option<bool>, seen: Option<VerdictSeen>| {
        // The stored state decides; the timeline adds who and when (they agree unless the
        // timeline predates verdict entries).
        let seen = seen.filter(|s| Some(s.optimal) == state);
        let who = seen
            .as_ref()
            .and_then(|s| s.by.clone())
            .or(owner)
            .map(|p| p.name)
            .unwrap_or_else(|| t.incident_unowned.to_owned());
        let word = state.map(|o| verdict_word(o, t)).unwrap_or(t.verdict_pending);
        let class = match state {
            Some(true) => "verdict verdict--optimal",
            Some(false) => "verdict verdict--not-optimal",
            None => "verdict verdict--pending",
        };
        let when = seen.as_ref().map(|s| {
            let (before, after) = around(t.review_given_at, "time");
            view! { {before} <LocalTime at=s.at.clone() /> {after} }
        });
        let pool = seen.and_then(|s| s.pool).map(|(title, _)| fill(t.review_pool_proposed, &[("title", &title)]));
        view! {
            <div class="owners__row" data-verdict=role.as_str()>
                <dt>{role.label(t)} " · " {who}</dt>
                <dd>
                    <strong class=class>{word}</strong>
                    {when.map(|w| view! { " " <span class="hint">{w}</span> })}
                    {pool.map(|p| view! { <br /> <span>{p}</span> })}
                </dd>
            </div>
        }
    };
    view! {
        <section class="card review" aria-labelledby="review-heading" data-stage=Stage::SolutionReview.as_str()>
            <h2 id="review-heading">{t.review_title}</h2>
            <dl class="handover">
                <dt>{t.field_root_cause}</dt>
                <dd class="prewrap">{facts.root_cause}</dd>
                <dt>{t.field_solution}</dt>
                <dd class="prewrap">{facts.solution}</dd>
            </dl>
            <h3>{t.review_verdicts}</h3>
            <dl class="owners">
                {row(Role::Pm, pm, verdicts.0, pm_seen)}
                {row(Role::Dev, dev, verdicts.1, dev_seen)}
            </dl>
        </section>
    }
    .into_any()
}
