//! The working-hours calendar of an installation, and the two sums clocks need from it: how much
//! working time lies between two instants, and the instant at which a given amount of working
//! time has passed.
//!
//! Targets such as "respond within 4 working hours" count only the time the team works. The
//! installation gives a week of hours in its time zone, holidays, and extra working days (weekend
//! days worked to make up for a long holiday, 调休). Everything is reckoned per local date, never
//! second by second, so spans of weeks cost microseconds and days without hours cost almost
//! nothing.
//!
//! An interval's ends are wall-clock times of its date, turned into instants the way a typed time
//! is read everywhere else (a time skipped by a DST change is read forward, a repeated one as its
//! first occurrence), so an interval across a DST change lasts what it really lasts. The working
//! time of a date stays within that date, from its midnight to the next: where a DST change makes
//! wall-clock order and real order disagree, the set of working instants is still one well-defined
//! set, and both sums measure that same set.
//!
//! Instants keep their nanoseconds: working time is measured exactly and only the answer of
//! [`Calendar::working_seconds`] is rounded down to whole seconds.

use std::fmt;
use std::ops::ControlFlow;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use jiff::{civil, tz::TimeZone, Timestamp};

use super::hours::{Interval, Minutes, DAY_MINUTES};

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// How far [`Calendar::add_working`] looks ahead before it gives up.
const HORIZON: Months = Months::new(12 * 10);

/// A week of working hours (Monday first) in a time zone, with holidays (no working time) and
/// extra working days.
///
/// A holiday has no working time even when it is also listed as an extra working day. An extra
/// working day whose weekday has no hours (an adjusted weekend day) is worked with the hours of the
/// week's first day that has any, normally Monday; one whose weekday has hours keeps them.
#[derive(Clone, Debug)]
pub struct Calendar {
    zone: TimeZone,
    /// Sorted, disjoint, non-touching intervals per weekday, Monday first.
    week: [Vec<Interval>; 7],
    /// The hours of an extra working day that has none of its own.
    extra_day_hours: Vec<Interval>,
    /// Sorted, without repeats, for binary search.
    holidays: Vec<NaiveDate>,
    /// Sorted, without repeats, for binary search.
    extra_working_days: Vec<NaiveDate>,
}

/// Why a calendar could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarError {
    /// The time zone is not an IANA zone this build knows.
    UnknownZone,
}

impl fmt::Display for CalendarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalendarError::UnknownZone => f.write_str("unknown time zone"),
        }
    }
}

impl std::error::Error for CalendarError {}

impl Calendar {
    /// A calendar in the IANA zone `zone` (e.g. `Asia/Shanghai`).
    ///
    /// Intervals need not come from [`super::hours::parse_hours`]: ends past 24:00 are cut to the
    /// end of the day, empty or backwards intervals dropped, and the rest sorted and merged where
    /// they overlap or touch. Dates may come in any order and repeat.
    pub fn new(
        zone: &str,
        week: [Vec<Interval>; 7],
        holidays: &[NaiveDate],
        extra_working_days: &[NaiveDate],
    ) -> Result<Self, CalendarError> {
        let zone = TimeZone::get(zone).map_err(|_| CalendarError::UnknownZone)?;
        let week = week.map(normalized);
        let extra_day_hours = week.iter().find(|hours| !hours.is_empty()).cloned().unwrap_or_default();
        Ok(Calendar {
            zone,
            week,
            extra_day_hours,
            holidays: sorted(holidays),
            extra_working_days: sorted(extra_working_days),
        })
    }

    /// Working seconds in `[from, to)`, rounded down; 0 when `to <= from`.
    pub fn working_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let (start, end) = (nanos(from), nanos(to));
        let (Some(first), Some(last)) = (self.local_date(from), self.local_date(to)) else {
            return 0;
        };
        let mut total = 0;
        let _ = self.each_span(first, last, |span_start, span_end| {
            let (span_start, span_end) = (span_start.max(start), span_end.min(end));
            if span_start < span_end {
                total += span_end - span_start;
            }
            ControlFlow::<()>::Continue(())
        });
        i64::try_from(total / NANOS_PER_SECOND).unwrap_or(i64::MAX)
    }

    /// The earliest instant `t >= from` with `working_seconds(from, t) == seconds`: `from` itself
    /// when `seconds <= 0`, the end of a working interval rather than the start of the next one
    /// when the time runs out exactly there. `None` when that much working time does not exist
    /// within ten years after `from` (a week without hours, say); finding that out walks the ten
    /// years, a tenth of a millisecond.
    pub fn add_working(&self, from: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        if seconds <= 0 {
            return Some(from);
        }
        let horizon = from.checked_add_months(HORIZON).unwrap_or(DateTime::<Utc>::MAX_UTC);
        let (start, end) = (nanos(from), nanos(horizon));
        let mut remaining = i128::from(seconds) * NANOS_PER_SECOND;
        let found = self.each_span(self.local_date(from)?, self.local_date(horizon)?, |span_start, span_end| {
            let (span_start, span_end) = (span_start.max(start), span_end.min(end));
            if span_start < span_end {
                if span_end - span_start >= remaining {
                    return ControlFlow::Break(span_start + remaining);
                }
                remaining -= span_end - span_start;
            }
            ControlFlow::Continue(())
        });
        match found {
            ControlFlow::Break(at) => from_nanos(at),
            ControlFlow::Continue(()) => None,
        }
    }

    /// Whether the local date has working hours: its weekday has some or it is an extra working
    /// day, and it is not a holiday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !self.hours_on(date).is_empty()
    }

    /// The working intervals of a local date.
    fn hours_on(&self, date: NaiveDate) -> &[Interval] {
        if self.holidays.binary_search(&date).is_ok() {
            return &[];
        }
        let own = &self.week[date.weekday().num_days_from_monday() as usize];
        if !own.is_empty() {
            own
        } else if self.extra_working_days.binary_search(&date).is_ok() {
            &self.extra_day_hours
        } else {
            &[]
        }
    }

    /// Visits the working spans of the dates from `first` to the day after `last`, in order, as
    /// nanoseconds since the epoch, until `visit` breaks.
    ///
    /// An instant lies within the midnight-to-midnight of its own local date or of a later one, so
    /// starting at the local date of the first instant misses nothing. The day after the local date of the last
    /// instant is included because where clocks go back over midnight, the next date's working
    /// time starts before the local date changes.
    fn each_span<B>(
        &self,
        first: NaiveDate,
        last: NaiveDate,
        mut visit: impl FnMut(i128, i128) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        // Extra working days borrow the week's hours: a week without any has no working time.
        if self.extra_day_hours.is_empty() {
            return ControlFlow::Continue(());
        }
        let last = last.succ_opt().unwrap_or(last);
        let mut spans = Vec::new();
        let mut date = first;
        while date <= last {
            self.day_spans(date, &mut spans);
            for &(start, end) in &spans {
                visit(i128::from(start) * NANOS_PER_SECOND, i128::from(end) * NANOS_PER_SECOND)?;
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        ControlFlow::Continue(())
    }

    /// The working time of a local date as sorted, disjoint spans `[start, end)` of seconds since
    /// the epoch, into `spans`.
    ///
    /// Each span is cut to the date's own midnight-to-midnight, and spans are merged because
    /// intervals that are apart on the wall clock can overlap in real time when one end falls in a
    /// skipped hour: on a spring-forward day, 02:00-02:30 is read as 03:00-03:30.
    fn day_spans(&self, date: NaiveDate, spans: &mut Vec<(i64, i64)>) {
        spans.clear();
        let hours = self.hours_on(date);
        if hours.is_empty() {
            return;
        }
        let (Some(day_start), Some(day_end)) = (self.instant(date, 0), self.instant(date, DAY_MINUTES)) else {
            return;
        };
        for interval in hours {
            let (Some(start), Some(end)) = (self.instant(date, interval.start), self.instant(date, interval.end))
            else {
                continue;
            };
            let (start, end) = (start.max(day_start), end.min(day_end));
            if start < end {
                spans.push((start, end));
            }
        }
        spans.sort_unstable();
        let mut kept = 0;
        for index in 0..spans.len() {
            let (start, end) = spans[index];
            if kept > 0 && start <= spans[kept - 1].1 {
                spans[kept - 1].1 = spans[kept - 1].1.max(end);
            } else {
                spans[kept] = (start, end);
                kept += 1;
            }
        }
        spans.truncate(kept);
    }

    /// The instant (seconds since the epoch) of a wall-clock minute of a local date, 1440 being
    /// the next midnight; `None` outside the years -9999 to 9999.
    fn instant(&self, date: NaiveDate, minute: Minutes) -> Option<i64> {
        let (date, minute) = if minute >= DAY_MINUTES { (date.succ_opt()?, 0) } else { (date, minute) };
        let civil = civil::Date::new(
            i16::try_from(date.year()).ok()?,
            i8::try_from(date.month()).ok()?,
            i8::try_from(date.day()).ok()?,
        )
        .ok()?
        .at(i8::try_from(minute / 60).ok()?, i8::try_from(minute % 60).ok()?, 0, 0);
        // The same reading as `civil::DateTime::to_zoned` (compatible disambiguation), without
        // building a `Zoned` for each bound.
        Some(self.zone.to_timestamp(civil).ok()?.as_second())
    }

    /// The local date at an instant; instants beyond the years -9999 to 9999 are taken as the
    /// first or last of them.
    fn local_date(&self, at: DateTime<Utc>) -> Option<NaiveDate> {
        let second = at.timestamp().clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
        let date = self.zone.to_datetime(Timestamp::from_second(second).ok()?).date();
        NaiveDate::from_ymd_opt(
            i32::from(date.year()),
            u32::try_from(date.month()).ok()?,
            u32::try_from(date.day()).ok()?,
        )
    }
}

/// Intervals cut to the day, without empty ones, sorted and merged.
fn normalized(mut hours: Vec<Interval>) -> Vec<Interval> {
    for interval in &mut hours {
        interval.end = interval.end.min(DAY_MINUTES);
    }
    hours.retain(|interval| interval.start < interval.end);
    hours.sort_unstable_by_key(|interval| interval.start);
    let mut merged: Vec<Interval> = Vec::with_capacity(hours.len());
    for interval in hours {
        match merged.last_mut() {
            Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
            _ => merged.push(interval),
        }
    }
    merged
}

/// Dates in order, without repeats.
fn sorted(dates: &[NaiveDate]) -> Vec<NaiveDate> {
    let mut dates = dates.to_vec();
    dates.sort_unstable();
    dates.dedup();
    dates
}

/// Nanoseconds since the epoch. A leap second (chrono's nanoseconds past 999,999,999) reads as
/// the start of the next second.
fn nanos(at: DateTime<Utc>) -> i128 {
    i128::from(at.timestamp()) * NANOS_PER_SECOND + i128::from(at.timestamp_subsec_nanos())
}

/// The instant `nanos` nanoseconds after the epoch, if chrono can hold it.
fn from_nanos(nanos: i128) -> Option<DateTime<Utc>> {
    let seconds = i64::try_from(nanos.div_euclid(NANOS_PER_SECOND)).ok()?;
    let subsec = u32::try_from(nanos.rem_euclid(NANOS_PER_SECOND)).ok()?;
    DateTime::from_timestamp(seconds, subsec)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone as _, Weekday};

    use super::super::hours::parse_hours;
    use super::*;

    const BERLIN: &str = "Europe/Berlin";
    const SHANGHAI: &str = "Asia/Shanghai";

    fn hours(text: &str) -> Vec<Interval> {
        parse_hours(text).unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn dates(texts: &[&str]) -> Vec<NaiveDate> {
        texts.iter().map(|text| date(text)).collect()
    }

    /// A wall-clock time in a zone, read as jiff reads it by default.
    fn local(zone: &str, text: &str) -> DateTime<Utc> {
        let civil: civil::DateTime = text.parse().unwrap();
        let ts = civil.to_zoned(TimeZone::get(zone).unwrap()).unwrap().timestamp();
        DateTime::from_timestamp(ts.as_second(), 0).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// Monday to Friday with the same hours, weekends off.
    fn office(zone: &str, day: &str, holidays: &[NaiveDate], extra: &[NaiveDate]) -> Calendar {
        let workday = hours(day);
        let week = [0, 1, 2, 3, 4, 5, 6].map(|i| if i < 5 { workday.clone() } else { Vec::new() });
        Calendar::new(zone, week, holidays, extra).unwrap()
    }

    fn every_day(zone: &str, day: &str) -> Calendar {
        Calendar::new(zone, std::array::from_fn(|_| hours(day)), &[], &[]).unwrap()
    }

    #[test]
    fn an_unknown_zone_is_refused() {
        let week: [Vec<Interval>; 7] = Default::default();
        assert_eq!(Calendar::new("Mars/Olympus", week.clone(), &[], &[]).unwrap_err(), CalendarError::UnknownZone);
        assert_eq!(Calendar::new("", week.clone(), &[], &[]).unwrap_err(), CalendarError::UnknownZone);
        assert!(Calendar::new("UTC", week, &[], &[]).is_ok());
    }

    #[test]
    fn the_weekend_is_skipped() {
        let calendar = office(SHANGHAI, "09:00-18:00", &[], &[]);
        let friday = local(SHANGHAI, "2026-05-15T17:00");
        assert_eq!(date("2026-05-15").weekday(), Weekday::Fri);
        let monday = local(SHANGHAI, "2026-05-18T10:00");
        assert_eq!(calendar.add_working(friday, 2 * 3600), Some(monday));
        assert_eq!(calendar.working_seconds(friday, monday), 2 * 3600);
        assert!(!calendar.is_working_day(date("2026-05-16")));
        assert!(!calendar.is_working_day(date("2026-05-17")));
        assert!(calendar.is_working_day(date("2026-05-18")));
    }

    #[test]
    fn national_day_is_skipped_and_the_saturday_after_is_worked() {
        let holidays = date("2026-10-01").iter_days().take(7).collect::<Vec<_>>();
        let extra = dates(&["2026-10-10"]);
        assert_eq!(date("2026-10-10").weekday(), Weekday::Sat);
        let calendar = office(SHANGHAI, "09:00-12:00, 13:00-18:00", &holidays, &extra);

        // One hour on the eve of the holiday, the other on the first day back.
        let eve = local(SHANGHAI, "2026-09-30T17:00");
        let back = local(SHANGHAI, "2026-10-08T10:00");
        assert_eq!(calendar.add_working(eve, 2 * 3600), Some(back));
        assert_eq!(calendar.working_seconds(eve, back), 2 * 3600);
        assert_eq!(
            calendar.working_seconds(local(SHANGHAI, "2026-10-01T00:00"), local(SHANGHAI, "2026-10-08T00:00")),
            0
        );

        // From Friday afternoon, the next working hour is on the Saturday.
        let friday = local(SHANGHAI, "2026-10-09T17:00");
        assert_eq!(calendar.add_working(friday, 2 * 3600), Some(local(SHANGHAI, "2026-10-10T10:00")));
        assert!(calendar.is_working_day(date("2026-10-10")));
        assert!(!calendar.is_working_day(date("2026-10-11")));
        assert!(!calendar.is_working_day(date("2026-10-03")));
    }

    #[test]
    fn an_extra_working_day_takes_the_hours_of_the_first_day_that_has_any() {
        let mut week: [Vec<Interval>; 7] = Default::default();
        week[1] = hours("08:00-12:00");
        week[2] = hours("10:00-16:00");
        let extra = dates(&["2026-10-10", "2026-10-14"]);
        let calendar = Calendar::new(SHANGHAI, week, &[], &extra).unwrap();
        // Saturday works Tuesday's hours; a Wednesday listed as extra keeps its own.
        let saturday = local(SHANGHAI, "2026-10-10T00:00");
        assert_eq!(calendar.add_working(saturday, 3600), Some(local(SHANGHAI, "2026-10-10T09:00")));
        assert_eq!(calendar.working_seconds(saturday, local(SHANGHAI, "2026-10-11T00:00")), 4 * 3600);
        let wednesday = local(SHANGHAI, "2026-10-14T00:00");
        assert_eq!(calendar.working_seconds(wednesday, local(SHANGHAI, "2026-10-15T00:00")), 6 * 3600);
    }

    #[test]
    fn a_holiday_beats_an_extra_working_day() {
        let both = dates(&["2026-10-10"]);
        let calendar = office(SHANGHAI, "09:00-18:00", &both, &both);
        assert!(!calendar.is_working_day(date("2026-10-10")));
        let saturday = local(SHANGHAI, "2026-10-10T00:00");
        assert_eq!(calendar.working_seconds(saturday, local(SHANGHAI, "2026-10-11T00:00")), 0);
        assert_eq!(calendar.add_working(saturday, 60), Some(local(SHANGHAI, "2026-10-12T09:01")));
    }

    #[test]
    fn the_lunch_break_is_not_counted() {
        let calendar = office(SHANGHAI, "09:00-12:00, 13:30-18:00", &[], &[]);
        let eleven = local(SHANGHAI, "2026-05-19T11:00");
        assert_eq!(calendar.add_working(eleven, 2 * 3600), Some(local(SHANGHAI, "2026-05-19T14:30")));
        assert_eq!(calendar.working_seconds(eleven, local(SHANGHAI, "2026-05-19T14:30")), 2 * 3600);
        // Time that runs out at noon ends at noon, not when work resumes.
        assert_eq!(calendar.add_working(eleven, 3600), Some(local(SHANGHAI, "2026-05-19T12:00")));
        let lunch = local(SHANGHAI, "2026-05-19T12:30");
        assert_eq!(calendar.add_working(lunch, 3600), Some(local(SHANGHAI, "2026-05-19T14:30")));
        assert_eq!(calendar.working_seconds(lunch, local(SHANGHAI, "2026-05-19T13:30")), 0);
    }

    #[test]
    fn work_runs_on_across_midnight() {
        let calendar = every_day(SHANGHAI, "00:00-02:00, 22:00-24:00");
        let late = local(SHANGHAI, "2026-05-18T23:00");
        assert_eq!(calendar.add_working(late, 2 * 3600), Some(local(SHANGHAI, "2026-05-19T01:00")));
        assert_eq!(calendar.add_working(late, 3600), Some(local(SHANGHAI, "2026-05-19T00:00")));
        assert_eq!(calendar.working_seconds(late, local(SHANGHAI, "2026-05-19T01:00")), 2 * 3600);
        assert_eq!(calendar.working_seconds(late, local(SHANGHAI, "2026-05-19T22:30")), 3 * 3600 + 1800);
    }

    #[test]
    fn an_interval_across_a_dst_change_lasts_its_real_length() {
        let calendar = every_day(BERLIN, "01:00-04:00");
        let day = |d: &str| {
            calendar.working_seconds(local(BERLIN, &format!("{d}T00:00")), local(BERLIN, &format!("{d}T12:00")))
        };
        assert_eq!(day("2026-03-28"), 3 * 3600);
        // Spring forward: 02:00 becomes 03:00.
        assert_eq!(day("2026-03-29"), 2 * 3600);
        // Fall back: 02:00-03:00 happens twice.
        assert_eq!(day("2026-10-25"), 4 * 3600);
        assert_eq!(
            calendar.working_seconds(utc("2026-10-24T23:00:00Z"), utc("2026-10-25T03:00:00Z")),
            4 * 3600,
            "01:00 CEST to 04:00 CET"
        );
        // Halfway through the spring day: 01:00 CET plus an hour is 03:00 CEST.
        let start = local(BERLIN, "2026-03-29T01:00");
        assert_eq!(start, utc("2026-03-29T00:00:00Z"));
        assert_eq!(calendar.add_working(start, 3600), Some(utc("2026-03-29T01:00:00Z")));
        assert_eq!(calendar.add_working(start, 2 * 3600), Some(utc("2026-03-29T02:00:00Z")));
        assert_eq!(calendar.add_working(start, 2 * 3600 + 1), Some(utc("2026-03-29T23:00:01Z")));
        // On the autumn day the second 02:30 is an hour after the first, and both are worked.
        let first = utc("2026-10-25T00:30:00Z");
        assert_eq!(calendar.add_working(first, 3600), Some(utc("2026-10-25T01:30:00Z")));
        assert_eq!(calendar.add_working(first, 2 * 3600 + 1800), Some(utc("2026-10-25T03:00:00Z")));
        assert_eq!(calendar.add_working(first, 3 * 3600), Some(utc("2026-10-26T00:30:00Z")));

        // An interval starting in the repeated hour starts at its first occurrence; one starting
        // in the skipped hour starts an hour later on the wall clock.
        let calendar = every_day(BERLIN, "02:30-04:00");
        assert_eq!(calendar.working_seconds(utc("2026-10-24T12:00:00Z"), utc("2026-10-25T12:00:00Z")), 150 * 60);
        assert_eq!(calendar.working_seconds(utc("2026-03-28T12:00:00Z"), utc("2026-03-29T12:00:00Z")), 30 * 60);
        assert_eq!(calendar.working_seconds(utc("2026-05-01T12:00:00Z"), utc("2026-05-02T12:00:00Z")), 90 * 60);
    }

    #[test]
    fn wall_clock_times_in_the_skipped_hour_are_read_forward_and_not_counted_twice() {
        let calendar = every_day(BERLIN, "02:00-02:30, 03:00-04:00");
        let spring = local(BERLIN, "2026-03-29T00:00");
        // 02:00-02:30 is read as 03:00-03:30 CEST, inside 03:00-04:00.
        assert_eq!(calendar.working_seconds(spring, spring + Duration::hours(12)), 3600);
        assert_eq!(calendar.add_working(spring, 1), Some(utc("2026-03-29T01:00:01Z")));
        let ordinary = local(BERLIN, "2026-03-30T00:00");
        assert_eq!(calendar.working_seconds(ordinary, ordinary + Duration::hours(12)), 90 * 60);
    }

    #[test]
    fn a_date_the_zone_skipped_has_no_working_time() {
        // Samoa moved across the date line: 2011-12-29 was followed by 2011-12-31. Read forward,
        // the hours of the 30th would be the hours of the 31st a second time.
        let apia = "Pacific/Apia";
        let calendar = every_day(apia, "09:00-18:00");
        let (thursday, saturday) = (local(apia, "2011-12-29T00:00"), local(apia, "2012-01-01T00:00"));
        assert_eq!(saturday - thursday, Duration::days(2));
        assert_eq!(calendar.working_seconds(thursday, saturday), 2 * 9 * 3600);
        let evening = local(apia, "2011-12-29T17:00");
        assert_eq!(calendar.add_working(evening, 2 * 3600), Some(local(apia, "2011-12-31T10:00")));
    }

    #[test]
    fn adding_working_time_crosses_a_dst_change_over_the_weekend() {
        let calendar = office(BERLIN, "09:00-18:00", &[], &[]);
        // Friday CET to Monday CEST, and Friday CEST to Monday CET.
        let spring = local(BERLIN, "2026-03-27T17:00");
        assert_eq!(spring, utc("2026-03-27T16:00:00Z"));
        assert_eq!(calendar.add_working(spring, 2 * 3600), Some(utc("2026-03-30T08:00:00Z")));
        let autumn = local(BERLIN, "2026-10-23T17:00");
        assert_eq!(autumn, utc("2026-10-23T15:00:00Z"));
        assert_eq!(calendar.add_working(autumn, 2 * 3600), Some(utc("2026-10-26T09:00:00Z")));
        // Around the clock, a day of working time from Saturday noon reaches Sunday 13:00 in
        // spring (a 23-hour day) and Sunday 11:00 in autumn (a 25-hour day).
        let always = every_day(BERLIN, "00:00-24:00");
        let day = 24 * 3600;
        assert_eq!(always.add_working(local(BERLIN, "2026-03-28T12:00"), day), Some(local(BERLIN, "2026-03-29T13:00")));
        assert_eq!(always.add_working(local(BERLIN, "2026-10-24T12:00"), day), Some(local(BERLIN, "2026-10-25T11:00")));
    }

    #[test]
    fn a_week_without_hours_never_gets_there() {
        let none: [Vec<Interval>; 7] = Default::default();
        let calendar = Calendar::new(SHANGHAI, none.clone(), &[], &[]).unwrap();
        let now = utc("2026-05-18T01:00:00Z");
        assert_eq!(calendar.add_working(now, 1), None);
        assert_eq!(calendar.working_seconds(now, now + Duration::days(3650)), 0);
        // Only extra working days, with no weekday to borrow hours from: still nothing.
        let calendar = Calendar::new(SHANGHAI, none, &[], &dates(&["2026-05-19"])).unwrap();
        assert!(!calendar.is_working_day(date("2026-05-19")));
        assert_eq!(calendar.add_working(now, 1), None);
        // A minute a week runs out of years for a year's worth of minutes.
        let mut week: [Vec<Interval>; 7] = Default::default();
        week[0] = hours("09:00-09:01");
        let sparse = Calendar::new(SHANGHAI, week, &[], &[]).unwrap();
        assert_eq!(sparse.add_working(now, 60 * 530), None);
        assert!(sparse.add_working(now, 60 * 520).is_some());
    }

    #[test]
    fn the_search_stops_ten_years_on() {
        let always = every_day("UTC", "00:00-24:00");
        let from = utc("2026-05-18T07:30:00Z");
        let ten_years = (utc("2036-05-18T07:30:00Z") - from).num_seconds();
        assert_eq!(always.add_working(from, ten_years), Some(utc("2036-05-18T07:30:00Z")));
        assert_eq!(always.add_working(from, ten_years + 1), None);
    }

    #[test]
    fn adding_nothing_is_the_same_instant() {
        let calendar = office(SHANGHAI, "09:00-18:00", &[], &[]);
        let sunday = utc("2026-05-17T03:04:05.678Z");
        assert_eq!(calendar.add_working(sunday, 0), Some(sunday));
        assert_eq!(calendar.add_working(sunday, -60), Some(sunday));
        let none: [Vec<Interval>; 7] = Default::default();
        assert_eq!(Calendar::new(SHANGHAI, none, &[], &[]).unwrap().add_working(sunday, 0), Some(sunday));
    }

    #[test]
    fn from_inside_or_outside_working_hours() {
        let calendar = office(SHANGHAI, "09:00-18:00", &[], &[]);
        let at = |text: &str| local(SHANGHAI, text);
        assert_eq!(calendar.add_working(at("2026-05-19T10:00"), 3600), Some(at("2026-05-19T11:00")));
        assert_eq!(calendar.add_working(at("2026-05-19T07:00"), 3600), Some(at("2026-05-19T10:00")));
        assert_eq!(calendar.add_working(at("2026-05-19T20:00"), 3600), Some(at("2026-05-20T10:00")));
        assert_eq!(calendar.add_working(at("2026-05-19T17:30"), 3600), Some(at("2026-05-20T09:30")));
        assert_eq!(calendar.working_seconds(at("2026-05-19T07:00"), at("2026-05-19T20:00")), 9 * 3600);
        assert_eq!(calendar.working_seconds(at("2026-05-19T12:00"), at("2026-05-19T11:00")), 0);
    }

    #[test]
    fn fractions_of_a_second_are_kept_and_the_count_rounds_down() {
        let calendar = office(SHANGHAI, "09:00-18:00", &[], &[]);
        let from = local(SHANGHAI, "2026-05-19T10:00") + Duration::milliseconds(500);
        assert_eq!(calendar.add_working(from, 1), Some(from + Duration::seconds(1)));
        assert_eq!(calendar.working_seconds(from, from + Duration::milliseconds(1999)), 1);
        assert_eq!(calendar.working_seconds(from, from + Duration::milliseconds(999)), 0);
        let late = local(SHANGHAI, "2026-05-19T17:59:59") + Duration::milliseconds(500);
        assert_eq!(
            calendar.add_working(late, 1),
            Some(local(SHANGHAI, "2026-05-20T09:00") + Duration::milliseconds(500))
        );
    }

    #[test]
    fn messy_intervals_are_tidied() {
        let messy = vec![
            Interval { start: 780, end: 1080 },
            Interval { start: 540, end: 720 },
            Interval { start: 600, end: 700 },
            Interval { start: 720, end: 750 },
            Interval { start: 900, end: 900 },
            Interval { start: 1000, end: 800 },
            Interval { start: 1400, end: 2000 },
        ];
        let calendar = Calendar::new(SHANGHAI, std::array::from_fn(|_| messy.clone()), &[], &[]).unwrap();
        let tidy = every_day(SHANGHAI, "09:00-12:30, 13:00-18:00, 23:20-24:00");
        let from = local(SHANGHAI, "2026-05-18T00:00");
        for hours in [1, 5, 30, 100] {
            let to = from + Duration::hours(hours);
            assert_eq!(calendar.working_seconds(from, to), tidy.working_seconds(from, to));
        }
        assert_eq!(calendar.working_seconds(from, from + Duration::days(1)), (210 + 300 + 40) * 60);
    }

    #[test]
    fn far_away_instants_do_not_panic() {
        let calendar = office(SHANGHAI, "09:00-18:00", &[], &[]);
        let max = DateTime::<Utc>::MAX_UTC;
        let min = DateTime::<Utc>::MIN_UTC;
        assert_eq!(calendar.add_working(max, 1), None);
        assert_eq!(calendar.working_seconds(max - Duration::days(2), max), 0);
        assert_eq!(calendar.working_seconds(min, min + Duration::days(2)), 0);
        let near_end = Utc.with_ymd_and_hms(9999, 12, 20, 0, 0, 0).unwrap();
        assert!(calendar.working_seconds(near_end, near_end + Duration::days(7)) > 0);
    }

    mod properties {
        use chrono::Duration;
        use proptest::prelude::*;

        use super::super::*;

        const ZONES: [&str; 2] = ["Europe/Berlin", "Asia/Shanghai"];

        /// Berlin's DST changes in the years the instants are drawn from.
        const DST_DAYS: [&str; 8] = [
            "2024-03-31",
            "2024-10-27",
            "2025-03-30",
            "2025-10-26",
            "2026-03-29",
            "2026-10-25",
            "2027-03-28",
            "2027-10-31",
        ];

        /// Where the random instants and dates start.
        fn epoch() -> DateTime<Utc> {
            "2024-01-01T00:00:00Z".parse().unwrap()
        }

        /// Hours of one day: sorted, disjoint intervals, with bounds often on the half hour so
        /// that they hit DST changes at 02:00 and 03:00.
        fn day_hours() -> impl Strategy<Value = Vec<Interval>> {
            let bound = prop_oneof![0..=DAY_MINUTES, (0..=48u16).prop_map(|half_hours| half_hours * 30)];
            proptest::collection::btree_set(bound, 0..7).prop_map(|bounds| {
                let bounds: Vec<Minutes> = bounds.into_iter().collect();
                bounds.chunks_exact(2).map(|pair| Interval { start: pair[0], end: pair[1] }).collect()
            })
        }

        /// Fewer than `count` dates within four years of the epoch.
        fn days_since_epoch(count: usize) -> impl Strategy<Value = Vec<NaiveDate>> {
            proptest::collection::vec(0u64..4 * 366, 0..count)
                .prop_map(|days| days.into_iter().map(|d| epoch().date_naive() + chrono::Days::new(d)).collect())
        }

        prop_compose! {
            fn calendars()(
                zone in proptest::sample::select(&ZONES[..]),
                week in proptest::array::uniform7(day_hours()),
                holidays in days_since_epoch(60),
                extra in days_since_epoch(20),
            ) -> (Calendar, Vec<NaiveDate>) {
                (Calendar::new(zone, week, &holidays, &extra).unwrap(), holidays)
            }
        }

        /// An instant within four years, to the second, often close to a DST change.
        fn instants() -> impl Strategy<Value = DateTime<Utc>> {
            prop_oneof![
                (0i64..4 * 366 * 86_400).prop_map(|s| epoch() + Duration::seconds(s)),
                (proptest::sample::select(&DST_DAYS[..]), -2 * 86_400..2 * 86_400i64).prop_map(|(day, s)| {
                    format!("{day}T00:00:00Z").parse::<DateTime<Utc>>().unwrap() + Duration::seconds(s)
                }),
            ]
        }

        /// An instant that may carry a fraction of a second.
        fn fine_instants() -> impl Strategy<Value = DateTime<Utc>> {
            (instants(), prop_oneof![Just(0i64), 0i64..1_000_000_000])
                .prop_map(|(at, nanos)| at + Duration::nanoseconds(nanos))
        }

        /// Three instants in order, at most a few months apart, to the second or finer.
        fn ordered(fine: bool) -> impl Strategy<Value = (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>)> {
            let unit = if fine { 1 } else { 1_000_000_000 };
            let gap =
                move || (0i64..100 * 86_400_000_000_000 / unit).prop_map(move |n| Duration::nanoseconds(n * unit));
            (if fine { fine_instants().boxed() } else { instants().boxed() }, gap(), gap())
                .prop_map(|(a, x, y)| (a, a + x, a + x + y))
        }

        /// Up to about 60 working days of eight hours.
        fn amounts() -> impl Strategy<Value = i64> {
            prop_oneof![0i64..4 * 3600, 0i64..60 * 8 * 3600]
        }

        /// Working seconds in `[from, to)` by brute force, from the definition: each date's
        /// intervals read with `to_zoned`, cut to the date, and a second counted when any span
        /// covers it. Only for whole-second instants.
        fn brute_force(calendar: &Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
            let tz = calendar.zone.clone();
            let at = |date: NaiveDate, minute: Minutes| {
                let (date, minute) = if minute == DAY_MINUTES { (date.succ_opt().unwrap(), 0) } else { (date, minute) };
                let text = format!("{date}T{:02}:{:02}", minute / 60, minute % 60);
                let civil: civil::DateTime = text.parse().unwrap();
                civil.to_zoned(tz.clone()).unwrap().timestamp().as_second()
            };
            let mut spans = Vec::new();
            let first = from.date_naive() - chrono::Days::new(2);
            for date in first.iter_days().take_while(|d| *d <= to.date_naive() + chrono::Days::new(2)) {
                for interval in calendar.hours_on(date) {
                    let (day_start, day_end) = (at(date, 0), at(date, DAY_MINUTES));
                    spans.push((at(date, interval.start).max(day_start), at(date, interval.end).min(day_end)));
                }
            }
            // Count by minutes where no span edge falls inside the minute, by seconds elsewhere.
            let mut total = 0;
            let mut second = from.timestamp();
            while second < to.timestamp() {
                let whole_minute = second % 60 == 0
                    && second + 60 <= to.timestamp()
                    && spans
                        .iter()
                        .all(|&(s, e)| (s <= second || s >= second + 60) && (e <= second || e >= second + 60));
                let step = if whole_minute { 60 } else { 1 };
                if spans.iter().any(|&(s, e)| s <= second && second < e) {
                    total += step;
                }
                second += step;
            }
            total
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn adding_then_measuring_gives_back_the_amount(
                (calendar, _) in calendars(), from in fine_instants(), seconds in amounts(),
            ) {
                match calendar.add_working(from, seconds) {
                    Some(to) => {
                        prop_assert!(to >= from);
                        prop_assert_eq!(calendar.working_seconds(from, to), seconds);
                    }
                    None => {
                        let horizon = from.checked_add_months(HORIZON).unwrap();
                        prop_assert!(calendar.working_seconds(from, horizon) < seconds);
                    }
                }
            }

            #[test]
            fn the_instant_found_is_the_earliest(
                (calendar, _) in calendars(), from in fine_instants(), seconds in 1i64..60 * 8 * 3600,
            ) {
                if let Some(to) = calendar.add_working(from, seconds) {
                    prop_assert!(to > from);
                    prop_assert!(calendar.working_seconds(from, to - Duration::nanoseconds(1)) < seconds);
                    prop_assert!(calendar.working_seconds(from, to - Duration::seconds(1)) < seconds);
                }
            }

            #[test]
            fn working_time_adds_up((calendar, _) in calendars(), (a, b, c) in ordered(false)) {
                prop_assert_eq!(calendar.working_seconds(a, c), calendar.working_seconds(a, b) + calendar.working_seconds(b, c));
            }

            #[test]
            fn with_fractions_working_time_adds_up_to_within_a_second(
                (calendar, _) in calendars(), (a, b, c) in ordered(true),
            ) {
                let whole = calendar.working_seconds(a, c);
                let parts = calendar.working_seconds(a, b) + calendar.working_seconds(b, c);
                prop_assert!(parts == whole || parts + 1 == whole, "{} vs {}", parts, whole);
            }

            #[test]
            fn holidays_have_no_working_time((calendar, holidays) in calendars()) {
                let tz = calendar.zone.clone();
                for holiday in holidays {
                    let midnight = |d: NaiveDate| {
                        let civil: civil::DateTime = format!("{d}T00:00").parse().unwrap();
                        let ts = civil.to_zoned(tz.clone()).unwrap().timestamp();
                        DateTime::from_timestamp(ts.as_second(), 0).unwrap()
                    };
                    let (start, end) = (midnight(holiday), midnight(holiday.succ_opt().unwrap()));
                    prop_assert!(!calendar.is_working_day(holiday));
                    prop_assert_eq!(calendar.working_seconds(start, end), 0, "{}", holiday);
                    prop_assert_eq!(calendar.working_seconds(start - Duration::days(1), end), calendar.working_seconds(start - Duration::days(1), start));
                }
            }

            #[test]
            fn more_time_never_means_less_work(
                (calendar, _) in calendars(), (a, b, c) in ordered(true), s in amounts(), t in amounts(),
            ) {
                prop_assert!(calendar.working_seconds(a, b) <= calendar.working_seconds(a, c));
                prop_assert!(calendar.working_seconds(b, c) <= calendar.working_seconds(a, c));
                prop_assert!(calendar.working_seconds(a, c) <= (c - a).num_seconds());
                let (s, t) = (s.min(t), s.max(t));
                if let (Some(earlier), Some(later)) = (calendar.add_working(a, s), calendar.add_working(a, t)) {
                    prop_assert!(earlier <= later);
                }
                if let (Some(earlier), Some(later)) = (calendar.add_working(a, s), calendar.add_working(b, s)) {
                    prop_assert!(earlier <= later);
                }
            }

            #[test]
            fn working_time_matches_a_count_second_by_second(
                (calendar, _) in calendars(), from in instants(), length in 0i64..3 * 86_400,
            ) {
                let to = from + Duration::seconds(length);
                prop_assert_eq!(calendar.working_seconds(from, to), brute_force(&calendar, from, to));
            }
        }
    }
}
