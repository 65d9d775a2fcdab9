//! Stage clocks: a target time on every stage that has an owner, reminders before it runs out,
//! escalation after, and the time left shown wherever an incident is listed.
//!
//! (Not to be confused with [`crate::clock`], which shows times in the reader's zone.)
//!
//! - [`policy`]: the targets per stage and severity, how they are counted (wall-clock or working
//!   hours), the escalation contacts and the working-hours calendar; admins edit them on
//!   `/admin/clocks` ([`pages`]), every change audited with before and after.
//! - [`store`]: a clock per stay in a stage, started and stopped inside the transaction that
//!   moves the incident, paused by ops while waiting for the user.
//! - [`notices`]: the reminder at 75 % of the target, the breach at 100 % and the escalation
//!   (200 % by default), each queued once per clock in the outbox, on the timeline and in the
//!   audit log; [`scheduler`] runs them when due.
//! - [`calendar`] and [`hours`]: working-time arithmetic and the text formats admins type.

mod api;
mod pages;

#[cfg(feature = "ssr")]
pub mod calendar;
#[cfg(feature = "ssr")]
pub mod hours;
#[cfg(feature = "ssr")]
pub mod notices;
#[cfg(feature = "ssr")]
pub mod policy;
#[cfg(feature = "ssr")]
pub mod scheduler;
#[cfg(feature = "ssr")]
pub mod store;

pub use api::*;
pub use pages::{ClockBadge, ClockSettingsPage, StageTimes};

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{
    auth::Role,
    workflow::{input::Severity, rules::Stage},
};

/// How a target is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Every second counts, nights and holidays too (P0/P1 by default).
    Wall,
    /// Only the installation's working hours count (P2/P3 by default).
    Working,
}

impl Basis {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Wall => "wall",
            Basis::Working => "working",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Basis::Wall, Basis::Working].into_iter().find(|b| b.as_str() == name)
    }
}

/// The stages that have an owner, and so a clock: every stage but closed.
pub fn clocked_stages() -> impl Iterator<Item = Stage> {
    Stage::ALL.into_iter().filter(|s| *s != Stage::Closed)
}

/// A notice a clock sends, in the order they come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 75 % of the target: the owners are reminded.
    Reminder = 1,
    /// 100 %: the stage is breached; the owners and the first escalation contact are told.
    Breach = 2,
    /// The escalation threshold (200 % by default): the next escalation contact is told too.
    Escalation = 3,
}

impl Level {
    /// Every level, in order.
    pub const ALL: [Level; 3] = [Level::Reminder, Level::Breach, Level::Escalation];

    /// The stored number (notices sent so far, on a clock).
    pub fn number(self) -> i64 {
        self as i64
    }

    /// The level of a stored number (0 is none).
    pub fn from_number(n: i64) -> Option<Self> {
        Level::ALL.into_iter().find(|l| l.number() == n)
    }
}

/// The clock settings of the installation, as stored and as the settings page edits them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockPolicy {
    /// Target in minutes per clocked stage (process order) and severity (P0..P3); `None`: none.
    pub targets: Vec<(Stage, [Option<u32>; 4])>,
    /// Per severity (P0..P3): how its targets are counted.
    pub basis: [Basis; 4],
    /// The second escalation comes at this percentage of the target (more than 100).
    pub escalate_percent: u32,
    /// Per owner role: the lead (deputy) told first when a stage of that role is breached.
    pub leads: Vec<(Role, Option<i64>)>,
    /// The calendar's IANA time zone.
    pub zone: String,
    /// Working hours Monday..Sunday, as typed: `09:00-12:00, 13:00-18:00`; empty: none.
    pub week: [String; 7],
    /// Holidays, a date or `a..b` range per line.
    pub holidays: String,
    /// Extra working days (adjusted weekends), same format.
    pub extra_working_days: String,
}

impl ClockPolicy {
    /// The target of `stage` for `severity`, in minutes.
    pub fn target(&self, stage: Stage, severity: Severity) -> Option<u32> {
        let index = Severity::ALL.iter().position(|s| *s == severity)?;
        self.targets.iter().find(|(s, _)| *s == stage).and_then(|(_, row)| row[index])
    }

    /// How targets of `severity` are counted.
    pub fn basis_of(&self, severity: Severity) -> Basis {
        let index = Severity::ALL.iter().position(|s| *s == severity).unwrap_or(0);
        self.basis[index]
    }

    /// The lead of `role`, if one is set.
    pub fn lead(&self, role: Role) -> Option<i64> {
        self.leads.iter().find(|(r, _)| *r == role).and_then(|(_, id)| *id)
    }
}

/// The settings form as submitted: every value as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyForm {
    /// `targets[<stage>_<severity>]`: a duration, or empty for no target.
    pub targets: HashMap<String, String>,
    /// `working[<severity>]`: present (checked) when that severity counts working hours.
    pub working: HashMap<String, String>,
    /// The escalation percentage.
    pub escalate_percent: String,
    /// `leads[<role>]`: a user id, or empty.
    pub leads: HashMap<String, String>,
    /// The time zone.
    pub zone: String,
    /// `week[mon]`..`week[sun]`: working hours.
    pub week: HashMap<String, String>,
    /// Holidays as typed.
    pub holidays: String,
    /// Extra working days as typed.
    pub extra_working_days: String,
}

/// Weekday field names, Monday first (the form's `week[mon]`...).
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The roles that own stages and so may have a lead.
pub const LEAD_ROLES: [Role; 4] = [Role::Ops, Role::Pm, Role::Dev, Role::Qa];

/// How a clock stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Under 75 % of the target.
    Ok,
    /// 75 % or more.
    AtRisk,
    /// Past the target.
    Breached,
    /// Paused (waiting for the user).
    Paused,
    /// The stage has no target.
    NoTarget,
}

impl ClockState {
    /// The CSS modifier (`clock--at-risk`).
    pub fn class(self) -> &'static str {
        match self {
            ClockState::Ok => "clock clock--ok",
            ClockState::AtRisk => "clock clock--at-risk",
            ClockState::Breached => "clock clock--breached",
            ClockState::Paused => "clock clock--paused",
            ClockState::NoTarget => "clock clock--none",
        }
    }
}

/// The current stage's clock of an incident, as lists and the incident page show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockView {
    /// The stage timed.
    pub stage: Stage,
    /// The target, in seconds of its basis.
    pub target_seconds: Option<i64>,
    /// How the target is counted.
    pub basis: Basis,
    /// When 75 % is reached (RFC 3339), while running with a target.
    pub risk_at: Option<String>,
    /// When the target is reached (RFC 3339), while running with a target.
    pub breach_at: Option<String>,
    /// Counted so far (basis seconds), as of the read.
    pub spent_seconds: i64,
    /// Paused: waiting for the user.
    pub paused: bool,
    /// How it stands as of the read.
    pub state: ClockState,
    /// When the read happened (RFC 3339): the browser counts on from the server's time, not its
    /// own clock, which may be off.
    pub read_at: String,
    /// Time left until the target is reached, as of the read (negative: over by so much): wall
    /// seconds to `breach_at` while running, target minus spent while paused; `None` without a
    /// target.
    pub left_seconds: Option<i64>,
}

/// One stay of an incident in a stage: how long it took against its target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StayView {
    /// The stage.
    pub stage: Stage,
    /// When it was entered (RFC 3339).
    pub started_at: String,
    /// When it was left; `None` for the current stay.
    pub stopped_at: Option<String>,
    /// Counted time (basis seconds): the final figure, or so far.
    pub spent_seconds: i64,
    /// The target (basis seconds).
    pub target_seconds: Option<i64>,
    /// How it is counted.
    pub basis: Basis,
    /// Whether it went past its target.
    pub breached: bool,
}

/// A duration in whole minutes, as the settings page and the clocks show it: `1h 30m`, `45m`.
/// Days are never used: a working-hours target of `40h` is five working days, not 40/24.
pub fn format_minutes(minutes: u32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// Reads a duration typed on the settings page: `90m`, `2h`, `1h 30m`, `1.5h`, `2d` (48 h), a bare
/// number of minutes, with or without spaces, `小时`/`分钟`/`天` accepted too. `None` when it is
/// not one.
pub fn parse_minutes(text: &str) -> Option<u32> {
    let normalised = text.trim().to_lowercase().replace("小时", "h").replace("分钟", "m").replace('天', "d");
    let compact: String = normalised.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    if compact.chars().all(|c| c.is_ascii_digit()) {
        return compact.parse().ok();
    }
    let mut total = 0f64;
    let mut number = String::new();
    for c in compact.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'd' | 'h' | 'm' => {
                let value: f64 = number.parse().ok()?;
                number.clear();
                total += value
                    * match c {
                        'd' => 1440.0,
                        'h' => 60.0,
                        _ => 1.0,
                    };
            }
            _ => return None,
        }
    }
    if !number.is_empty() || !total.is_finite() || total > f64::from(u32::MAX) {
        return None;
    }
    let minutes = total.round();
    // 1.25m is not a whole minute; 1.5h is.
    ((minutes - total).abs() < 1e-6).then_some(minutes as u32)
}

/// A span of seconds as a reader sees it on a clock: `2h 05m`, `3d 4h`, `45m`, `30s`.
pub fn format_span(seconds: i64) -> String {
    let s = seconds.abs();
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

/// A span of working time: hours and minutes, never days (eight working hours are not a third
/// of a day): `40h 00m`, `45m`.
pub fn format_hours_span(seconds: i64) -> String {
    let s = seconds.abs();
    let (h, m) = (s / 3600, (s % 3600) / 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_in_the_forms_admins_type_and_printed_back() {
        assert_eq!(parse_minutes("15"), Some(15));
        assert_eq!(parse_minutes("15m"), Some(15));
        assert_eq!(parse_minutes(" 2h "), Some(120));
        assert_eq!(parse_minutes("1h 30m"), Some(90));
        assert_eq!(parse_minutes("1.5h"), Some(90));
        assert_eq!(parse_minutes("2d"), Some(2880));
        assert_eq!(parse_minutes("2小时"), Some(120));
        assert_eq!(parse_minutes("30 分钟"), Some(30));
        assert_eq!(parse_minutes("1.01m"), None);
        assert_eq!(parse_minutes("two hours"), None);
        assert_eq!(parse_minutes("-5m"), None);
        assert_eq!(parse_minutes("h"), None);
        assert_eq!(parse_minutes("5x"), None);
        for m in [1, 45, 60, 90, 125, 2400] {
            assert_eq!(parse_minutes(&format_minutes(m)), Some(m));
        }
        assert_eq!(format_minutes(90), "1h 30m");
    }

    #[test]
    fn a_span_shows_its_two_largest_units() {
        assert_eq!(format_span(30), "30s");
        assert_eq!(format_span(45 * 60), "45m");
        assert_eq!(format_span(2 * 3600 + 5 * 60), "2h 05m");
        assert_eq!(format_span(-(3 * 86_400 + 4 * 3600 + 59)), "3d 4h");
        assert_eq!(format_hours_span(40 * 3600), "40h 00m", "working time is never shown in days");
        assert_eq!(format_hours_span(45 * 60 + 30), "45m");
    }

    #[test]
    fn the_policy_answers_targets_by_stage_and_severity() {
        let policy = ClockPolicy {
            targets: vec![(Stage::Testing, [Some(120), None, Some(960), None])],
            basis: [Basis::Wall, Basis::Wall, Basis::Working, Basis::Working],
            escalate_percent: 200,
            leads: vec![(Role::Qa, Some(7))],
            zone: "Asia/Shanghai".into(),
            week: Default::default(),
            holidays: String::new(),
            extra_working_days: String::new(),
        };
        assert_eq!(policy.target(Stage::Testing, Severity::P0), Some(120));
        assert_eq!(policy.target(Stage::Testing, Severity::P1), None);
        assert_eq!(policy.target(Stage::Fixing, Severity::P0), None);
        assert_eq!(policy.basis_of(Severity::P2), Basis::Working);
        assert_eq!(policy.lead(Role::Qa), Some(7));
        assert_eq!(policy.lead(Role::Dev), None);
        assert!(clocked_stages().all(|s| s != Stage::Closed));
        assert_eq!(Level::from_number(2), Some(Level::Breach));
        assert_eq!(Level::from_number(0), None);
    }
}
