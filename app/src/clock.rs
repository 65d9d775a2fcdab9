//! Times as people read them: in their own time zone, with how long ago, and the zone in reach.
//!
//! Times are stored and sent in UTC (RFC 3339). A page shows them in the zone of the user who
//! reads it: the one they chose on their account page, else the installation's
//! (`BATON_TIME_ZONE`, default Asia/Shanghai). When the user has not chosen one, the page's loader
//! shows the same times in the browser's own zone once the page is interactive (`islands.js`
//! rewrites every `time[data-local]`); forms that take a time carry that zone along
//! ([`ZONE_FIELD`]), so what a user types is read in the zone they see.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::i18n::{fill, use_i18n, Strings};

/// The zone used when neither the user nor the configuration names one.
pub const DEFAULT_ZONE: &str = "Asia/Shanghai";

/// The hidden form field carrying the zone a typed time is meant in. Its value starts as the
/// page's zone; in the browser, the loader sets the browser's zone when the user chose none.
pub const ZONE_FIELD: &str = "zone";

/// The zone the times of this render are shown in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownZone {
    /// IANA name, e.g. `Asia/Shanghai`.
    pub name: String,
    /// The user chose it; otherwise the browser's zone replaces it once the page is interactive.
    pub chosen: bool,
}

/// How long ago something happened, in whole units, as a hint beside a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ago {
    /// Less than a minute ago.
    JustNow,
    /// Minutes ago (1–59).
    Minutes(i64),
    /// Hours ago (1–47).
    Hours(i64),
    /// Days ago (2 and more).
    Days(i64),
}

impl Ago {
    /// The hint for something `seconds` ago; `None` for the future.
    pub fn from_seconds(seconds: i64) -> Option<Self> {
        match seconds {
            s if s < 0 => None,
            s if s < 60 => Some(Ago::JustNow),
            s if s < 3600 => Some(Ago::Minutes(s / 60)),
            s if s < 48 * 3600 => Some(Ago::Hours(s / 3600)),
            s => Some(Ago::Days(s / 86_400)),
        }
    }

    /// The hint in the reader's language ("3 h ago", "3 小时前").
    pub fn text(self, t: &'static Strings) -> String {
        match self {
            Ago::JustNow => t.ago_just_now.to_owned(),
            Ago::Minutes(n) => fill(t.ago_minutes, &[("n", &n.to_string())]),
            Ago::Hours(n) => fill(t.ago_hours, &[("n", &n.to_string())]),
            Ago::Days(n) => fill(t.ago_days, &[("n", &n.to_string())]),
        }
    }
}

/// Puts the zone of this render in place: the user's chosen zone, else the installation's.
pub fn provide_zone() -> ShownZone {
    let zone = initial_zone();
    provide_context(zone.clone());
    zone
}

/// The zone provided by [`provide_zone`] (the installation default outside a render).
pub fn use_zone() -> ShownZone {
    use_context::<ShownZone>().unwrap_or_else(provide_zone)
}

#[cfg(feature = "ssr")]
fn initial_zone() -> ShownZone {
    let parts = use_context::<http::request::Parts>();
    let chosen = parts
        .as_ref()
        .and_then(|p| p.extensions.get::<crate::auth::CurrentUser>())
        .and_then(|u| u.me.time_zone.clone())
        .filter(|name| zone::is_known(name));
    match chosen {
        Some(name) => ShownZone { name, chosen: true },
        None => {
            let name = use_context::<crate::state::AppState>()
                .map(|state| state.config.time_zone.clone())
                .unwrap_or_else(|| DEFAULT_ZONE.to_owned());
            ShownZone { name, chosen: false }
        }
    }
}

#[cfg(not(feature = "ssr"))]
fn initial_zone() -> ShownZone {
    ShownZone { name: DEFAULT_ZONE.to_owned(), chosen: false }
}

/// A time in the reader's zone, `2026-12-01 18:45`, with the zone and offset on hover (and on
/// long-press, as the element's title) and, with `ago`, how long ago beside it.
#[component]
pub fn LocalTime(
    /// RFC 3339, UTC.
    #[prop(into)]
    at: String,
    /// Adds "(3 h ago)".
    #[prop(optional)]
    ago: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let shown = use_zone();
    let local = local_parts(&at, &shown.name);
    // Built by hand rather than with `format!`, for the same reason as `zone::local`.
    let mut title = String::with_capacity(local.text.len() + shown.name.len() + local.offset.len() + 7);
    for part in [&local.text, " ", &shown.name, " (UTC", &local.offset, ")"] {
        title.push_str(part);
    }
    let hint = ago.then(|| seconds_since(&at).and_then(Ago::from_seconds)).flatten().map(|a| {
        let mut text = a.text(i18n.t());
        text.insert(0, '(');
        text.push(')');
        view! { " " <span class="hint time-ago">{text}</span> }
    });
    // Type-erased: times sit deep inside large page views, whose types would otherwise nest too
    // deeply for the compiler.
    view! {
        <time datetime=at data-local="" title=title>{local.text}</time>
        {hint}
    }
    .into_any()
}

/// The hidden [`ZONE_FIELD`] of a form that takes a time: the page's zone, marked for the loader
/// to replace with the device's when the user chose none.
#[component]
pub fn ZoneField() -> impl IntoView {
    let zone = use_zone();
    let automatic = (!zone.chosen).then_some("");
    view! { <input type="hidden" name=ZONE_FIELD value=zone.name data-zone-auto=automatic /> }
}

/// The name of the page's zone, kept in step with the device's zone by the loader.
#[component]
pub fn ZoneName() -> impl IntoView {
    view! { <span data-zone-label="">{use_zone().name}</span> }
}

/// A time as shown: `2026-12-01 18:45` and its zone's offset then, `+08:00`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalParts {
    /// Date and time, to the minute.
    pub text: String,
    /// The zone's offset from UTC at that time.
    pub offset: String,
}

/// `at` (RFC 3339) in the zone named `zone`; the UTC text when either cannot be read.
pub fn local_parts(at: &str, zone: &str) -> LocalParts {
    #[cfg(feature = "ssr")]
    if let Some(parts) = zone::local(at, zone) {
        return parts;
    }
    let _ = zone;
    LocalParts { text: at.get(..16).map(|s| s.replace('T', " ")).unwrap_or_default(), offset: "+00:00".into() }
}

/// `at` in the zone named `zone`, followed by the zone's name: for text read outside the app
/// (emails), where nothing else says which zone a time is in.
pub fn with_zone_name(at: &str, zone: &str) -> String {
    format!("{} ({zone})", local_parts(at, zone).text)
}

#[cfg(feature = "ssr")]
fn seconds_since(at: &str) -> Option<i64> {
    let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    Some((chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_seconds())
}

#[cfg(not(feature = "ssr"))]
fn seconds_since(_at: &str) -> Option<i64> {
    None
}

/// Zone arithmetic on the server, with the bundled IANA database.
#[cfg(feature = "ssr")]
pub mod zone {
    use chrono::{DateTime, NaiveDate, Utc};
    use jiff::{civil, tz::TimeZone, Timestamp};

    use super::LocalParts;

    /// Whether `name` is an IANA zone this build knows.
    pub fn is_known(name: &str) -> bool {
        !name.is_empty() && TimeZone::get(name).is_ok()
    }

    /// The zone a reader sees times in: their own when it is set and known, else the
    /// installation's.
    pub fn of_reader(own: Option<&str>, installation: &str) -> String {
        own.filter(|z| is_known(z)).unwrap_or(installation).to_owned()
    }

    /// Every zone name, sorted, for a choice of zone.
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.as_str().to_owned()).collect();
        names.sort();
        names
    }

    /// `at` (RFC 3339) shown in `zone`.
    pub fn local(at: &str, zone: &str) -> Option<LocalParts> {
        let ts: Timestamp = at.parse().ok()?;
        let offset = TimeZone::get(zone).ok()?.to_offset(ts);
        let civil = offset.to_datetime(ts);
        // Written digit by digit: an incident page shows a few dozen times, and `strftime` and
        // `format!` cost several times what the rest of a time's conversion does.
        let mut text = String::with_capacity(16);
        push_padded(&mut text, i32::from(civil.year()).unsigned_abs(), 4);
        for (separator, value) in [('-', civil.month()), ('-', civil.day()), (' ', civil.hour()), (':', civil.minute())]
        {
            text.push(separator);
            push_padded(&mut text, value.unsigned_abs().into(), 2);
        }
        let seconds = offset.seconds();
        let mut shown = String::with_capacity(6);
        shown.push(if seconds < 0 { '-' } else { '+' });
        push_padded(&mut shown, seconds.unsigned_abs() / 3600, 2);
        shown.push(':');
        push_padded(&mut shown, seconds.unsigned_abs() / 60 % 60, 2);
        Some(LocalParts { text, offset: shown })
    }

    /// Appends `value` in decimal, with leading zeros up to `width` digits.
    fn push_padded(out: &mut String, value: u32, width: u32) {
        let digits = value.checked_ilog10().unwrap_or(0) + 1;
        out.extend(std::iter::repeat_n('0', width.saturating_sub(digits) as usize));
        let mut unit = 10u32.pow(digits - 1);
        while unit > 0 {
            out.push(char::from_digit(value / unit % 10, 10).unwrap_or('0'));
            unit /= 10;
        }
    }

    /// A wall-clock time typed in `zone` (`2026-05-20T14:30`, as a `datetime-local` field sends
    /// it) as the instant it names. A time skipped by a DST change is read forward, a repeated
    /// one as its first occurrence.
    pub fn parse_local(text: &str, zone: &str) -> Option<DateTime<Utc>> {
        let civil: civil::DateTime = text.trim().parse().ok()?;
        let zoned = civil.to_zoned(TimeZone::get(zone).ok()?).ok()?;
        let ts = zoned.timestamp();
        DateTime::from_timestamp(ts.as_second(), u32::try_from(ts.subsec_nanosecond()).ok()?)
    }

    /// `now` as a `datetime-local` value in `zone` (to the minute), to start such a field with.
    pub fn local_input_value(now: DateTime<Utc>, zone: &str) -> Option<String> {
        let ts = Timestamp::from_second(now.timestamp()).ok()?;
        Some(ts.to_zoned(TimeZone::get(zone).ok()?).strftime("%Y-%m-%dT%H:%M").to_string())
    }

    /// The calendar date in `zone` at `now`: "today" for a due date.
    pub fn today(now: DateTime<Utc>, zone: &str) -> Option<NaiveDate> {
        let ts = Timestamp::from_second(now.timestamp()).ok()?;
        let date = ts.to_zoned(TimeZone::get(zone).ok()?).date();
        NaiveDate::from_ymd_opt(
            i32::from(date.year()),
            u32::try_from(date.month()).ok()?,
            u32::try_from(date.day()).ok()?,
        )
    }
}

/// Where the server reads the time: the system clock in production, a clock tests move by hand
/// ([`ManualClock`]) so that nothing waits for real time to pass.
#[cfg(feature = "ssr")]
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// The system's clock.
#[cfg(feature = "ssr")]
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[cfg(feature = "ssr")]
impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

/// A clock that stands still until moved: for tests.
#[cfg(feature = "ssr")]
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

#[cfg(feature = "ssr")]
impl ManualClock {
    /// A clock showing `at`.
    pub fn at(at: chrono::DateTime<chrono::Utc>) -> Self {
        Self(std::sync::Mutex::new(at))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: chrono::DateTime<chrono::Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

#[cfg(feature = "ssr")]
impl Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_picks_the_largest_whole_unit_and_nothing_for_the_future() {
        assert_eq!(Ago::from_seconds(-5), None);
        assert_eq!(Ago::from_seconds(59), Some(Ago::JustNow));
        assert_eq!(Ago::from_seconds(60), Some(Ago::Minutes(1)));
        assert_eq!(Ago::from_seconds(3 * 3600 + 59), Some(Ago::Hours(3)));
        assert_eq!(Ago::from_seconds(47 * 3600), Some(Ago::Hours(47)));
        assert_eq!(Ago::from_seconds(3 * 86_400), Some(Ago::Days(3)));
        let en = crate::i18n::Locale::En.strings();
        let zh = crate::i18n::Locale::ZhCn.strings();
        assert_eq!(Ago::Hours(3).text(en), "3 h ago");
        assert_eq!(Ago::Hours(3).text(zh), "3 小时前");
    }

    #[cfg(feature = "ssr")]
    mod zones {
        use chrono::{NaiveDate, TimeZone as _, Utc};

        use super::super::{local_parts, with_zone_name, zone};

        #[test]
        fn a_utc_time_is_shown_in_the_readers_zone_with_its_offset() {
            let shanghai = local_parts("2026-05-20T19:21:00+00:00", "Asia/Shanghai");
            assert_eq!(shanghai.text, "2026-05-21 03:21");
            assert_eq!(shanghai.offset, "+08:00");
            // New York in summer and in winter: the offset follows daylight saving time.
            assert_eq!(local_parts("2026-07-01T12:00:00Z", "America/New_York").text, "2026-07-01 08:00");
            assert_eq!(local_parts("2026-01-01T12:00:00Z", "America/New_York").offset, "-05:00");
            // Offsets with minutes, on both sides of UTC; a time at midnight and in a new year.
            let kolkata = local_parts("2026-12-31T18:30:00Z", "Asia/Kolkata");
            assert_eq!((kolkata.text.as_str(), kolkata.offset.as_str()), ("2027-01-01 00:00", "+05:30"));
            let st_johns = local_parts("2026-01-05T10:09:00Z", "America/St_Johns");
            assert_eq!((st_johns.text.as_str(), st_johns.offset.as_str()), ("2026-01-05 06:39", "-03:30"));
            assert_eq!(local_parts("2026-05-20T19:21:00Z", "UTC").offset, "+00:00");
            assert_eq!(
                with_zone_name("2026-05-20T19:21:00+00:00", "Asia/Shanghai"),
                "2026-05-21 03:21 (Asia/Shanghai)"
            );
        }

        #[test]
        fn an_unknown_zone_or_time_falls_back_to_the_utc_text() {
            assert_eq!(local_parts("2026-05-20T19:21:00+00:00", "Mars/Olympus").text, "2026-05-20 19:21");
            assert!(!zone::is_known("Mars/Olympus"));
            assert!(!zone::is_known(""));
            assert!(zone::is_known("Europe/Berlin"));
            assert!(zone::names().iter().any(|n| n == "Asia/Shanghai"));
        }

        #[test]
        fn a_typed_time_is_read_in_the_zone_it_was_typed_in() {
            let at = zone::parse_local("2026-05-21T03:21", "Asia/Shanghai").unwrap();
            assert_eq!(at, Utc.with_ymd_and_hms(2026, 5, 20, 19, 21, 0).unwrap());
            // 02:30 does not exist in Berlin on 2026-03-29: it is read forward, as 03:30 CEST.
            let gap = zone::parse_local("2026-03-29T02:30", "Europe/Berlin").unwrap();
            assert_eq!(gap, Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap());
            assert_eq!(zone::parse_local("yesterday", "Asia/Shanghai"), None);
            assert_eq!(zone::parse_local("2026-05-21T03:21", "Nowhere"), None);
            let now = Utc.with_ymd_and_hms(2026, 5, 20, 19, 21, 30).unwrap();
            assert_eq!(zone::local_input_value(now, "Asia/Shanghai").as_deref(), Some("2026-05-21T03:21"));
            assert_eq!(zone::today(now, "Asia/Shanghai"), NaiveDate::from_ymd_opt(2026, 5, 21));
            assert_eq!(zone::today(now, "UTC"), NaiveDate::from_ymd_opt(2026, 5, 20));
        }
    }
}
