//! The hash chain: how an entry's hash is computed, and how a run of entries is checked, whether
//! read from the database or from an exported JSON Lines file.

use std::{fmt, str::FromStr};

use super::{AuditEntry, BreakReason, VerifyReport};

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an entry: SHA-256, hex, over a JSON array of every field but `hash`, in a fixed
/// order. JSON string escaping keeps field boundaries unambiguous, so no two different entries
/// share a hashed form.
pub fn entry_hash(e: &AuditEntry) -> String {
    let content = serde_json::json!([
        e.seq,
        e.at,
        e.actor_kind,
        e.actor_id,
        e.actor_name,
        e.actor_roles,
        e.client_addr,
        e.user_agent,
        e.event,
        e.target_kind,
        e.target,
        e.outcome,
        e.details,
        e.prev_hash,
    ]);
    crate::digest::sha256_hex(content.to_string().as_bytes())
}

/// The head of the chain (last entry number and its hash), recorded outside the database so
/// that cutting off the tail is detectable. Written as `N:hash`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Entry number.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl FromStr for Head {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seq, hash) = s.trim().split_once(':').ok_or("expected N:HASH")?;
        let seq = seq.parse::<i64>().map_err(|_| "N must be a number")?;
        let valid = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if seq < 0 || !valid {
            return Err("expected N:HASH with a 64-digit hex hash".into());
        }
        Ok(Head { seq, hash: hash.to_ascii_lowercase() })
    }
}

/// Checks entries fed in chain order, stopping at the first break.
#[derive(Debug)]
pub struct Verifier {
    next_seq: Option<i64>,
    prev_hash: String,
    /// Heads recorded outside the database (a report's footer, anchors), each of which the chain
    /// must pass through.
    recorded: Vec<Head>,
    last: Option<Head>,
}

impl Verifier {
    /// Checks a whole log from entry 1, optionally against a head recorded earlier.
    pub fn new(recorded_head: Option<Head>) -> Self {
        Self::against(recorded_head.into_iter().collect())
    }

    /// Checks a whole log from entry 1 against every head recorded earlier (an anchor file).
    pub fn against(recorded: Vec<Head>) -> Self {
        Verifier { next_seq: Some(1), prev_hash: GENESIS.to_owned(), recorded, last: None }
    }

    /// Checks a run of entries that may start after entry 1 (a filtered or partial export): the
    /// first entry's link to its predecessor is taken on trust, everything after it is checked.
    pub fn partial(recorded: Vec<Head>) -> Self {
        Verifier { next_seq: None, prev_hash: String::new(), recorded, last: None }
    }

    /// Checks the next entry.
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), VerifyReport> {
        let broken = |at, reason| Err(VerifyReport::Broken { at, reason });
        match self.next_seq {
            Some(expected) if e.seq > expected => return broken(expected, BreakReason::Missing),
            Some(expected) if e.seq < expected => return broken(e.seq, BreakReason::Missing),
            Some(_) if e.prev_hash != self.prev_hash => return broken(e.seq, BreakReason::Unlinked),
            Some(_) | None => {}
        }
        if entry_hash(e) != e.hash {
            return broken(e.seq, BreakReason::Altered);
        }
        if self.recorded.iter().any(|head| head.seq == e.seq && head.hash != e.hash) {
            return broken(e.seq, BreakReason::HeadMismatch);
        }
        self.next_seq = Some(e.seq + 1);
        self.prev_hash.clone_from(&e.hash);
        self.last = Some(Head { seq: e.seq, hash: e.hash.clone() });
        Ok(())
    }

    /// Ends the check: the report for everything pushed.
    pub fn finish(self) -> VerifyReport {
        let through = self.last.as_ref().map_or(0, |h| h.seq);
        if self.recorded.iter().any(|head| through < head.seq) {
            return VerifyReport::Broken { at: through + 1, reason: BreakReason::Truncated };
        }
        let hash = self.last.map_or_else(|| GENESIS.to_owned(), |h| h.hash);
        VerifyReport::Verified { through, hash }
    }
}

/// Checks a whole sequence of entries (for tests and small files).
pub fn verify_all<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>, head: Option<Head>) -> VerifyReport {
    let mut verifier = Verifier::new(head);
    for e in entries {
        if let Err(report) = verifier.push(e) {
            return report;
        }
    }
    verifier.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    seq,
                    at: format!("2026-11-27T10:00:{seq:02}.000000Z"),
                    actor_kind: "user".into(),
                    actor_id: Some(7),
                    actor_name: "pm1".into(),
                    actor_roles: "pm".into(),
                    client_addr: "203.0.113.4".into(),
                    user_agent: "test".into(),
                    event: "incident.action".into(),
                    target_kind: "incident".into(),
                    target: "INC-2026-0001".into(),
                    outcome: "ok".into(),
                    details: format!(r#"{{"n":{seq}}}"#),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = entry_hash(&e);
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    fn broken(at: i64, reason: BreakReason) -> VerifyReport {
        VerifyReport::Broken { at, reason }
    }

    #[test]
    fn a_clean_chain_verifies_through_its_last_entry() {
        let log = chain(5);
        assert_eq!(verify_all(&log, None), VerifyReport::Verified { through: 5, hash: log[4].hash.clone() });
        assert_eq!(verify_all(&[], None), VerifyReport::Verified { through: 0, hash: GENESIS.into() });
    }

    #[test]
    fn an_edited_field_breaks_at_that_entry() {
        let mut log = chain(5);
        log[2].details = r#"{"n":999}"#.into();
        assert_eq!(verify_all(&log, None), broken(3, BreakReason::Altered));
        let mut log = chain(5);
        log[3].actor_name = "someone else".into();
        assert_eq!(verify_all(&log, None), broken(4, BreakReason::Altered));
    }

    #[test]
    fn a_rehashed_edit_breaks_the_next_link() {
        let mut log = chain(5);
        log[1].outcome = "denied".into();
        log[1].hash = entry_hash(&log[1]);
        assert_eq!(verify_all(&log, None), broken(3, BreakReason::Unlinked));
    }

    #[test]
    fn a_deleted_entry_is_reported_missing() {
        let mut log = chain(5);
        log.remove(2);
        assert_eq!(verify_all(&log, None), broken(3, BreakReason::Missing));
        let mut log = chain(3);
        log.remove(0);
        assert_eq!(verify_all(&log, None), broken(1, BreakReason::Missing));
    }

    #[test]
    fn swapped_entries_break_at_the_first_of_them() {
        // Contents swapped, positions kept (what an UPDATE of two rows would do).
        let mut log = chain(5);
        let (a, b) = (log[1].clone(), log[2].clone());
        log[1] = AuditEntry { seq: 2, ..b };
        log[2] = AuditEntry { seq: 3, ..a };
        assert_eq!(verify_all(&log, None), broken(2, BreakReason::Unlinked));
        // Rows swapped in order.
        let mut log = chain(5);
        log.swap(1, 2);
        assert_eq!(verify_all(&log, None), broken(2, BreakReason::Missing));
    }

    #[test]
    fn a_rewritten_table_is_caught_against_any_anchor_and_a_cut_tail_against_the_newest() {
        let log = chain(6);
        let anchors = vec![Head { seq: 2, hash: log[1].hash.clone() }, Head { seq: 5, hash: log[4].hash.clone() }];
        let check = |entries: &[AuditEntry]| {
            let mut v = Verifier::against(anchors.clone());
            entries.iter().try_for_each(|e| v.push(e)).err().unwrap_or_else(|| v.finish())
        };
        assert!(matches!(check(&log), VerifyReport::Verified { through: 6, .. }));
        // Every entry from 4 on rewritten and re-hashed: a valid chain, but not the anchored one.
        let mut rewritten = log.clone();
        for i in 3..6 {
            rewritten[i].details = r#"{"n":0}"#.into();
            rewritten[i].prev_hash = rewritten[i - 1].hash.clone();
            rewritten[i].hash = entry_hash(&rewritten[i]);
        }
        assert!(matches!(verify_all(&rewritten, None), VerifyReport::Verified { .. }), "undetectable alone");
        assert_eq!(check(&rewritten), broken(5, BreakReason::HeadMismatch));
        assert_eq!(check(&log[..4]), broken(5, BreakReason::Truncated));
    }

    #[test]
    fn a_cut_tail_is_caught_only_against_a_recorded_head() {
        let log = chain(6);
        let head = Head { seq: 6, hash: log[5].hash.clone() };
        assert_eq!(verify_all(&log[..4], None), VerifyReport::Verified { through: 4, hash: log[3].hash.clone() });
        assert_eq!(verify_all(&log[..4], Some(head.clone())), broken(5, BreakReason::Truncated));
        assert!(matches!(verify_all(&log, Some(head)), VerifyReport::Verified { through: 6, .. }));
        let wrong = Head { seq: 6, hash: log[0].hash.clone() };
        assert_eq!(verify_all(&log, Some(wrong)), broken(6, BreakReason::HeadMismatch));
    }

    #[test]
    fn a_partial_run_checks_its_own_links() {
        let log = chain(6);
        let mut v = Verifier::partial(Vec::new());
        for e in &log[2..] {
            v.push(e).unwrap();
        }
        assert_eq!(v.finish(), VerifyReport::Verified { through: 6, hash: log[5].hash.clone() });
        let mut v = Verifier::partial(Vec::new());
        v.push(&log[2]).unwrap();
        assert_eq!(v.push(&log[4]), Err(broken(4, BreakReason::Missing)));
    }

    #[test]
    fn heads_parse_and_print() {
        let head: Head = format!("12:{}", "AB".repeat(32)).parse().unwrap();
        assert_eq!(head.to_string(), format!("12:{}", "ab".repeat(32)));
        assert!("12".parse::<Head>().is_err());
        assert!("x:00".parse::<Head>().is_err());
        assert!(format!("3:{}", "zz".repeat(32)).parse::<Head>().is_err());
    }
}
