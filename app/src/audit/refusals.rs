//! Repeated refusals of anonymous requests, coalesced: every kind stays in the audit log, at a
//! bounded cost.
//!
//! A cross-site post, a throttled sign-in or a bad intake token is refused before anyone is known,
//! and each used to append an audit entry: a script could grow the log (and hold its write lock)
//! as fast as it could send. Now the first refusal of a kind (event, reason, client address) in a
//! window is recorded as before; the repeats within that window are only counted here, and when
//! the window closes their count is recorded as one entry of the same event, with the first and
//! last time and what the last repeat was. The chain stays whole (summaries are ordinary entries),
//! and a flood from one address costs at most two entries per kind per window.
//!
//! The counts live in the process: several instances each coalesce their own requests, and a
//! crash loses the count of an open window (never the first refusal, which was recorded at once).

use std::{collections::HashMap, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};

use super::{store::Origin, Outcome};

/// Kinds tracked at once; past this, new addresses share one key per event and reason, so memory
/// stays bounded under a flood from many addresses.
const MAX_KEYS: usize = 10_000;
/// The address recorded for refusals coalesced over many addresses.
pub const MANY_ADDRESSES: &str = "many addresses";

/// What makes refusals alike.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    event: &'static str,
    reason: String,
    addr: String,
}

/// A refusal as it would be recorded.
#[derive(Clone, Debug)]
pub struct Refused {
    /// Who sent it.
    pub origin: Origin,
    /// Its event.
    pub event: &'static str,
    /// The target's kind.
    pub target_kind: &'static str,
    /// The target.
    pub target: String,
    /// Its outcome.
    pub outcome: Outcome,
    /// Its details.
    pub details: serde_json::Value,
}

/// The repeats of one kind of refusal within a window, to be recorded as one entry.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The last repeat, its details extended with `coalesced`, `first_at` and `last_at`.
    pub last: Refused,
    /// How many repeats were not recorded one by one.
    pub count: u64,
}

#[derive(Debug)]
struct Window {
    opened: DateTime<Utc>,
    repeats: u64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    last: Option<Refused>,
}

impl Window {
    fn summary(self) -> Option<Summary> {
        let mut last = self.last?;
        if let serde_json::Value::Object(map) = &mut last.details {
            map.insert("coalesced".into(), self.repeats.into());
            map.insert("first_at".into(), super::store::timestamp(self.first_at).into());
            map.insert("last_at".into(), super::store::timestamp(self.last_at).into());
        }
        Some(Summary { last, count: self.repeats })
    }
}

/// The outcome of [`Refusals::admit`].
#[derive(Debug)]
pub struct Admitted {
    /// Record the refusal now: it is the first of its kind in a new window.
    pub record_now: bool,
    /// The summary of this kind's previous window, to record first.
    pub closed: Option<Summary>,
}

/// The open windows of every kind of anonymous refusal. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Refusals {
    window: Duration,
    open: Mutex<HashMap<Key, Window>>,
}

impl Refusals {
    /// Refusals coalesced over windows of `window`.
    pub fn new(window: Duration) -> Self {
        Self { window, open: Mutex::new(HashMap::new()) }
    }

    fn ended(&self, w: &Window, now: DateTime<Utc>) -> bool {
        chrono::Duration::from_std(self.window).is_ok_and(|length| now >= w.opened + length)
    }

    /// Counts `refused` (of `reason`, from `refused.origin`'s address) and says whether to record
    /// it now.
    pub fn admit(&self, reason: &str, refused: &Refused, now: DateTime<Utc>) -> Admitted {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut key = Key { event: refused.event, reason: reason.to_owned(), addr: refused.origin.addr().to_owned() };
        if !open.contains_key(&key) && open.len() >= MAX_KEYS {
            key.addr = MANY_ADDRESSES.to_owned();
        }
        let closed = match open.get_mut(&key) {
            Some(w) if !self.ended(w, now) => {
                w.repeats += 1;
                if w.repeats == 1 {
                    w.first_at = now;
                }
                w.last_at = now;
                w.last = Some(refused.clone());
                return Admitted { record_now: false, closed: None };
            }
            Some(_) => open.remove(&key).and_then(Window::summary),
            None => None,
        };
        open.insert(key, Window { opened: now, repeats: 0, first_at: now, last_at: now, last: None });
        Admitted { record_now: true, closed }
    }

    /// The summaries of windows that have ended by `now` (or of every window, at shutdown);
    /// ended windows are forgotten.
    pub fn take_closed(&self, now: DateTime<Utc>, all: bool) -> Vec<Summary> {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ended: Vec<Key> = open.iter().filter(|(_, w)| all || self.ended(w, now)).map(|(k, _)| k.clone()).collect();
        ended.into_iter().filter_map(|k| open.remove(&k)).filter_map(Window::summary).collect()
    }

    /// How long a window lasts.
    pub fn window(&self) -> Duration {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ClientInfo;

    fn refused(addr: &str, path: &str) -> Refused {
        let client = ClientInfo { addr: addr.into(), user_agent: String::new() };
        Refused {
            origin: Origin::anonymous("", &client),
            event: "request.cross_site",
            target_kind: "request",
            target: path.into(),
            outcome: Outcome::Denied,
            details: serde_json::json!({ "method": "POST" }),
        }
    }

    #[test]
    fn the_first_of_a_window_is_recorded_and_the_repeats_become_one_summary() {
        let refusals = Refusals::new(Duration::from_secs(60));
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        assert!(refusals.admit("cross_site", &refused("198.51.100.7", "/a"), at(0)).record_now);
        for s in 1..=30 {
            let a = refusals.admit("cross_site", &refused("198.51.100.7", &format!("/p{s}")), at(s));
            assert!(!a.record_now && a.closed.is_none());
        }
        // Another address and another reason are other kinds.
        assert!(refusals.admit("cross_site", &refused("198.51.100.8", "/a"), at(5)).record_now);
        assert!(refusals.admit("other", &refused("198.51.100.7", "/a"), at(5)).record_now);
        assert!(refusals.take_closed(at(59), false).is_empty(), "no window has ended");
        // The next refusal after the window records itself and closes the previous window.
        let next = refusals.admit("cross_site", &refused("198.51.100.7", "/late"), at(61));
        assert!(next.record_now);
        let summary = next.closed.expect("the window's repeats");
        assert_eq!(summary.count, 30);
        assert_eq!(summary.last.target, "/p30");
        assert_eq!(summary.last.details["coalesced"], 30);
        assert_eq!(summary.last.details["method"], "POST");
        // The other kinds' windows closed without repeats: nothing more to record.
        assert!(refusals.take_closed(at(120), false).is_empty());
    }

    #[test]
    fn shutdown_takes_every_open_window_with_repeats() {
        let refusals = Refusals::new(Duration::from_secs(60));
        let now = Utc::now();
        refusals.admit("r", &refused("a", "/"), now);
        refusals.admit("r", &refused("a", "/"), now);
        refusals.admit("r", &refused("b", "/"), now);
        let all = refusals.take_closed(now, true);
        assert_eq!(all.iter().map(|s| s.count).collect::<Vec<_>>(), [1]);
        assert!(refusals.take_closed(now, true).is_empty());
    }
}
