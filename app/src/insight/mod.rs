//! Insight: where the time of the process goes, and the prevention measures (措施) of step 9
//! tracked until they are done.
//!
//! - Measures: the report form creates them; the measure's owner or the incident's PM owner
//!   closes one as done (with a note) or dropped (with a reason); an open measure past its date
//!   reminds its owner and the PM once a day through the outbox ([`measures`]).
//! - Reports (`/reports`, PMs and admins): counts, MTTA, MTTR and time in each stage as median and
//!   p90, per person and per role, by week, computed in SQL on either database ([`stats`]); the
//!   charts are SVG drawn on the server ([`chart`]), and every table downloads as CSV ([`csv`]).
//!
//! Reports are for PMs and admins only: the per-person figures are management information, and
//! nobody else sees the page or its link.

mod api;
#[cfg(feature = "ssr")]
pub mod chart;
#[cfg(feature = "ssr")]
pub mod csv;
#[cfg(feature = "ssr")]
pub mod gauges;
#[cfg(feature = "ssr")]
pub mod measures;
mod pages;
#[cfg(feature = "ssr")]
pub mod remind;
#[cfg(feature = "ssr")]
pub mod stats;

pub use api::*;
pub use pages::{IncidentMeasures, MeasuresPage, MyMeasures, ReportsPage};
use serde::{Deserialize, Serialize};

use crate::{
    auth::Role,
    i18n::{fill, Strings},
    workflow::rules::Stage,
};

/// The roles that may read reports (any one of them).
pub const READERS: &[Role] = &[Role::Pm, Role::Admin];

/// Most measures the measures page lists at once.
pub const MEASURES_PAGE: usize = 200;

/// Where a prevention measure stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeasureStatus {
    /// To do.
    Open,
    /// Done, with a note of what was done.
    Done,
    /// Given up, with the reason.
    Dropped,
}

impl MeasureStatus {
    /// Every status, in the order filters list them.
    pub const ALL: [MeasureStatus; 3] = [MeasureStatus::Open, MeasureStatus::Done, MeasureStatus::Dropped];

    /// Stored and submitted name.
    pub fn as_str(self) -> &'static str {
        match self {
            MeasureStatus::Open => "open",
            MeasureStatus::Done => "done",
            MeasureStatus::Dropped => "dropped",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name.trim())
    }

    /// The status's name in the reader's language.
    pub fn label(self, t: &'static Strings) -> &'static str {
        match self {
            MeasureStatus::Open => t.measure_status_open,
            MeasureStatus::Done => t.measure_status_done,
            MeasureStatus::Dropped => t.measure_status_dropped,
        }
    }
}

/// One prevention measure as lists show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureView {
    /// Row id.
    pub id: i64,
    /// Key of the incident whose report created it.
    pub incident_key: String,
    /// That incident's title.
    pub incident_title: String,
    /// What will be done.
    pub text: String,
    /// Its owner.
    pub owner_id: i64,
    /// The owner's display name.
    pub owner_name: String,
    /// Due date, `YYYY-MM-DD`.
    pub due: String,
    /// Status.
    pub status: MeasureStatus,
    /// The note (done) or the reason (dropped); empty while open.
    pub outcome: String,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// When it was closed (RFC 3339).
    pub closed_at: Option<String>,
    /// Open and past its due date (in the installation's time zone).
    pub overdue: bool,
    /// The viewer may close it: its owner, or the incident's PM owner, while it is open.
    pub may_close: bool,
}

/// The filters of the measures page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureFilter {
    /// Only this status.
    pub status: Option<MeasureStatus>,
    /// Only this owner.
    pub owner_id: Option<i64>,
    /// Only open measures past their date.
    pub overdue: bool,
    /// Only the measures of this incident (its key).
    pub incident: Option<String>,
}

/// The measures page: the measures that match, and the people who own any (for the filter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasuresList {
    /// Matching measures: open first (earliest due first), then the closed, latest first.
    pub items: Vec<MeasureView>,
    /// More matched than the page shows.
    pub truncated: bool,
    /// (id, name) of every owner of a measure.
    pub owners: Vec<(i64, String)>,
}

/// A distribution of durations in seconds: how many, median, 90th percentile and mean.
///
/// Percentiles use the nearest-rank method: of `n` values in ascending order, the p-th
/// percentile is the value at rank ⌈p·n/100⌉ (the median of an even count is the lower middle
/// value). Every figure is a duration that really occurred, and both databases compute it the
/// same way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// How many durations the figure rests on.
    pub n: i64,
    /// Median, seconds (`None` when `n` is 0).
    pub median: Option<i64>,
    /// 90th percentile, seconds.
    pub p90: Option<i64>,
    /// Arithmetic mean, seconds.
    pub mean: Option<i64>,
}

/// How many incidents of the range did what.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Reported in the range.
    pub reported: i64,
    /// Triaged as technical.
    pub technical: i64,
    /// Closed as not technical.
    pub non_technical: i64,
    /// Not triaged yet.
    pub untriaged: i64,
    /// Closed now.
    pub closed: i64,
    /// Still open now.
    pub open: i64,
    /// Fix rounds: failed tests and failed regression tests sent back to dev.
    pub fix_rounds: i64,
    /// Incidents that needed at least one more round.
    pub reworked: i64,
    /// Fixed with the optimal plan.
    pub optimal: i64,
    /// Fixed with an interim plan (the optimal solution went to the requirement pool).
    pub interim: i64,
}

/// Time spent in one stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageFigure {
    /// The stage.
    pub stage: Stage,
    /// Time per incident in the stage (all its stays added up).
    pub time: Figure,
    /// Stays that passed their clock's target.
    pub breaches: i64,
}

/// Who held the baton.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HolderFigure {
    /// The person (`None` in a per-role row).
    pub user_id: Option<i64>,
    /// Display name, or empty in a per-role row.
    pub name: String,
    /// The role the hand-offs were made in.
    pub role: Role,
    /// Incidents this person (or role) handed on at least once.
    pub handled: i64,
    /// Time from a stage reaching them to their confirming the hand-off, per hand-off.
    pub holding: Figure,
    /// Of those stays, how many passed their clock's target.
    pub breaches: i64,
    /// Open incidents whose current stage is theirs now (whatever the date range).
    pub open_now: i64,
}

/// One week of the trend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeekFigure {
    /// The week's first day (Monday), `YYYY-MM-DD`.
    pub start: String,
    /// Incidents reported that week.
    pub incoming: i64,
    /// Incidents closed that week.
    pub closed: i64,
    /// Time to resolve of the incidents closed that week.
    pub mttr: Figure,
}

/// The prevention measures of the range's incidents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureCounts {
    /// Still open.
    pub open: i64,
    /// Open and past their date.
    pub overdue: i64,
    /// Done.
    pub done: i64,
    /// Dropped.
    pub dropped: i64,
}

/// The reports page's figures for one date range and filter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportView {
    /// First day, `YYYY-MM-DD` (in `zone`).
    pub from: String,
    /// Last day, included.
    pub to: String,
    /// The zone the days are in.
    pub zone: String,
    /// Severity filter.
    pub severity: Option<String>,
    /// Channel filter.
    pub channel: Option<String>,
    /// The figures.
    pub figures: Figures,
    /// The charts, as SVG drawn on the server in the reader's language (empty without data).
    pub charts: Charts,
}

/// Every figure of a report: counts, response times, stages, people, weeks, measures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Counts.
    pub counts: Counts,
    /// Reported → first action by a person.
    pub mtta: Figure,
    /// Reported → closed.
    pub mttr: Figure,
    /// Per stage, in process order (stages nobody passed are left out).
    pub stages: Vec<StageFigure>,
    /// Per person, most hand-offs first.
    pub people: Vec<HolderFigure>,
    /// Per role.
    pub roles: Vec<HolderFigure>,
    /// Per week (Monday to Sunday in the reader's zone).
    pub weeks: Vec<WeekFigure>,
    /// Measures of the range's incidents.
    pub measures: MeasureCounts,
}

/// Server-drawn SVG charts of a report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charts {
    /// Median and p90 time per stage (bars).
    pub stages: String,
    /// Incidents in and closed per week (lines).
    pub weeks: String,
    /// Median time to resolve per week (line).
    pub mttr: String,
}

/// The tables a report downloads as CSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportTable {
    /// Counts, MTTA and MTTR.
    Summary,
    /// Time per stage.
    Stages,
    /// Per person and per role.
    People,
    /// Per week.
    Weeks,
}

impl ReportTable {
    /// Every table.
    pub const ALL: [ReportTable; 4] =
        [ReportTable::Summary, ReportTable::Stages, ReportTable::People, ReportTable::Weeks];

    /// The name in the download URL and file name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportTable::Summary => "summary",
            ReportTable::Stages => "stages",
            ReportTable::People => "people",
            ReportTable::Weeks => "weeks",
        }
    }

    /// Parses a name of the download URL.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// A duration as a report shows it: at most two units, "2 d 3 h", "3 h 20 min", "45 min",
/// "< 1 min".
pub fn span(seconds: i64, t: &Strings) -> String {
    if seconds < 60 {
        return fill(t.report_under_minute, &[]);
    }
    let minutes = seconds / 60;
    let (d, h, m) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    let unit = |text: &str, n: i64| fill(text, &[("n", &n.to_string())]);
    match (d, h, m) {
        (0, 0, m) => unit(t.mail_duration_minutes, m),
        (0, h, 0) => unit(t.mail_duration_hours, h),
        (0, h, m) => format!("{} {}", unit(t.mail_duration_hours, h), unit(t.mail_duration_minutes, m)),
        (d, 0, _) => unit(t.mail_duration_days, d),
        (d, h, _) => format!("{} {}", unit(t.mail_duration_days, d), unit(t.mail_duration_hours, h)),
    }
}

/// A figure's value for display: the duration, or a dash when there is none.
pub fn span_or_dash(seconds: Option<i64>, t: &Strings) -> String {
    seconds.map(|s| span(s, t)).unwrap_or_else(|| "–".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Locale;

    #[test]
    fn spans_keep_the_two_largest_units() {
        let t = Locale::En.strings();
        assert_eq!(span(30, t), "< 1 min");
        assert_eq!(span(45 * 60, t), "45 min");
        assert_eq!(span(3 * 3600, t), "3 h");
        assert_eq!(span(3 * 3600 + 20 * 60 + 59, t), "3 h 20 min");
        assert_eq!(span(2 * 86_400 + 3 * 3600 + 17 * 60, t), "2 d 3 h");
        assert_eq!(span(5 * 86_400 + 59, t), "5 d");
        let zh = Locale::ZhCn.strings();
        assert_eq!(span(86_400 + 3600, zh), "1 天 1 小时");
        assert_eq!(span_or_dash(None, t), "–");
    }

    #[test]
    fn statuses_and_tables_round_trip_their_names() {
        for s in MeasureStatus::ALL {
            assert_eq!(MeasureStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(MeasureStatus::parse("closed"), None);
        for table in ReportTable::ALL {
            assert_eq!(ReportTable::parse(table.as_str()), Some(table));
        }
        assert_eq!(ReportTable::parse("../etc"), None);
    }
}
