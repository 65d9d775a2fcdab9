//! Server functions of measures and reports.
// The #[server] macro generates argument structs whose fields cannot carry docs.
#![allow(missing_docs)]

use leptos::prelude::*;

use super::{MeasureView, MeasuresList, ReportView};
use crate::error::AppError;

/// The measures the filters select (every signed-in user may read them).
#[server(endpoint = "measures/list")]
pub async fn list_measures(
    status: Option<String>,
    owner: Option<String>,
    overdue: Option<String>,
    incident: Option<String>,
) -> Result<MeasuresList, AppError> {
    let actor = crate::workflow::actor()?;
    let state = crate::auth::guard::app_state();
    let filter = super::MeasureFilter {
        status: status
            .filter(|s| !s.is_empty())
            .map(|s| crate::workflow::choice("status", &s, super::MeasureStatus::parse))
            .transpose()?,
        owner_id: owner
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>().map_err(|_| AppError::invalid("owner", crate::error::FieldProblem::InvalidChoice))
            })
            .transpose()?,
        overdue: overdue.is_some_and(|v| !v.is_empty()),
        incident,
    };
    super::measures::list(&state.db, actor.id, &filter, server::today(&state)).await
}

/// The signed-in user's open measures, for their queue.
#[server(endpoint = "measures/mine")]
pub async fn my_measures() -> Result<Vec<MeasureView>, AppError> {
    let actor = crate::workflow::actor()?;
    let state = crate::auth::guard::app_state();
    super::measures::mine(&state.db, actor.id, server::today(&state)).await
}

/// The measures of one incident, in the report's order.
#[server(endpoint = "measures/of_incident")]
pub async fn incident_measures(incident_id: i64) -> Result<Vec<MeasureView>, AppError> {
    let actor = crate::workflow::actor()?;
    let state = crate::auth::guard::app_state();
    super::measures::of_incident(&state.db, actor.id, incident_id, server::today(&state)).await
}

/// The measure's owner or the incident's PM owner closes it: `status` is `done` (the note says
/// what was done) or `dropped` (the note says why).
#[server(endpoint = "measures/close")]
pub async fn close_measure(id: i64, status: String, note: String) -> Result<(), AppError> {
    let actor = crate::workflow::actor()?;
    let status = crate::workflow::choice("status", &status, super::MeasureStatus::parse)?;
    let state = crate::auth::guard::app_state();
    super::measures::close(&state.db, &actor, id, status, &note, state.clock.now()).await?;
    Ok(())
}

/// The reports page's figures and charts (PMs and admins). Days are `YYYY-MM-DD` in the
/// reader's zone; without them, the last twelve weeks.
#[server(endpoint = "reports/figures")]
pub async fn report(
    from: Option<String>,
    to: Option<String>,
    severity: Option<String>,
    channel: Option<String>,
) -> Result<ReportView, AppError> {
    let user = crate::auth::guard::require_user()?;
    let state = crate::auth::guard::app_state();
    let locale = crate::i18n::use_i18n().locale();
    let query = server::ReportQuery { from, to, severity, channel };
    server::report_for(&state, &user, &query, locale).await
}

/// Server-side parts shared with the CSV download route.
#[cfg(feature = "ssr")]
pub mod server {
    use chrono::{Datelike, Duration, NaiveDate};

    use super::super::{chart, csv, span_or_dash, stats, Charts, Figures, ReportTable, ReportView};
    use crate::{
        auth::CurrentUser,
        error::{AppError, FieldProblem},
        i18n::{Locale, Strings},
        state::AppState,
        workflow::{
            input::{Channel, Severity},
            labels,
        },
    };

    /// The longest range a report covers.
    pub const MAX_DAYS: i64 = 366;

    /// Weeks shown when no range is asked for.
    pub const DEFAULT_WEEKS: i64 = 12;

    /// What the reader asked for, as submitted.
    #[derive(Clone, Debug, Default)]
    pub struct ReportQuery {
        /// First day.
        pub from: Option<String>,
        /// Last day (included).
        pub to: Option<String>,
        /// Severity filter.
        pub severity: Option<String>,
        /// Channel filter.
        pub channel: Option<String>,
    }

    /// Today in the installation's zone.
    pub fn today(state: &AppState) -> NaiveDate {
        let now = state.clock.now();
        crate::clock::zone::today(now, &state.config.time_zone).unwrap_or_else(|| now.date_naive())
    }

    /// May `user` read reports: PMs and admins.
    pub fn may_read(user: &CurrentUser) -> bool {
        super::super::READERS.iter().any(|r| user.me.has(*r))
    }

    fn day(field: &str, value: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| AppError::invalid(field, FieldProblem::InvalidDate)),
        }
    }

    fn midnight(date: NaiveDate, zone: &str) -> Result<chrono::DateTime<chrono::Utc>, AppError> {
        crate::clock::zone::parse_local(&format!("{}T00:00", date.format("%Y-%m-%d")), zone)
            .ok_or_else(|| AppError::internal(format!("no midnight on {date} in {zone}")))
    }

    /// The range and weeks of a query, in `zone`, with `today` as the default end.
    pub fn range_of(
        query: &ReportQuery,
        zone: &str,
        today: NaiveDate,
    ) -> Result<(NaiveDate, NaiveDate, stats::Range, Vec<stats::Week>), AppError> {
        let to = day("to", query.to.as_deref())?.unwrap_or(today);
        let this_monday = to - Duration::days(i64::from(to.weekday().num_days_from_monday()));
        let from = day("from", query.from.as_deref())?.unwrap_or(this_monday - Duration::weeks(DEFAULT_WEEKS - 1));
        if from > to {
            return Err(AppError::invalid("from", FieldProblem::InvalidDate));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(AppError::invalid("from", FieldProblem::TooLong(usize::try_from(MAX_DAYS).unwrap_or(366))));
        }
        let severity = query
            .severity
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| crate::workflow::choice("severity", s, Severity::parse))
            .transpose()?;
        let channel = query
            .channel
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| crate::workflow::choice("channel", s, Channel::parse))
            .transpose()?;
        let range = stats::Range {
            from: midnight(from, zone)?,
            to: midnight(to + Duration::days(1), zone)?,
            severity,
            channel,
        };
        let mut weeks = Vec::new();
        let mut monday = from - Duration::days(i64::from(from.weekday().num_days_from_monday()));
        while monday <= to {
            let next = monday + Duration::weeks(1);
            weeks.push(stats::Week {
                start_date: monday,
                starts: midnight(monday, zone)?,
                ends: midnight(next, zone)?,
            });
            monday = next;
        }
        Ok((from, to, range, weeks))
    }

    /// The report `user` asked for, with charts in `locale`; refused unless they may read
    /// reports.
    pub async fn report_for(
        state: &AppState,
        user: &CurrentUser,
        query: &ReportQuery,
        locale: Locale,
    ) -> Result<ReportView, AppError> {
        if !may_read(user) {
            return Err(AppError::Forbidden);
        }
        let zone = crate::clock::zone::of_reader(user.me.time_zone.as_deref(), &state.config.time_zone);
        let today = today(state);
        let (from, to, range, weeks) = range_of(query, &zone, today)?;
        let figures = stats::figures(&state.db, &range, &weeks, today).await?;
        let mut view = ReportView {
            from: from.format("%Y-%m-%d").to_string(),
            to: to.format("%Y-%m-%d").to_string(),
            zone,
            severity: range.severity.map(|s| s.as_str().to_owned()),
            channel: range.channel.map(|c| c.as_str().to_owned()),
            figures,
            charts: Charts::default(),
        };
        view.charts = charts(&view.figures, locale.strings());
        Ok(view)
    }

    /// The report's charts in the language of `t`; a chart without data is left empty (the page
    /// says there is nothing to show instead of drawing zeros).
    pub fn charts(view: &Figures, t: &'static Strings) -> Charts {
        let hours = |s: f64| span_or_dash(Some(s as i64), t);
        // Whole counts as integers; the axis's half-way tick of a small count keeps its fraction
        // (0.5, not a second "0" or "1").
        let count = |n: f64| if n.fract() == 0.0 { format!("{n:.0}") } else { format!("{n:.1}") };
        let stages = if view.stages.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = view.stages.iter().map(|s| labels::stage(s.stage, t).to_owned()).collect();
            let series = vec![
                chart::Series {
                    name: t.report_median.to_owned(),
                    values: view.stages.iter().map(|s| s.time.median.map(|v| v as f64)).collect(),
                },
                chart::Series {
                    name: t.report_p90.to_owned(),
                    values: view.stages.iter().map(|s| s.time.p90.map(|v| v as f64)).collect(),
                },
            ];
            chart::bar_chart("chart-stages", t.report_chart_stages, &names, &series, &hours)
        };
        let any_week = view.weeks.iter().any(|w| w.incoming > 0 || w.closed > 0);
        let labels: Vec<String> = view.weeks.iter().map(|w| w.start.get(5..).unwrap_or(&w.start).to_owned()).collect();
        let weeks = if any_week {
            let series = vec![
                chart::Series {
                    name: t.report_incoming.to_owned(),
                    values: view.weeks.iter().map(|w| Some(w.incoming as f64)).collect(),
                },
                chart::Series {
                    name: t.report_closed.to_owned(),
                    values: view.weeks.iter().map(|w| Some(w.closed as f64)).collect(),
                },
            ];
            chart::line_chart("chart-weeks", t.report_chart_weeks, &labels, &series, &count)
        } else {
            String::new()
        };
        let mttr = if view.weeks.iter().any(|w| w.mttr.median.is_some()) {
            let series = vec![chart::Series {
                name: t.report_median.to_owned(),
                values: view.weeks.iter().map(|w| w.mttr.median.map(|v| v as f64)).collect(),
            }];
            chart::line_chart("chart-mttr", t.report_chart_mttr, &labels, &series, &hours)
        } else {
            String::new()
        };
        Charts { stages, weeks, mttr }
    }

    /// Minutes, for spreadsheets: a number a formula can use (empty when there is none).
    fn minutes(seconds: Option<i64>) -> String {
        seconds.map(|s| format!("{:.1}", s as f64 / 60.0)).unwrap_or_default()
    }

    /// One table of `view` as a CSV document, headed in the language of `t`.
    pub fn csv_table(view: &ReportView, table: ReportTable, t: &'static Strings) -> Vec<u8> {
        let figure_cols = [t.report_col_count, t.report_col_median_min, t.report_col_p90_min, t.report_col_mean_min];
        let figure =
            |f: &super::super::Figure| vec![f.n.to_string(), minutes(f.median), minutes(f.p90), minutes(f.mean)];
        match table {
            ReportTable::Summary => {
                let c = &view.figures.counts;
                let rows: Vec<Vec<String>> = [
                    (t.report_reported, c.reported),
                    (t.report_technical, c.technical),
                    (t.report_non_technical, c.non_technical),
                    (t.report_untriaged, c.untriaged),
                    (t.report_closed, c.closed),
                    (t.report_open, c.open),
                    (t.report_fix_rounds, c.fix_rounds),
                    (t.report_reworked, c.reworked),
                    (t.report_optimal, c.optimal),
                    (t.report_interim, c.interim),
                    (t.report_measures_open, view.figures.measures.open),
                    (t.report_measures_overdue, view.figures.measures.overdue),
                    (t.report_measures_done, view.figures.measures.done),
                    (t.report_measures_dropped, view.figures.measures.dropped),
                ]
                .into_iter()
                .map(|(name, n)| vec![name.to_owned(), n.to_string(), String::new(), String::new(), String::new()])
                .chain([(t.report_mtta, &view.figures.mtta), (t.report_mttr, &view.figures.mttr)].into_iter().map(
                    |(name, f)| {
                        let mut row = vec![name.to_owned()];
                        row.extend(figure(f));
                        row
                    },
                ))
                .collect();
                let mut header = vec![t.report_col_figure];
                header.extend(figure_cols);
                csv::document(&header, &rows)
            }
            ReportTable::Stages => {
                let rows: Vec<Vec<String>> = view
                    .figures
                    .stages
                    .iter()
                    .map(|s| {
                        let mut row = vec![labels::stage(s.stage, t).to_owned()];
                        row.extend(figure(&s.time));
                        row.push(s.breaches.to_string());
                        row
                    })
                    .collect();
                let mut header = vec![t.report_col_stage];
                header.extend(figure_cols);
                header.push(t.report_col_breaches);
                csv::document(&header, &rows)
            }
            ReportTable::People => {
                let rows: Vec<Vec<String>> = view
                    .figures
                    .people
                    .iter()
                    .chain(&view.figures.roles)
                    .map(|p| {
                        let mut row = vec![p.name.clone(), p.role.label(t).to_owned(), p.handled.to_string()];
                        row.extend(figure(&p.holding));
                        row.push(p.breaches.to_string());
                        row.push(p.open_now.to_string());
                        row
                    })
                    .collect();
                let mut header = vec![t.report_col_person, t.report_col_role, t.report_col_handled];
                header.extend(figure_cols);
                header.extend([t.report_col_breaches, t.report_col_open_now]);
                csv::document(&header, &rows)
            }
            ReportTable::Weeks => {
                let rows: Vec<Vec<String>> = view
                    .figures
                    .weeks
                    .iter()
                    .map(|w| {
                        vec![
                            w.start.clone(),
                            w.incoming.to_string(),
                            w.closed.to_string(),
                            minutes(w.mttr.median),
                            minutes(w.mttr.p90),
                        ]
                    })
                    .collect();
                let header = [
                    t.report_col_week,
                    t.report_incoming,
                    t.report_closed,
                    t.report_col_mttr_median_min,
                    t.report_col_mttr_p90_min,
                ];
                csv::document(&header, &rows)
            }
        }
    }

    /// The file name of a table's download: `baton-stages-2026-09-14-2026-12-06.csv`.
    pub fn csv_name(view: &ReportView, table: ReportTable) -> String {
        format!("baton-{}-{}-{}.csv", table.as_str(), view.from, view.to)
    }

    #[cfg(test)]
    mod tests {
        use chrono::{DateTime, NaiveDate, Utc};

        use super::{range_of, ReportQuery};
        use crate::error::{AppError, FieldProblem};

        fn date(s: &str) -> NaiveDate {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
        }

        fn utc(s: &str) -> DateTime<Utc> {
            s.parse().unwrap()
        }

        fn ask(from: &str, to: &str) -> ReportQuery {
            ReportQuery { from: Some(from.into()), to: Some(to.into()), ..ReportQuery::default() }
        }

        #[test]
        fn without_dates_a_report_covers_the_last_twelve_weeks_to_today() {
            let (from, to, range, weeks) =
                range_of(&ReportQuery::default(), "Asia/Shanghai", date("2026-12-06")).unwrap();
            assert_eq!((from, to), (date("2026-09-14"), date("2026-12-06")));
            assert_eq!(weeks.len(), 12);
            assert_eq!(weeks[0].start_date, date("2026-09-14"));
            // Days are the reader's: midnight in Shanghai is 16:00 UTC the day before.
            assert_eq!(range.from, utc("2026-09-13T16:00:00Z"));
            assert_eq!(range.to, utc("2026-12-06T16:00:00Z"));
        }

        #[test]
        fn weeks_start_on_monday_and_follow_daylight_saving_time() {
            let (_, _, _, weeks) =
                range_of(&ask("2026-10-21", "2026-10-28"), "Europe/Berlin", date("2026-12-06")).unwrap();
            let spans: Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> =
                weeks.iter().map(|w| (w.start_date, w.starts, w.ends)).collect();
            assert_eq!(
                spans,
                vec![
                    // Summer time ends on 25 October: that week has 169 hours.
                    (date("2026-10-19"), utc("2026-10-18T22:00:00Z"), utc("2026-10-25T23:00:00Z")),
                    (date("2026-10-26"), utc("2026-10-25T23:00:00Z"), utc("2026-11-01T23:00:00Z")),
                ]
            );
        }

        #[test]
        fn a_reversed_or_overlong_or_malformed_range_is_refused_by_field() {
            let refused = |q: ReportQuery| range_of(&q, "UTC", date("2026-12-06")).unwrap_err();
            assert_eq!(refused(ask("2026-12-02", "2026-12-01")), AppError::invalid("from", FieldProblem::InvalidDate));
            assert_eq!(refused(ask("2025-01-01", "2026-01-02")), AppError::invalid("from", FieldProblem::TooLong(366)));
            assert_eq!(refused(ask("2026-02-30", "2026-03-01")), AppError::invalid("from", FieldProblem::InvalidDate));
            let q = ReportQuery { severity: Some("p9".into()), ..ReportQuery::default() };
            assert_eq!(refused(q), AppError::invalid("severity", FieldProblem::InvalidChoice));
            assert!(range_of(&ask("2025-01-01", "2026-01-01"), "UTC", date("2026-12-06")).is_ok(), "366 days fit");
        }
    }
}
