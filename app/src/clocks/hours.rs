//! Working time as admins type it: the hours of a day, and lists of holidays and extra working days.
//!
//! The settings keep these as plain text so that a timetable can be typed the way it is said
//! (`09:00-12:00, 13:30-18:00`) and a holiday notice can be pasted a date or a range per line.
//! Each format is parsed here into the values the working-time calendar uses and printed back in
//! a canonical form that parses to the same values, so a saved setting reads as what it means.

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// A minute of the day, counted from local midnight: `0..=1440`, where 1440 is the midnight
/// that ends the day (written `24:00`).
pub type Minutes = u16;

/// The minutes of a day, and the end of the last possible interval.
pub const DAY_MINUTES: Minutes = 24 * 60;

/// The longest range a day list accepts on one line, in days (both ends included).
pub const MAX_RANGE_DAYS: u64 = 366;

/// The most distinct dates a day list may hold.
pub const MAX_DAYS: usize = 3_000;

/// One working interval of a day, `[start, end)` in minutes since local midnight, with
/// `start < end <= 1440`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    /// First working minute.
    pub start: Minutes,
    /// The minute work stops, not itself worked; 1440 is the end of the day.
    pub end: Minutes,
}

/// Why the working hours of a day were not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoursProblem {
    /// A piece is not `HH:MM-HH:MM`, or a time is not a time of day (`25:00`, `12:60`, `24:30`).
    Malformed,
    /// An interval does not end after it starts (`18:00-09:00`, `12:00-12:00`); hours past
    /// midnight belong to the next day.
    Backwards,
    /// Two intervals share some minutes.
    Overlapping,
}

/// Separators between the intervals of a day: commas and semicolons, ASCII or full-width, and
/// the ideographic enumeration comma.
fn is_list_separator(c: char) -> bool {
    matches!(c, ',' | '，' | ';' | '；' | '、')
}

/// The dash between the two times of an interval. Text pasted from documents or typed with a
/// Chinese input method brings en and em dashes, tildes and full-width forms.
fn is_range_dash(c: char) -> bool {
    matches!(c, '-' | '–' | '—' | '－' | '~' | '～')
}

/// The working hours of a day as typed: `09:00-12:00, 13:30-18:00`, with `H:MM` also accepted,
/// full-width colons, commas and dashes too. An empty text or `-` is a day without working hours;
/// `24:00` ends a day that works until midnight. The intervals come back sorted by start;
/// intervals that touch (`09:00-12:00, 12:00-13:00`) are kept as typed.
pub fn parse_hours(text: &str) -> Result<Vec<Interval>, HoursProblem> {
    let text = text.trim();
    if text.is_empty() || text == "-" {
        return Ok(Vec::new());
    }
    let mut intervals = Vec::new();
    for piece in text.split(is_list_separator) {
        let piece = piece.trim();
        // A trailing or doubled comma is a typing slip, not a missing interval.
        if piece.is_empty() {
            continue;
        }
        let (start, end) = piece.split_once(is_range_dash).ok_or(HoursProblem::Malformed)?;
        let start = parse_time(start.trim()).ok_or(HoursProblem::Malformed)?;
        let end = parse_time(end.trim()).ok_or(HoursProblem::Malformed)?;
        if start >= end {
            return Err(HoursProblem::Backwards);
        }
        intervals.push(Interval { start, end });
    }
    intervals.sort_by_key(|interval| interval.start);
    if intervals.windows(2).any(|pair| pair[1].start < pair[0].end) {
        return Err(HoursProblem::Overlapping);
    }
    Ok(intervals)
}

/// `HH:MM` or `H:MM` (ASCII or full-width colon) as minutes since midnight; `24:00` is the end of
/// the day.
fn parse_time(text: &str) -> Option<Minutes> {
    let (hours, minutes) = text.split_once([':', '：'])?;
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&hours.len()) || minutes.len() != 2 || !all_digits(hours) || !all_digits(minutes) {
        return None;
    }
    let hours: Minutes = hours.parse().ok()?;
    let minutes: Minutes = minutes.parse().ok()?;
    if minutes > 59 || hours > 24 || (hours == 24 && minutes > 0) {
        return None;
    }
    Some(hours * 60 + minutes)
}

/// Minutes since midnight as `HH:MM`.
fn format_time(minutes: Minutes) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The working hours of a day as text, `09:00-12:00, 13:30-18:00`, and an empty text for a day
/// without any. What [`parse_hours`] returns prints back to a text it parses to the same value.
pub fn format_hours(intervals: &[Interval]) -> String {
    intervals
        .iter()
        .map(|interval| format!("{}-{}", format_time(interval.start), format_time(interval.end)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a line of a day list was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayProblem {
    /// Not a date (`YYYY-MM-DD`) nor a range of two.
    Malformed,
    /// A range ends before it starts.
    BackwardsRange,
    /// A range covers more than [`MAX_RANGE_DAYS`] days.
    RangeTooLong,
    /// The list would hold more than [`MAX_DAYS`] dates.
    TooMany,
}

/// Separators between the two ends of a range on one line. Dates contain `-`, so a dash can't be
/// one; `～` is what a Chinese input method gives for `~`.
const RANGE_SEPARATORS: [&str; 3] = ["..", "~", "～"];

/// A day list as admins type or paste it: one date or an inclusive range per line,
/// `2026-10-01` or `2026-10-01..2026-10-07` (also `2026-10-01 ~ 2026-10-07` and `～`), with `/`
/// also accepted between year, month and day. Blank lines and `#` comments, whole-line or
/// trailing, are ignored, as is whitespace around a line and its parts.
///
/// Gives the dates sorted and without repeats, or the 1-based number of the first line that is
/// wrong and what is wrong with it. A range covers at most [`MAX_RANGE_DAYS`] days; the list
/// holds at most [`MAX_DAYS`] distinct dates.
pub fn parse_days(text: &str) -> Result<Vec<NaiveDate>, (usize, DayProblem)> {
    let mut days = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.split_once(['#', '＃']).map_or(line, |(before, _)| before).trim();
        if line.is_empty() {
            continue;
        }
        let (first, last) = match RANGE_SEPARATORS.iter().find_map(|separator| line.split_once(separator)) {
            Some((first, last)) => (parse_date(first.trim()), parse_date(last.trim())),
            None => (parse_date(line), parse_date(line)),
        };
        let (Some(first), Some(last)) = (first, last) else {
            return Err((number, DayProblem::Malformed));
        };
        if last < first {
            return Err((number, DayProblem::BackwardsRange));
        }
        if last.signed_duration_since(first).num_days().unsigned_abs() >= MAX_RANGE_DAYS {
            return Err((number, DayProblem::RangeTooLong));
        }
        for day in first.iter_days().take_while(|day| *day <= last) {
            days.insert(day);
            if days.len() > MAX_DAYS {
                return Err((number, DayProblem::TooMany));
            }
        }
    }
    Ok(days.into_iter().collect())
}

/// `YYYY-MM-DD` or `YYYY/MM/DD`, month and day with or without a leading zero.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let separator = if text.contains('/') { '/' } else { '-' };
    let mut parts = text.split(separator);
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let digits = |part: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(year, 4..=4) || !digits(month, 1..=2) || !digits(day, 1..=2) {
        return None;
    }
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
}

/// Dates as a day list: consecutive dates collapsed to `first..last`, one date or range per line,
/// no trailing newline. The dates are sorted and repeats dropped first, and runs longer than
/// [`MAX_RANGE_DAYS`] are split, so the text always parses back to the same dates (as long as
/// there are at most [`MAX_DAYS`] of them).
pub fn format_days(days: &[NaiveDate]) -> String {
    let mut days = days.to_vec();
    days.sort_unstable();
    days.dedup();
    let mut lines = Vec::new();
    let mut rest = days.as_slice();
    while let Some(&first) = rest.first() {
        // The run continues while each date is the day after the one before it.
        let mut length = 1;
        while length < rest.len()
            && (length as u64) < MAX_RANGE_DAYS
            && first.checked_add_days(Days::new(length as u64)) == Some(rest[length])
        {
            length += 1;
        }
        let last = rest[length - 1];
        lines.push(if length == 1 { first.to_string() } else { format!("{first}..{last}") });
        rest = &rest[length..];
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Minutes, end: Minutes) -> Interval {
        Interval { start, end }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn hours_are_read_sorted_with_lunch_and_midnight() {
        assert_eq!(parse_hours("09:00-12:00, 13:30-18:00"), Ok(vec![at(540, 720), at(810, 1080)]));
        assert_eq!(parse_hours("13:30-18:00,9:00-12:00"), Ok(vec![at(540, 720), at(810, 1080)]));
        assert_eq!(parse_hours("  22:00 - 24:00 "), Ok(vec![at(1320, 1440)]));
        assert_eq!(parse_hours("00:00-24:00"), Ok(vec![at(0, 1440)]));
        // Full-width punctuation from a Chinese input method, and a trailing comma.
        assert_eq!(parse_hours("09：00－12：00，13：30～18：00，"), Ok(vec![at(540, 720), at(810, 1080)]));
        assert_eq!(parse_hours("09:00-12:00, 12:00-13:00"), Ok(vec![at(540, 720), at(720, 780)]));
    }

    #[test]
    fn no_text_or_a_dash_is_a_day_without_hours() {
        assert_eq!(parse_hours(""), Ok(vec![]));
        assert_eq!(parse_hours("  "), Ok(vec![]));
        assert_eq!(parse_hours("-"), Ok(vec![]));
        assert_eq!(format_hours(&[]), "");
    }

    #[test]
    fn bad_hours_say_what_is_wrong() {
        for text in ["9-17", "09:00", "09:00-", "25:00-26:00", "09:60-10:00", "24:30-24:45", "09:00-12:00-13:00"] {
            assert_eq!(parse_hours(text), Err(HoursProblem::Malformed), "{text}");
        }
        for text in ["x", "0900-1700", "09:0-10:00", "009:00-10:00", "+9:00-10:00", "09:00 12:00"] {
            assert_eq!(parse_hours(text), Err(HoursProblem::Malformed), "{text}");
        }
        assert_eq!(parse_hours("18:00-09:00"), Err(HoursProblem::Backwards));
        assert_eq!(parse_hours("12:00-12:00"), Err(HoursProblem::Backwards));
        assert_eq!(parse_hours("24:00-24:00"), Err(HoursProblem::Backwards));
        assert_eq!(parse_hours("09:00-12:00, 11:00-13:00"), Err(HoursProblem::Overlapping));
        assert_eq!(parse_hours("09:00-18:00, 12:00-13:00"), Err(HoursProblem::Overlapping));
    }

    #[test]
    fn hours_print_back_to_what_they_parse_from() {
        let intervals = vec![at(0, 5), at(540, 720), at(810, 1080), at(1320, 1440)];
        let text = format_hours(&intervals);
        assert_eq!(text, "00:00-00:05, 09:00-12:00, 13:30-18:00, 22:00-24:00");
        assert_eq!(parse_hours(&text), Ok(intervals));
    }

    #[test]
    fn day_lists_take_dates_ranges_comments_and_blank_lines() {
        let text = "# National Day\n2026-10-01..2026-10-07  # golden week\n\n  2026-01-01 \r\n2026-10-03\n2026-05-01 ~ 2026-05-03\n2026/6/19～2026/6/20\n";
        let mut expected: Vec<NaiveDate> = (1..=7).map(|d| date(2026, 10, d)).collect();
        expected.extend([date(2026, 1, 1), date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)]);
        expected.extend([date(2026, 6, 19), date(2026, 6, 20)]);
        expected.sort();
        assert_eq!(parse_days(text), Ok(expected));
        assert_eq!(parse_days(""), Ok(vec![]));
        assert_eq!(parse_days("# nothing yet"), Ok(vec![]));
        assert_eq!(parse_days("2026-10-01..2026-10-01"), Ok(vec![date(2026, 10, 1)]));
    }

    #[test]
    fn bad_day_lists_name_the_line_and_the_problem() {
        assert_eq!(parse_days("2026-10-01\n\n2026-13-01"), Err((3, DayProblem::Malformed)));
        assert_eq!(parse_days("2026-02-30"), Err((1, DayProblem::Malformed)));
        assert_eq!(parse_days("26-10-01"), Err((1, DayProblem::Malformed)));
        assert_eq!(parse_days("2026-10-01.."), Err((1, DayProblem::Malformed)));
        assert_eq!(parse_days("2026-10-01 2026-10-02"), Err((1, DayProblem::Malformed)));
        assert_eq!(parse_days("2026-10-01..2026-10-03..2026-10-05"), Err((1, DayProblem::Malformed)));
        assert_eq!(parse_days("ok\n"), Err((1, DayProblem::Malformed)));
        assert_eq!(parse_days("2026-10-01\n2026-10-07..2026-10-01"), Err((2, DayProblem::BackwardsRange)));
        // 366 days are fine (a leap year); 367 are not.
        assert_eq!(parse_days("2028-01-01..2028-12-31").map(|d| d.len()), Ok(366));
        assert_eq!(parse_days("2026-01-01..2027-01-02"), Err((1, DayProblem::RangeTooLong)));
        let many: String = (0..9).map(|y| format!("{}-01-01..{}-12-31\n", 2020 + y, 2020 + y)).collect();
        assert_eq!(parse_days(&many), Err((9, DayProblem::TooMany)));
        // Repeats don't count towards the limit.
        let repeated = "2028-01-01..2028-12-31\n".repeat(20);
        assert_eq!(parse_days(&repeated).map(|d| d.len()), Ok(366));
    }

    #[test]
    fn day_lists_print_runs_as_ranges_and_parse_back() {
        let days = vec![date(2026, 10, 8), date(2026, 1, 1), date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)];
        let text = format_days(&days);
        assert_eq!(text, "2026-01-01\n2026-10-01..2026-10-03\n2026-10-08");
        let mut sorted = days.clone();
        sorted.sort();
        assert_eq!(parse_days(&text), Ok(sorted));
        assert_eq!(format_days(&[]), "");
        // A run across a year end, and one longer than a range may be.
        assert_eq!(format_days(&[date(2026, 12, 31), date(2027, 1, 1)]), "2026-12-31..2027-01-01");
        let long: Vec<NaiveDate> = date(2026, 1, 1).iter_days().take(400).collect();
        let text = format_days(&long);
        assert_eq!(text, "2026-01-01..2027-01-01\n2027-01-02..2027-02-04");
        assert_eq!(parse_days(&text), Ok(long));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// Valid working hours: sorted, disjoint intervals drawn from distinct minute boundaries.
        fn hours() -> impl Strategy<Value = Vec<Interval>> {
            proptest::collection::btree_set(0..=DAY_MINUTES, 0..12).prop_map(|bounds| {
                let bounds: Vec<Minutes> = bounds.into_iter().collect();
                bounds.chunks_exact(2).map(|pair| Interval { start: pair[0], end: pair[1] }).collect()
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn hours_round_trip(intervals in hours()) {
                prop_assert_eq!(parse_hours(&format_hours(&intervals)), Ok(intervals));
            }

            #[test]
            fn day_lists_round_trip(offsets in proptest::collection::vec(0u64..1500, 0..400)) {
                let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
                let mut days: Vec<NaiveDate> = offsets.iter().map(|d| start + Days::new(*d)).collect();
                days.sort();
                days.dedup();
                prop_assert_eq!(parse_days(&format_days(&days)), Ok(days));
            }

            #[test]
            fn hours_parsing_never_panics(text in "[0-9:，,\\- ～]{0,30}") {
                let _ = parse_hours(&text);
            }
        }
    }
}
