//! What each gate action carries, with its validation. Shared, so the browser can mirror the
//! checks; the server always runs them.

use serde::{Deserialize, Serialize};

use super::rules::{ActionKind, Refusal};
use crate::error::FieldProblem;

/// Longest free text of a gate action, in characters.
pub const MAX_TEXT: usize = 10_000;
/// Longest short field (title, version, reference), in characters.
pub const MAX_SHORT: usize = 200;

/// Severity of an incident, or priority of a pool item: P0 is the most urgent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Production down or data at risk.
    P0,
    /// Major feature broken.
    P1,
    /// Degraded, with a workaround.
    P2,
    /// Minor.
    P3,
}

impl Severity {
    /// Every level, most urgent first.
    pub const ALL: [Severity; 4] = [Severity::P0, Severity::P1, Severity::P2, Severity::P3];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::P0 => "p0",
            Severity::P1 => "p1",
            Severity::P2 => "p2",
            Severity::P3 => "p3",
        }
    }

    /// Parses a stored or submitted name (`p0` or `P0`).
    pub fn parse(name: &str) -> Option<Self> {
        Severity::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// How the report reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email.
    Email,
    /// Text message.
    Sms,
    /// The feedback system's notification.
    FeedbackSystem,
    /// A phone call.
    Phone,
    /// Anything else.
    Other,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 5] =
        [Channel::Email, Channel::Sms, Channel::FeedbackSystem, Channel::Phone, Channel::Other];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::FeedbackSystem => "feedback_system",
            Channel::Phone => "phone",
            Channel::Other => "other",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(name: &str) -> Option<Self> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name.trim())
    }
}

/// A new incident as ops (or intake) reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIncident {
    /// Short summary.
    pub title: String,
    /// What the user reported.
    pub description: String,
    /// How urgent.
    pub severity: Severity,
    /// How it reached us.
    pub channel: Channel,
    /// Who reported it.
    pub reporter_name: String,
    /// How to reach them (email, phone).
    pub reporter_contact: String,
    /// Reference in the source system (ticket number, message id).
    pub external_ref: String,
}

/// The user's answer when ops follows up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserConfirmation {
    /// The user confirmed the problem is gone.
    Confirmed,
    /// The user did not answer.
    NoAnswer,
}

/// The optimal solution, parked in the requirement pool by the PM's not-optimal verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolDraft {
    /// Item title.
    pub title: String,
    /// The optimal solution.
    pub description: String,
    /// Priority.
    pub priority: Severity,
}

/// One prevention measure of the report: what, who, by when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measure {
    /// What will be done.
    pub text: String,
    /// The user responsible.
    pub owner_id: i64,
    /// Due date, `YYYY-MM-DD`.
    pub due: String,
}

/// A gate action with its fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum GateInput {
    /// Not technical: the reply sent to the user.
    TriageNonTechnical {
        /// The reply text.
        reply: String,
    },
    /// Technical: the PM it goes to.
    TriageTechnical {
        /// Chosen PM.
        pm_id: i64,
        /// Note for the PM.
        note: String,
    },
    /// Dev and QA owners.
    Dispatch {
        /// Dev owner.
        dev_id: i64,
        /// QA owner.
        qa_id: i64,
        /// Note for them.
        note: String,
    },
    /// The proposal.
    Propose {
        /// Root cause.
        root_cause: String,
        /// Proposed solution.
        solution: String,
    },
    /// The PM's verdict; a not-optimal one carries the pool item.
    VerdictPm {
        /// Optimal or not.
        optimal: bool,
        /// The optimal solution for the pool.
        pool: Option<PoolDraft>,
    },
    /// Dev's verdict.
    VerdictDev {
        /// Optimal or not.
        optimal: bool,
    },
    /// Back to investigation.
    SendBackSolution {
        /// Why.
        reason: String,
    },
    /// Fix done.
    SubmitForTest {
        /// What changed.
        changes: String,
        /// Commit, PR or build.
        reference: String,
    },
    /// Tests pass.
    TestPass {
        /// Test notes.
        notes: String,
    },
    /// A defect.
    TestFail {
        /// The defect.
        defect: String,
    },
    /// Release approved.
    ApproveRelease {
        /// Optional note.
        note: String,
    },
    /// Back to fixing.
    SendBackRelease {
        /// Why.
        reason: String,
    },
    /// Released.
    MarkReleased {
        /// Release version.
        version: String,
        /// Deploy time as given.
        deployed_at: String,
    },
    /// Regression passes.
    RegressionPass {
        /// Notes.
        notes: String,
    },
    /// Regression fails.
    RegressionFail {
        /// The defect.
        defect: String,
    },
    /// The user was answered.
    ConfirmFollowup {
        /// Reply sent to the user.
        reply: String,
        /// Their confirmation.
        confirmation: UserConfirmation,
    },
    /// The result report.
    SendReport {
        /// Summary.
        summary: String,
        /// Prevention measures (at least one).
        measures: Vec<Measure>,
        /// Extra recipients' email addresses.
        recipients: Vec<String>,
    },
}

fn text(field: &str, value: &str, max: usize, required: bool) -> Result<(), Refusal> {
    let invalid = |problem| Err(Refusal::Invalid { field: field.to_owned(), problem });
    if required && value.trim().is_empty() {
        return invalid(FieldProblem::Required);
    }
    if value.chars().count() > max {
        return invalid(FieldProblem::TooLong(max));
    }
    Ok(())
}

fn is_date(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && parts[1].len() == 2
        && parts[2].len() == 2
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
        && (1..=12).contains(&parts[1].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&parts[2].parse::<u32>().unwrap_or(0))
}

impl NewIncident {
    /// Checks the fields of a new incident.
    pub fn validate(&self) -> Result<(), Refusal> {
        text("title", &self.title, MAX_SHORT, true)?;
        text("description", &self.description, MAX_TEXT, true)?;
        text("reporter_name", &self.reporter_name, MAX_SHORT, false)?;
        text("reporter_contact", &self.reporter_contact, MAX_SHORT, false)?;
        text("external_ref", &self.external_ref, MAX_SHORT, false)
    }
}

impl GateInput {
    /// The action this input is for.
    pub fn kind(&self) -> ActionKind {
        match self {
            GateInput::TriageNonTechnical { .. } => ActionKind::TriageNonTechnical,
            GateInput::TriageTechnical { .. } => ActionKind::TriageTechnical,
            GateInput::Dispatch { .. } => ActionKind::Dispatch,
            GateInput::Propose { .. } => ActionKind::Propose,
            GateInput::VerdictPm { .. } => ActionKind::VerdictPm,
            GateInput::VerdictDev { .. } => ActionKind::VerdictDev,
            GateInput::SendBackSolution { .. } => ActionKind::SendBackSolution,
            GateInput::SubmitForTest { .. } => ActionKind::SubmitForTest,
            GateInput::TestPass { .. } => ActionKind::TestPass,
            GateInput::TestFail { .. } => ActionKind::TestFail,
            GateInput::ApproveRelease { .. } => ActionKind::ApproveRelease,
            GateInput::SendBackRelease { .. } => ActionKind::SendBackRelease,
            GateInput::MarkReleased { .. } => ActionKind::MarkReleased,
            GateInput::RegressionPass { .. } => ActionKind::RegressionPass,
            GateInput::RegressionFail { .. } => ActionKind::RegressionFail,
            GateInput::ConfirmFollowup { .. } => ActionKind::ConfirmFollowup,
            GateInput::SendReport { .. } => ActionKind::SendReport,
        }
    }

    /// The verdict carried, for verdict actions.
    pub fn optimal(&self) -> Option<bool> {
        match self {
            GateInput::VerdictPm { optimal, .. } | GateInput::VerdictDev { optimal } => Some(*optimal),
            _ => None,
        }
    }

    /// Checks the fields: required ones present, lengths within limits, formats right.
    pub fn validate(&self) -> Result<(), Refusal> {
        match self {
            GateInput::TriageNonTechnical { reply } => text("reply", reply, MAX_TEXT, true),
            GateInput::TriageTechnical { note, .. } => text("note", note, MAX_TEXT, false),
            GateInput::Dispatch { note, .. } => text("note", note, MAX_TEXT, false),
            GateInput::Propose { root_cause, solution } => {
                text("root_cause", root_cause, MAX_TEXT, true)?;
                text("solution", solution, MAX_TEXT, true)
            }
            GateInput::VerdictPm { pool, .. } => match pool {
                Some(p) => {
                    text("pool_title", &p.title, MAX_SHORT, true)?;
                    text("pool_description", &p.description, MAX_TEXT, true)
                }
                None => Ok(()),
            },
            GateInput::VerdictDev { .. } => Ok(()),
            GateInput::SendBackSolution { reason } | GateInput::SendBackRelease { reason } => {
                text("reason", reason, MAX_TEXT, true)
            }
            GateInput::SubmitForTest { changes, reference } => {
                text("changes", changes, MAX_TEXT, true)?;
                text("reference", reference, MAX_SHORT, true)
            }
            GateInput::TestPass { notes } | GateInput::RegressionPass { notes } => {
                text("notes", notes, MAX_TEXT, false)
            }
            GateInput::TestFail { defect } | GateInput::RegressionFail { defect } => {
                text("defect", defect, MAX_TEXT, true)
            }
            GateInput::ApproveRelease { note } => text("note", note, MAX_TEXT, false),
            GateInput::MarkReleased { version, deployed_at } => {
                text("version", version, MAX_SHORT, true)?;
                text("deployed_at", deployed_at, MAX_SHORT, true)
            }
            GateInput::ConfirmFollowup { reply, .. } => text("reply", reply, MAX_TEXT, true),
            GateInput::SendReport { summary, measures, recipients } => {
                text("summary", summary, MAX_TEXT, true)?;
                if measures.is_empty() {
                    return Err(Refusal::Invalid { field: "measures".into(), problem: FieldProblem::Required });
                }
                if measures.len() > 50 {
                    return Err(Refusal::Invalid { field: "measures".into(), problem: FieldProblem::TooLong(50) });
                }
                for m in measures {
                    text("measure_text", &m.text, MAX_TEXT, true)?;
                    if !is_date(&m.due) {
                        return Err(Refusal::Invalid {
                            field: "measure_due".into(),
                            problem: FieldProblem::InvalidChoice,
                        });
                    }
                }
                if recipients.len() > 100 {
                    return Err(Refusal::Invalid { field: "recipients".into(), problem: FieldProblem::TooLong(100) });
                }
                for r in recipients {
                    if crate::users::validate::email(r).is_err() {
                        return Err(Refusal::Invalid {
                            field: "recipients".into(),
                            problem: FieldProblem::InvalidEmail,
                        });
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_and_overlong_fields_are_refused_with_their_name() {
        let propose = GateInput::Propose { root_cause: " ".into(), solution: "x".into() };
        assert_eq!(
            propose.validate(),
            Err(Refusal::Invalid { field: "root_cause".into(), problem: FieldProblem::Required })
        );
        let long = GateInput::TestFail { defect: "长".repeat(MAX_TEXT + 1) };
        assert_eq!(
            long.validate(),
            Err(Refusal::Invalid { field: "defect".into(), problem: FieldProblem::TooLong(MAX_TEXT) })
        );
        let html = GateInput::TestFail { defect: "<script>alert(1)</script>'; DROP TABLE incidents; --".into() };
        assert_eq!(html.validate(), Ok(()), "text is stored verbatim, never interpreted");
    }

    #[test]
    fn a_report_needs_a_measure_with_a_real_date_and_valid_recipients() {
        let report = |measures: Vec<Measure>, recipients: Vec<String>| GateInput::SendReport {
            summary: "s".into(),
            measures,
            recipients,
        };
        let m = |due: &str| Measure { text: "add an alert".into(), owner_id: 1, due: due.into() };
        assert!(report(vec![], vec![]).validate().is_err());
        assert!(report(vec![m("2026-13-01")], vec![]).validate().is_err());
        assert!(report(vec![m("2026-12-01")], vec!["not an email".into()]).validate().is_err());
        assert_eq!(report(vec![m("2026-12-01")], vec!["cto@example.com".into()]).validate(), Ok(()));
    }

    #[test]
    fn names_parse() {
        assert_eq!(Severity::parse("P1"), Some(Severity::P1));
        assert_eq!(Channel::parse("feedback_system"), Some(Channel::FeedbackSystem));
        assert_eq!(Channel::parse("pigeon"), None);
    }
}
