//! The clock settings: shipped defaults, the settings form read and checked, storage in the
//! `settings` table (one JSON document, read inside each transaction that starts a clock, so every
//! instance uses the same targets), and the working-hours calendar they describe.
//!
//! Defaults follow the response and resolution targets of common P1–P4 priority matrices (ITIL
//! incident management, and the on-call targets of incident tools): an urgent bug (P0) is
//! triaged within 15 minutes and the whole route to a released fix fits in about a working day,
//! counted around the clock; a minor one (P3) is counted in working hours only and has a few
//! working days per step. Stages that wait on a person's decision (triage, dispatch, reviews) get
//! short targets, stages that do the work (investigating, fixing, testing) longer ones.

use std::collections::HashMap;

use super::{
    calendar::Calendar,
    clocked_stages,
    hours::{parse_days, parse_hours, Interval},
    parse_minutes, Basis, ClockPolicy, PolicyForm, LEAD_ROLES, WEEKDAYS,
};
use crate::{
    db::{Db, WriteTx},
    error::{AppError, FieldProblem},
    on_db, on_tx,
    workflow::{input::Severity, rules::Stage},
};
use chrono::{DateTime, Utc};

/// The settings key of the clock policy.
pub const POLICY_SETTING: &str = "clocks.policy";

/// Longest target accepted: 90 days.
pub const MAX_TARGET_MINUTES: u32 = 90 * 24 * 60;

/// Escalation threshold bounds, in percent of the target.
pub const ESCALATE_PERCENT: std::ops::RangeInclusive<u32> = 101..=1000;

/// The shipped targets in minutes, P0..P3, in process order of the clocked stages.
const DEFAULT_TARGETS: [(Stage, [u32; 4]); 11] = [
    (Stage::Reported, [15, 30, 4 * 60, 8 * 60]),
    (Stage::AwaitingPm, [15, 30, 4 * 60, 8 * 60]),
    (Stage::Investigating, [2 * 60, 4 * 60, 16 * 60, 40 * 60]),
    (Stage::SolutionReview, [30, 60, 4 * 60, 8 * 60]),
    (Stage::Fixing, [4 * 60, 8 * 60, 24 * 60, 80 * 60]),
    (Stage::Testing, [2 * 60, 4 * 60, 16 * 60, 40 * 60]),
    (Stage::ReleaseReview, [30, 60, 4 * 60, 8 * 60]),
    (Stage::Releasing, [60, 2 * 60, 8 * 60, 40 * 60]),
    (Stage::Verifying, [60, 2 * 60, 8 * 60, 16 * 60]),
    (Stage::UserFollowup, [2 * 60, 4 * 60, 8 * 60, 16 * 60]),
    (Stage::Reporting, [24 * 60, 48 * 60, 24 * 60, 40 * 60]),
];

/// The policy a new installation starts with.
pub fn defaults() -> ClockPolicy {
    let week_day = "09:00-12:00, 13:00-18:00".to_owned();
    ClockPolicy {
        targets: DEFAULT_TARGETS.iter().map(|(stage, row)| (*stage, row.map(Some))).collect(),
        basis: [Basis::Wall, Basis::Wall, Basis::Working, Basis::Working],
        escalate_percent: 200,
        leads: LEAD_ROLES.iter().map(|r| (*r, None)).collect(),
        zone: crate::clock::DEFAULT_ZONE.to_owned(),
        week: [
            week_day.clone(),
            week_day.clone(),
            week_day.clone(),
            week_day.clone(),
            week_day,
            String::new(),
            String::new(),
        ],
        holidays: String::new(),
        extra_working_days: String::new(),
    }
}

/// The policy in force, read inside `tx` (the defaults until an admin saved one).
pub async fn load_in(tx: &mut WriteTx) -> Result<ClockPolicy, AppError> {
    let stored: Option<String> = on_tx!(&mut *tx, conn => sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(POLICY_SETTING)
        .fetch_optional(conn)
        .await?);
    decode(stored)
}

/// The policy in force.
pub async fn load(db: &Db) -> Result<ClockPolicy, AppError> {
    let stored: Option<String> = on_db!(db, pool => sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(POLICY_SETTING)
        .fetch_optional(pool)
        .await?);
    decode(stored)
}

/// The policy of a stored document (the defaults when there is none).
pub(crate) fn decode(stored: Option<String>) -> Result<ClockPolicy, AppError> {
    match stored {
        None => Ok(defaults()),
        Some(json) => serde_json::from_str(&json)
            .map_err(|err| AppError::internal(format!("the stored clock policy does not decode: {err}"))),
    }
}

/// Stores `policy` inside `tx`; returns the one it replaces.
pub async fn store_in(tx: &mut WriteTx, policy: &ClockPolicy, now: DateTime<Utc>) -> Result<ClockPolicy, AppError> {
    let before = crate::db::settings::get_for_update(tx, POLICY_SETTING).await?;
    let before = decode(before)?;
    let json = serde_json::to_string(policy).map_err(AppError::internal)?;
    crate::db::settings::put(tx, POLICY_SETTING, &json, now).await?;
    Ok(before)
}

/// The working-hours calendar `policy` describes. A stored policy was checked when saved, so a
/// failure here means the stored document was changed by hand: it is an internal error.
pub fn calendar(policy: &ClockPolicy) -> Result<Calendar, AppError> {
    let week = week_of(policy).map_err(|(day, _)| AppError::internal(format!("stored working hours of {day}")))?;
    let holidays = parse_days(&policy.holidays).map_err(|_| AppError::internal("stored holidays"))?;
    let extra = parse_days(&policy.extra_working_days).map_err(|_| AppError::internal("stored working days"))?;
    Calendar::new(&policy.zone, week, &holidays, &extra).map_err(|_| AppError::internal("stored clock time zone"))
}

fn week_of(policy: &ClockPolicy) -> Result<[Vec<Interval>; 7], (&'static str, super::hours::HoursProblem)> {
    let mut week: [Vec<Interval>; 7] = Default::default();
    for (i, text) in policy.week.iter().enumerate() {
        week[i] = parse_hours(text).map_err(|p| (WEEKDAYS[i], p))?;
    }
    Ok(week)
}

/// The form field of a target cell.
pub fn target_field(stage: Stage, severity: Severity) -> String {
    format!("targets[{}_{}]", stage.as_str(), severity.as_str())
}

fn invalid(field: impl Into<String>, problem: FieldProblem) -> AppError {
    AppError::invalid(&field.into(), problem)
}

impl PolicyForm {
    /// Reads and checks every value; the first problem, named by its field, refuses the whole
    /// form. Users named as leads are checked against the database by the caller.
    pub fn to_policy(&self) -> Result<ClockPolicy, AppError> {
        let mut targets = Vec::new();
        for stage in clocked_stages() {
            let mut row = [None; 4];
            for (i, severity) in Severity::ALL.into_iter().enumerate() {
                let key = format!("{}_{}", stage.as_str(), severity.as_str());
                let typed = self.targets.get(&key).map(|s| s.trim()).unwrap_or_default();
                if typed.is_empty() || typed == "-" {
                    continue;
                }
                let field = target_field(stage, severity);
                let minutes = parse_minutes(typed).ok_or_else(|| invalid(&field, FieldProblem::NotDuration))?;
                if minutes == 0 || minutes > MAX_TARGET_MINUTES {
                    return Err(invalid(&field, FieldProblem::DurationRange));
                }
                row[i] = Some(minutes);
            }
            targets.push((stage, row));
        }
        let basis =
            Severity::ALL.map(|s| if self.working.contains_key(s.as_str()) { Basis::Working } else { Basis::Wall });
        let escalate_percent = self
            .escalate_percent
            .trim()
            .trim_end_matches('%')
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|p| ESCALATE_PERCENT.contains(p))
            .ok_or_else(|| invalid("escalate_percent", FieldProblem::PercentRange))?;
        let mut leads = Vec::new();
        for role in LEAD_ROLES {
            let typed = self.leads.get(role.as_str()).map(|s| s.trim()).unwrap_or_default();
            let id = if typed.is_empty() {
                None
            } else {
                Some(
                    typed
                        .parse::<i64>()
                        .map_err(|_| invalid(format!("leads[{}]", role.as_str()), FieldProblem::InvalidChoice))?,
                )
            };
            leads.push((role, id));
        }
        let zone = self.zone.trim().to_owned();
        if !crate::clock::zone::is_known(&zone) {
            return Err(invalid("zone", FieldProblem::UnknownZone));
        }
        let mut week: [String; 7] = Default::default();
        for (i, day) in WEEKDAYS.iter().enumerate() {
            let typed = self.week.get(*day).map(|s| s.trim()).unwrap_or_default();
            let intervals =
                parse_hours(typed).map_err(|_| invalid(format!("week[{day}]"), FieldProblem::NotWorkingHours))?;
            week[i] = super::hours::format_hours(&intervals);
        }
        // Working-hours targets need working hours, or their clocks would never run out.
        if basis.contains(&Basis::Working) && week.iter().all(|day| day.is_empty()) {
            return Err(invalid("week[mon]", FieldProblem::NotWorkingHours));
        }
        let days = |field: &str, text: &str| {
            parse_days(text)
                .map(|days| super::hours::format_days(&days))
                .map_err(|(line, _)| invalid(field, FieldProblem::DayLine(line)))
        };
        let holidays = days("holidays", &self.holidays)?;
        let extra_working_days = days("extra_working_days", &self.extra_working_days)?;
        Ok(ClockPolicy { targets, basis, escalate_percent, leads, zone, week, holidays, extra_working_days })
    }
}

/// Every lead named in `policy` must be an active user holding the role they lead.
pub async fn check_leads(tx: &mut WriteTx, policy: &ClockPolicy) -> Result<(), AppError> {
    for (role, id) in &policy.leads {
        if let Some(id) = id {
            let field = format!("leads[{}]", role.as_str());
            crate::workflow::engine::require_user(tx, *id, Some(*role), &field).await?;
        }
    }
    Ok(())
}

/// The form a policy is edited in (the page's starting values).
pub fn form_of(policy: &ClockPolicy) -> PolicyForm {
    let mut targets = HashMap::new();
    for (stage, row) in &policy.targets {
        for (i, severity) in Severity::ALL.into_iter().enumerate() {
            let value = row[i].map(super::format_minutes).unwrap_or_default();
            targets.insert(format!("{}_{}", stage.as_str(), severity.as_str()), value);
        }
    }
    let working = Severity::ALL
        .into_iter()
        .zip(policy.basis)
        .filter(|(_, b)| *b == Basis::Working)
        .map(|(s, _)| (s.as_str().to_owned(), "on".to_owned()))
        .collect();
    let leads = policy
        .leads
        .iter()
        .map(|(r, id)| (r.as_str().to_owned(), id.map(|i| i.to_string()).unwrap_or_default()))
        .collect();
    let week = WEEKDAYS.iter().zip(&policy.week).map(|(d, h)| ((*d).to_owned(), h.clone())).collect();
    PolicyForm {
        targets,
        working,
        escalate_percent: policy.escalate_percent.to_string(),
        leads,
        zone: policy.zone.clone(),
        week,
        holidays: policy.holidays.clone(),
        extra_working_days: policy.extra_working_days.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_survive_their_own_form_and_give_a_working_calendar() {
        let policy = defaults();
        assert_eq!(form_of(&policy).to_policy().unwrap(), policy);
        let calendar = calendar(&policy).unwrap();
        // 2026-12-07 is a Monday.
        assert!(calendar.is_working_day(chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()));
        assert!(!calendar.is_working_day(chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()));
        assert_eq!(policy.target(Stage::Reported, Severity::P0), Some(15));
        assert_eq!(policy.basis_of(Severity::P3), Basis::Working);
    }

    #[test]
    fn each_bad_value_is_refused_naming_its_field() {
        let field_of = |form: &PolicyForm| match form.to_policy() {
            Err(AppError::Invalid { field, problem }) => (field, problem),
            other => panic!("expected a refusal, got {other:?}"),
        };
        let good = form_of(&defaults());
        let mut form = good.clone();
        form.targets.insert("testing_p0".into(), "soon".into());
        assert_eq!(field_of(&form), ("targets[testing_p0]".into(), FieldProblem::NotDuration));
        form.targets.insert("testing_p0".into(), "-5m".into());
        assert_eq!(field_of(&form).1, FieldProblem::NotDuration);
        form.targets.insert("testing_p0".into(), "100d".into());
        assert_eq!(field_of(&form), ("targets[testing_p0]".into(), FieldProblem::DurationRange));
        form.targets.insert("testing_p0".into(), "0".into());
        assert_eq!(field_of(&form).1, FieldProblem::DurationRange);

        let mut form = good.clone();
        form.zone = "Mars/Olympus".into();
        assert_eq!(field_of(&form), ("zone".into(), FieldProblem::UnknownZone));

        let mut form = good.clone();
        form.week.insert("tue".into(), "9 to 5".into());
        assert_eq!(field_of(&form), ("week[tue]".into(), FieldProblem::NotWorkingHours));

        let mut form = good.clone();
        form.holidays = "2026-10-01\n2026-13-01\n".into();
        assert_eq!(field_of(&form), ("holidays".into(), FieldProblem::DayLine(2)));

        let mut form = good.clone();
        form.week.values_mut().for_each(String::clear);
        assert_eq!(field_of(&form), ("week[mon]".into(), FieldProblem::NotWorkingHours), "no working time at all");

        let mut form = good.clone();
        form.escalate_percent = "100".into();
        assert_eq!(field_of(&form), ("escalate_percent".into(), FieldProblem::PercentRange));

        let mut form = good;
        form.targets.insert("testing_p0".into(), String::new());
        assert_eq!(form.to_policy().unwrap().target(Stage::Testing, Severity::P0), None, "empty: no target");
    }
}
