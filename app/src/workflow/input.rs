//! What each gate action carries, with its validation. Shared, so the browser can mirror the
//! checks; the server always runs them.

use serde::{Deserialize, Serialize};

use super::rules::{ActionKind, Refusal};
use crate::error::FieldProblem;
use crate::pool::PoolDraft;

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

impl UserConfirmation {
    /// The stored and submitted name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserConfirmation::Confirmed => "confirmed",
            UserConfirmation::NoAnswer => "no_answer",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(name: &str) -> Option<Self> {
        [UserConfirmation::Confirmed, UserConfirmation::NoAnswer].into_iter().find(|c| c.as_str() == name)
    }
}

/// Most prevention measures one report may hold.
pub const MAX_MEASURES: usize = 50;

/// Most extra recipients one report may have.
pub const MAX_RECIPIENTS: usize = 100;

/// The form field of part `part` (`text`, `owner_id`, `due`) of measure `index`:
/// `measures[0][due]`, as the report form names it, so a refusal appears under that row.
pub fn measure_field(index: usize, part: &str) -> String {
    format!("measures[{index}][{part}]")
}

/// One row of the report form's measures as submitted: every part text, since rows may be left
/// empty (an empty row is dropped) and a half-filled one must be refused under its own fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureRow {
    /// What will be done.
    #[serde(default)]
    pub text: String,
    /// The owner's user id.
    #[serde(default)]
    pub owner_id: String,
    /// Due date, `YYYY-MM-DD`.
    #[serde(default)]
    pub due: String,
}

/// The measures of the report form's rows: empty rows dropped, each other row complete, with a
/// real owner id and a due date no earlier than `today` (year, month, day in the user's zone).
/// A refusal names the row's field (`measures[2][due]`).
pub fn measures_from_rows(rows: Vec<MeasureRow>, today: (i32, u32, u32)) -> Result<Vec<Measure>, Refusal> {
    let refuse = |i: usize, part: &str, problem| Refusal::Invalid { field: measure_field(i, part), problem };
    let mut measures = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let (text, owner, due) = (row.text.trim(), row.owner_id.trim(), row.due.trim());
        if text.is_empty() && owner.is_empty() && due.is_empty() {
            continue;
        }
        if text.is_empty() {
            return Err(refuse(i, "text", FieldProblem::Required));
        }
        if crate::text::forbidden_char(text).is_some() {
            return Err(refuse(i, "text", FieldProblem::ControlCharacter));
        }
        let owner_id = match owner.parse::<i64>() {
            Ok(id) => id,
            Err(_) if owner.is_empty() => return Err(refuse(i, "owner_id", FieldProblem::Required)),
            Err(_) => return Err(refuse(i, "owner_id", FieldProblem::InvalidChoice)),
        };
        match parse_date(due) {
            None if due.is_empty() => return Err(refuse(i, "due", FieldProblem::Required)),
            None => return Err(refuse(i, "due", FieldProblem::InvalidDate)),
            Some(date) if date < today => return Err(refuse(i, "due", FieldProblem::InPast)),
            Some(_) => {}
        }
        measures.push(Measure { text: text.to_owned(), owner_id, due: due.to_owned() });
    }
    if measures.is_empty() {
        return Err(refuse(0, "text", FieldProblem::Required));
    }
    Ok(measures)
}

/// The addresses of the report form's recipients field: one per line, or separated by commas,
/// semicolons or spaces (full-width ones too); repeats dropped, case-insensitively.
pub fn recipient_list(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for address in text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '，' | '；' | '、')) {
        if !address.is_empty() && !out.iter().any(|a| a.eq_ignore_ascii_case(address)) {
            out.push(address.to_owned());
        }
    }
    out
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
        /// When it was deployed, `YYYY-MM-DDTHH:MM` in UTC (see [`parse_date_time`]).
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
        /// The language the report is written in; `None`: the PM's preferred language.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<crate::i18n::Locale>,
    },
}

/// Checks a text field: present when `required`, at most `max` characters.
pub(crate) fn text(field: &str, value: &str, max: usize, required: bool) -> Result<(), Refusal> {
    let invalid = |problem| Err(Refusal::Invalid { field: field.to_owned(), problem });
    if required && value.trim().is_empty() {
        return invalid(FieldProblem::Required);
    }
    if value.chars().count() > max {
        return invalid(FieldProblem::TooLong(max));
    }
    if crate::text::forbidden_char(value).is_some() {
        return invalid(FieldProblem::ControlCharacter);
    }
    Ok(())
}

/// A calendar date `YYYY-MM-DD` that exists (no 31 February), as (year, month, day).
pub fn parse_date(value: &str) -> Option<(i32, u32, u32)> {
    let b = value.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        value.get(r).filter(|p| p.bytes().all(|c| c.is_ascii_digit()))?.parse().ok()
    };
    let (year, month, day) = (i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days).contains(&day).then_some((year, month, day))
}

/// A date and time `YYYY-MM-DDTHH:MM[:SS][Z]` (what a `datetime-local` field sends, in UTC) that
/// exists, as (year, month, day, hour, minute, second).
pub fn parse_date_time(value: &str) -> Option<(i32, u32, u32, u32, u32, u32)> {
    let value = value.trim().strip_suffix('Z').unwrap_or(value.trim());
    let (date, time) = value.split_once(['T', ' '])?;
    let (year, month, day) = parse_date(date)?;
    let mut parts = time.split(':');
    let mut next = |max: u32| -> Option<u32> {
        let p = parts.next()?;
        (p.len() == 2 && p.bytes().all(|c| c.is_ascii_digit())).then(|| p.parse().ok()).flatten().filter(|v| *v <= max)
    };
    let (hour, minute) = (next(23)?, next(59)?);
    let second = if time.len() > 5 { next(59)? } else { 0 };
    parts.next().is_none().then_some((year, month, day, hour, minute, second))
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
            GateInput::VerdictPm { pool, .. } => pool.as_ref().map_or(Ok(()), PoolDraft::validate),
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
                text("deployed_at", deployed_at, MAX_SHORT, true)?;
                match parse_date_time(deployed_at) {
                    Some(_) => Ok(()),
                    None => Err(Refusal::Invalid { field: "deployed_at".into(), problem: FieldProblem::InvalidDate }),
                }
            }
            GateInput::ConfirmFollowup { reply, .. } => text("reply", reply, MAX_TEXT, true),
            GateInput::SendReport { summary, measures, recipients, .. } => {
                text("summary", summary, MAX_TEXT, true)?;
                if measures.is_empty() {
                    return Err(Refusal::Invalid { field: "measures".into(), problem: FieldProblem::Required });
                }
                if measures.len() > MAX_MEASURES {
                    return Err(Refusal::Invalid {
                        field: "measures".into(),
                        problem: FieldProblem::TooLong(MAX_MEASURES),
                    });
                }
                for (i, m) in measures.iter().enumerate() {
                    text(&measure_field(i, "text"), &m.text, MAX_TEXT, true)?;
                    if parse_date(&m.due).is_none() {
                        return Err(Refusal::Invalid {
                            field: measure_field(i, "due"),
                            problem: FieldProblem::InvalidDate,
                        });
                    }
                }
                if recipients.len() > MAX_RECIPIENTS {
                    return Err(Refusal::Invalid {
                        field: "recipients".into(),
                        problem: FieldProblem::TooLong(MAX_RECIPIENTS),
                    });
                }
                let wrong: Vec<String> =
                    recipients.iter().filter(|r| crate::users::validate::email(r).is_err()).cloned().collect();
                if !wrong.is_empty() {
                    return Err(Refusal::Invalid {
                        field: "recipients".into(),
                        problem: FieldProblem::InvalidAddresses(wrong),
                    });
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
    fn control_characters_are_refused_under_the_field_that_holds_them() {
        let nul = GateInput::SubmitForTest { changes: "ok\tfine\n".into(), reference: "PR\u{0}1".into() };
        assert_eq!(
            nul.validate(),
            Err(Refusal::Invalid { field: "reference".into(), problem: FieldProblem::ControlCharacter })
        );
        let row = MeasureRow { text: "a\u{1b}b".into(), owner_id: "1".into(), due: "2099-01-01".into() };
        assert_eq!(
            measures_from_rows(vec![row], (2026, 1, 1)),
            Err(Refusal::Invalid { field: measure_field(0, "text"), problem: FieldProblem::ControlCharacter })
        );
    }

    #[test]
    fn a_report_needs_a_measure_with_a_real_date_and_valid_recipients() {
        let report = |measures: Vec<Measure>, recipients: Vec<String>| GateInput::SendReport {
            summary: "s".into(),
            measures,
            recipients,
            language: None,
        };
        let m = |due: &str| Measure { text: "add an alert".into(), owner_id: 1, due: due.into() };
        assert!(report(vec![], vec![]).validate().is_err());
        assert_eq!(
            report(vec![m("2026-12-01"), m("2026-13-01")], vec![]).validate(),
            Err(Refusal::Invalid { field: "measures[1][due]".into(), problem: FieldProblem::InvalidDate }),
            "the refusal names the row"
        );
        assert!(report(vec![m("2026-02-31")], vec![]).validate().is_err(), "31 February does not exist");
        assert!(report(vec![m("2027-02-29")], vec![]).validate().is_err(), "2027 is not a leap year");
        assert_eq!(report(vec![m("2028-02-29")], vec![]).validate(), Ok(()));
        assert_eq!(
            report(vec![m("2026-12-01")], vec!["a@example.com".into(), "not an email".into(), "b@".into()]).validate(),
            Err(Refusal::Invalid {
                field: "recipients".into(),
                problem: FieldProblem::InvalidAddresses(vec!["not an email".into(), "b@".into()])
            }),
            "every wrong address is named"
        );
        assert_eq!(report(vec![m("2026-12-01")], vec!["cto@example.com".into()]).validate(), Ok(()));
    }

    #[test]
    fn report_form_rows_become_measures_and_refusals_name_the_row() {
        let row = |text: &str, owner: &str, due: &str| MeasureRow {
            text: text.into(),
            owner_id: owner.into(),
            due: due.into(),
        };
        let today = (2026, 12, 1);
        let field = |e: Refusal| match e {
            Refusal::Invalid { field, problem } => (field, problem),
            other => panic!("{other:?}"),
        };
        let ok = measures_from_rows(
            vec![row("alert", "4", "2026-12-01"), row("", "", ""), row(" docs ", "5", "2027-01-02")],
            today,
        );
        assert_eq!(
            ok.unwrap(),
            vec![
                Measure { text: "alert".into(), owner_id: 4, due: "2026-12-01".into() },
                Measure { text: "docs".into(), owner_id: 5, due: "2027-01-02".into() },
            ],
            "empty rows are dropped, today is allowed"
        );
        assert_eq!(
            field(measures_from_rows(vec![row("", "", "")], today).unwrap_err()),
            ("measures[0][text]".into(), FieldProblem::Required)
        );
        let half = vec![row("a", "4", "2026-12-02"), row("b", "", "2026-12-02")];
        assert_eq!(
            field(measures_from_rows(half, today).unwrap_err()),
            ("measures[1][owner_id]".into(), FieldProblem::Required)
        );
        let past = vec![row("a", "4", "2026-11-30")];
        assert_eq!(
            field(measures_from_rows(past, today).unwrap_err()),
            ("measures[0][due]".into(), FieldProblem::InPast)
        );
        let owner = vec![row("a", "x", "2026-12-02")];
        assert_eq!(
            field(measures_from_rows(owner, today).unwrap_err()),
            ("measures[0][owner_id]".into(), FieldProblem::InvalidChoice)
        );
        let text = vec![row("", "4", "2026-12-02")];
        assert_eq!(
            field(measures_from_rows(text, today).unwrap_err()),
            ("measures[0][text]".into(), FieldProblem::Required)
        );
    }

    #[test]
    fn recipients_may_be_listed_one_per_line_or_separated() {
        assert_eq!(
            recipient_list("a@example.com\n b@example.com, c@example.com；A@example.com\r\n\n"),
            vec!["a@example.com", "b@example.com", "c@example.com"]
        );
        assert!(recipient_list("  \n ").is_empty());
    }

    #[test]
    fn a_release_needs_a_deploy_time_that_exists() {
        let released = |at: &str| GateInput::MarkReleased { version: "1.2.3".into(), deployed_at: at.into() };
        for bad in [
            "yesterday",
            "2026-11-31T10:00",
            "2026-11-30T24:00",
            "2026-11-30T10:60",
            "2026-11-30",
            "2026-11-30T10:00:00:00",
        ] {
            assert_eq!(
                released(bad).validate(),
                Err(Refusal::Invalid { field: "deployed_at".into(), problem: FieldProblem::InvalidDate }),
                "{bad}"
            );
        }
        assert_eq!(parse_date_time("2026-11-30T10:15"), Some((2026, 11, 30, 10, 15, 0)));
        assert_eq!(parse_date_time("2026-11-30T10:15:07Z"), Some((2026, 11, 30, 10, 15, 7)));
    }

    #[test]
    fn names_parse() {
        assert_eq!(Severity::parse("P1"), Some(Severity::P1));
        assert_eq!(Channel::parse("feedback_system"), Some(Channel::FeedbackSystem));
        assert_eq!(Channel::parse("pigeon"), None);
    }
}
