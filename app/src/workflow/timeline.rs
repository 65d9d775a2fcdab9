//! Reading the timeline: each entry's stored fields as labelled, typed values in a meaningful
//! order, and the solution review's current verdicts with who gave them and when.
//!
//! Entries store the action's input as JSON (see the engine). Pages never show that JSON: every
//! value gets a label and is shown in the reader's language (names for user ids, words for
//! verdicts, severities and answers), so a Chinese reader never meets `confirmed` or `p1`.

use serde::{Deserialize, Serialize};

use super::{
    input::{Channel, GateInput, Measure, Severity, UserConfirmation},
    rules::{ActionKind, TimelineAction},
    views::{Person, TimelineEntry},
};
use crate::auth::Role;

/// What a value of a timeline entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Label {
    /// Reply sent to the user.
    Reply,
    /// A note for the next owner.
    Note,
    /// The PM chosen.
    Pm,
    /// The developer chosen.
    Dev,
    /// The QA chosen.
    Qa,
    /// Root cause of a proposal.
    RootCause,
    /// Proposed solution.
    Solution,
    /// Optimal or not.
    Verdict,
    /// Title of the requirement-pool item proposed.
    PoolTitle,
    /// The optimal solution for the pool.
    PoolDescription,
    /// Why something was sent back or reassigned.
    Reason,
    /// What changed in a fix.
    Changes,
    /// Commit, PR or build.
    Reference,
    /// Test notes.
    TestNotes,
    /// A defect found.
    Defect,
    /// Released version.
    Release,
    /// When the release was deployed.
    DeployedAt,
    /// The user's answer.
    Confirmation,
    /// Report summary.
    Summary,
    /// A prevention measure.
    Measure,
    /// Extra report recipients.
    Recipients,
    /// Severity at report.
    Severity,
    /// Channel at report.
    Channel,
    /// The role claimed or reassigned.
    Role,
    /// The owner replaced.
    OwnerBefore,
    /// The new owner.
    OwnerAfter,
    /// The intake source that delivered a report.
    Source,
    /// Who reported it.
    Reporter,
    /// Reference in the source system.
    ExternalRef,
    /// Time counted on a stage clock.
    TimeUsed,
    /// A stage's target.
    Target,
    /// Someone told by a clock notice.
    Notified,
}

/// A typed value of a timeline entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// Free text, shown as typed (never as HTML).
    Text(String),
    /// A user, by id (`None`: nobody).
    User(Option<i64>),
    /// A solution verdict: optimal or not.
    Verdict(bool),
    /// The user's answer at follow-up.
    Confirmation(UserConfirmation),
    /// A severity.
    Severity(Severity),
    /// A channel.
    Channel(Channel),
    /// A role.
    Role(Role),
    /// A time, RFC 3339 or `YYYY-MM-DDTHH:MM`, in UTC.
    Time(String),
    /// A prevention measure: what, who, by when.
    Measure(Measure),
    /// A span of time, in seconds.
    Span(i64),
}

/// One labelled value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    /// What it is.
    pub label: Label,
    /// The value.
    pub value: Value,
}

fn text(label: Label, value: &str) -> Option<Detail> {
    let value = value.trim();
    (!value.is_empty()).then(|| Detail { label, value: Value::Text(value.to_owned()) })
}

fn detail(label: Label, value: Value) -> Option<Detail> {
    Some(Detail { label, value })
}

/// The values of a gate action, in the order a reader needs them.
fn gate_details(input: GateInput) -> Vec<Option<Detail>> {
    use Label as L;
    match input {
        GateInput::TriageNonTechnical { reply } => vec![text(L::Reply, &reply)],
        GateInput::TriageTechnical { pm_id, note } => {
            vec![detail(L::Pm, Value::User(Some(pm_id))), text(L::Note, &note)]
        }
        GateInput::Dispatch { dev_id, qa_id, note } => vec![
            detail(L::Dev, Value::User(Some(dev_id))),
            detail(L::Qa, Value::User(Some(qa_id))),
            text(L::Note, &note),
        ],
        GateInput::Propose { root_cause, solution } => {
            vec![text(L::RootCause, &root_cause), text(L::Solution, &solution)]
        }
        GateInput::VerdictPm { optimal, pool } => {
            let mut out = vec![detail(L::Verdict, Value::Verdict(optimal))];
            if let Some(pool) = pool.filter(|_| !optimal) {
                out.push(text(L::PoolTitle, &pool.title));
                out.push(text(L::PoolDescription, &pool.description));
            }
            out
        }
        GateInput::VerdictDev { optimal } => vec![detail(L::Verdict, Value::Verdict(optimal))],
        GateInput::SendBackSolution { reason } | GateInput::SendBackRelease { reason } => {
            vec![text(L::Reason, &reason)]
        }
        GateInput::SubmitForTest { changes, reference } => {
            vec![text(L::Changes, &changes), text(L::Reference, &reference)]
        }
        GateInput::TestPass { notes } | GateInput::RegressionPass { notes } => vec![text(L::TestNotes, &notes)],
        GateInput::TestFail { defect } | GateInput::RegressionFail { defect } => vec![text(L::Defect, &defect)],
        GateInput::ApproveRelease { note } => vec![text(L::Note, &note)],
        GateInput::MarkReleased { version, deployed_at } => {
            vec![text(L::Release, &version), detail(L::DeployedAt, Value::Time(deployed_at))]
        }
        GateInput::ConfirmFollowup { reply, confirmation } => {
            vec![detail(L::Confirmation, Value::Confirmation(confirmation)), text(L::Reply, &reply)]
        }
        GateInput::SendReport { summary, measures, recipients, .. } => {
            let mut out = vec![text(L::Summary, &summary)];
            out.extend(measures.into_iter().map(|m| detail(L::Measure, Value::Measure(m))));
            out.push(text(L::Recipients, &recipients.join(", ")));
            out
        }
    }
}

/// The fields of a report, a claim, a reassignment or an intake delivery.
#[derive(Deserialize)]
struct OtherFields {
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    channel: Option<Channel>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    user_id: Option<i64>,
    #[serde(default)]
    from: Option<i64>,
    #[serde(default)]
    to: Option<i64>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    reporter_name: String,
    #[serde(default)]
    reporter_contact: String,
    #[serde(default)]
    external_ref: String,
    #[serde(default)]
    spent_seconds: Option<i64>,
    #[serde(default)]
    target_seconds: Option<i64>,
    #[serde(default)]
    notified: Vec<i64>,
}

/// The labelled values of one entry, given its action and stored fields. Fields that do not
/// decode (a format older than this code) give no values rather than raw JSON.
pub fn details(action: TimelineAction, fields: &str) -> Vec<Detail> {
    use Label as L;
    let list = match action {
        TimelineAction::Gate(_) => match serde_json::from_str::<GateInput>(fields) {
            Ok(input) => gate_details(input),
            Err(_) => Vec::new(),
        },
        other => {
            let Ok(f) = serde_json::from_str::<OtherFields>(fields) else {
                return Vec::new();
            };
            let reporter = [f.reporter_name.trim(), f.reporter_contact.trim()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" · ");
            match other {
                TimelineAction::Create => vec![
                    f.severity.and_then(|s| detail(L::Severity, Value::Severity(s))),
                    f.channel.and_then(|c| detail(L::Channel, Value::Channel(c))),
                    text(L::Reporter, &reporter),
                    text(L::ExternalRef, &f.external_ref),
                ],
                TimelineAction::Intake => vec![
                    text(L::Source, &f.source),
                    text(L::Reporter, &reporter),
                    text(L::ExternalRef, &f.external_ref),
                ],
                TimelineAction::Claim => vec![
                    f.role.and_then(|r| detail(L::Role, Value::Role(r))),
                    f.user_id.and_then(|id| detail(L::OwnerAfter, Value::User(Some(id)))),
                ],
                TimelineAction::Reassign => vec![
                    f.role.and_then(|r| detail(L::Role, Value::Role(r))),
                    detail(L::OwnerBefore, Value::User(f.from)),
                    detail(L::OwnerAfter, Value::User(f.to)),
                    text(L::Reason, &f.reason),
                ],
                TimelineAction::Pause => vec![text(L::Reason, &f.reason)],
                TimelineAction::Resume => Vec::new(),
                TimelineAction::ClockReminder | TimelineAction::ClockBreach | TimelineAction::ClockEscalation => {
                    let mut out = vec![
                        f.spent_seconds.and_then(|s| detail(L::TimeUsed, Value::Span(s))),
                        f.target_seconds.and_then(|s| detail(L::Target, Value::Span(s))),
                    ];
                    out.extend(f.notified.iter().map(|id| detail(L::Notified, Value::User(Some(*id)))));
                    out
                }
                TimelineAction::Gate(_) => unreachable!("handled above"),
            }
        }
    };
    list.into_iter().flatten().collect()
}

/// The user ids an entry's values name (to look their names up once per page).
pub fn users_named(details: &[Detail]) -> impl Iterator<Item = i64> + '_ {
    details.iter().filter_map(|d| match &d.value {
        Value::User(id) => *id,
        Value::Measure(m) => Some(m.owner_id),
        _ => None,
    })
}

/// A verdict given in the current solution review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerdictSeen {
    /// Who gave it.
    pub by: Option<Person>,
    /// Optimal or not.
    pub optimal: bool,
    /// When (RFC 3339).
    pub at: String,
    /// With a not-optimal PM verdict: the pool item proposed (title, the optimal solution).
    pub pool: Option<(String, String)>,
}

/// The PM's and the dev's latest verdicts on the proposal under review, from a timeline that is
/// newest first. A new proposal or a send-back starts a fresh review, so older verdicts do not
/// count.
pub fn current_verdicts(timeline: &[TimelineEntry]) -> (Option<VerdictSeen>, Option<VerdictSeen>) {
    let (mut pm, mut dev) = (None, None);
    for entry in timeline {
        let slot = match entry.action {
            TimelineAction::Gate(ActionKind::Propose | ActionKind::SendBackSolution) => break,
            TimelineAction::Gate(ActionKind::VerdictPm) => &mut pm,
            TimelineAction::Gate(ActionKind::VerdictDev) => &mut dev,
            _ => continue,
        };
        let Some(optimal) = entry.details.iter().find_map(|d| match d.value {
            Value::Verdict(optimal) => Some(optimal),
            _ => None,
        }) else {
            continue;
        };
        let text_of = |label| {
            entry.details.iter().find_map(|d| match &d.value {
                Value::Text(t) if d.label == label => Some(t.clone()),
                _ => None,
            })
        };
        let pool = text_of(Label::PoolTitle).map(|title| (title, text_of(Label::PoolDescription).unwrap_or_default()));
        if slot.is_none() {
            *slot = Some(VerdictSeen { by: entry.actor.clone(), optimal, at: entry.at.clone(), pool });
        }
    }
    (pm, dev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::rules::Stage;

    fn entry(action: ActionKind, by: &str, at: &str, fields: serde_json::Value) -> TimelineEntry {
        TimelineEntry {
            at: at.to_owned(),
            actor: Some(Person { id: by.len() as i64, name: by.to_owned() }),
            role: "pm".to_owned(),
            action: TimelineAction::Gate(action),
            from: Stage::SolutionReview,
            to: Stage::SolutionReview,
            details: details(TimelineAction::Gate(action), &fields.to_string()),
        }
    }

    #[test]
    fn a_not_optimal_pm_verdict_shows_the_verdict_then_the_pool_item() {
        let fields = r#"{"action":"verdict_pm","optimal":false,"pool":{"title":"Cache prices","description":"Rework the cache","priority":"p2"}}"#;
        let got = details(TimelineAction::Gate(ActionKind::VerdictPm), fields);
        assert_eq!(
            got,
            vec![
                Detail { label: Label::Verdict, value: Value::Verdict(false) },
                Detail { label: Label::PoolTitle, value: Value::Text("Cache prices".into()) },
                Detail { label: Label::PoolDescription, value: Value::Text("Rework the cache".into()) },
            ]
        );
    }

    #[test]
    fn values_are_typed_ordered_and_empty_texts_are_left_out() {
        let fields = r#"{"action":"confirm_followup","reply":"It works now","confirmation":"confirmed"}"#;
        let got = details(TimelineAction::Gate(ActionKind::ConfirmFollowup), fields);
        assert_eq!(got[0].value, Value::Confirmation(UserConfirmation::Confirmed));
        assert_eq!(got[1], Detail { label: Label::Reply, value: Value::Text("It works now".into()) });

        let fields = r#"{"action":"dispatch","dev_id":7,"qa_id":9,"note":"  "}"#;
        let got = details(TimelineAction::Gate(ActionKind::Dispatch), fields);
        assert_eq!(got.iter().map(|d| d.label).collect::<Vec<_>>(), vec![Label::Dev, Label::Qa]);
        assert_eq!(users_named(&got).collect::<Vec<_>>(), vec![7, 9]);
    }

    #[test]
    fn a_report_entry_names_severity_and_channel_and_a_reassignment_both_owners() {
        let fields = r#"{"title":"t","description":"d","severity":"p1","channel":"sms","reporter_name":"Ann","reporter_contact":"","external_ref":""}"#;
        let got = details(TimelineAction::Create, fields);
        assert_eq!(got[0].value, Value::Severity(Severity::P1));
        assert_eq!(got[1].value, Value::Channel(Channel::Sms));
        assert_eq!(got[2], Detail { label: Label::Reporter, value: Value::Text("Ann".into()) });

        let fields = r#"{"role":"dev","from":3,"to":4,"reason":"on leave"}"#;
        let got = details(TimelineAction::Reassign, fields);
        let labels: Vec<_> = got.iter().map(|d| d.label).collect();
        assert_eq!(labels, vec![Label::Role, Label::OwnerBefore, Label::OwnerAfter, Label::Reason]);
        assert_eq!(users_named(&got).collect::<Vec<_>>(), vec![3, 4]);
    }

    #[test]
    fn a_clock_notice_shows_the_time_used_the_target_and_who_was_told() {
        let fields = r#"{"spent_seconds":5400,"target_seconds":7200,"notified":[4,9]}"#;
        let got = details(TimelineAction::ClockReminder, fields);
        assert_eq!(got[0], Detail { label: Label::TimeUsed, value: Value::Span(5400) });
        assert_eq!(got[1], Detail { label: Label::Target, value: Value::Span(7200) });
        assert_eq!(users_named(&got).collect::<Vec<_>>(), vec![4, 9]);
        let got = details(TimelineAction::Pause, r#"{"reason":"waiting for the user's screenshot"}"#);
        assert_eq!(
            got,
            vec![Detail { label: Label::Reason, value: Value::Text("waiting for the user's screenshot".into()) }]
        );
    }

    #[test]
    fn fields_that_do_not_decode_show_nothing_rather_than_json() {
        assert!(details(TimelineAction::Gate(ActionKind::TestFail), r#"{"action":"test_fail"}"#).is_empty());
        assert!(details(TimelineAction::Claim, "not json").is_empty());
    }

    #[test]
    fn current_verdicts_stop_at_the_latest_proposal() {
        // Newest first: dev says optimal after the PM said not optimal; an older review is ignored.
        let timeline = vec![
            entry(
                ActionKind::VerdictDev,
                "Li Wei",
                "2026-11-30T10:05:00Z",
                serde_json::json!({"action":"verdict_dev","optimal":true}),
            ),
            entry(
                ActionKind::VerdictPm,
                "Peter",
                "2026-11-30T10:00:00Z",
                serde_json::json!({"action":"verdict_pm","optimal":false,"pool":{"title":"Cache","description":"Rework","priority":"p2"}}),
            ),
            entry(
                ActionKind::Propose,
                "Li Wei",
                "2026-11-30T09:00:00Z",
                serde_json::json!({"action":"propose","root_cause":"a","solution":"b"}),
            ),
            entry(
                ActionKind::VerdictPm,
                "Peter",
                "2026-11-29T09:00:00Z",
                serde_json::json!({"action":"verdict_pm","optimal":true}),
            ),
        ];
        let (pm, dev) = current_verdicts(&timeline);
        let pm = pm.expect("the PM's verdict");
        assert!(!pm.optimal);
        assert_eq!(pm.by.unwrap().name, "Peter");
        assert_eq!(pm.pool, Some(("Cache".to_owned(), "Rework".to_owned())));
        let dev = dev.expect("the dev's verdict");
        assert!(dev.optimal);
        assert_eq!(dev.at, "2026-11-30T10:05:00Z");

        let (pm, dev) = current_verdicts(&timeline[2..]);
        assert_eq!((pm, dev), (None, None), "a new proposal clears the review");
    }
}
