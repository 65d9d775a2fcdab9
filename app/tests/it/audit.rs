//! The audit log on both back ends: the database refuses rewrites, tampering done around that
//! guard is found at the right entry, entries share their action's transaction, refusals and
//! sign-ins are recorded, and concurrent appends never fork the chain.

use app::{
    audit::{
        chain::Head,
        event,
        store::{self, Cursor, Origin, Query, Record},
        AuditFilter, BreakReason, Outcome, VerifyReport,
    },
    auth::{password::PasswordHasher, service, Role},
    config::Backend,
    db::Db,
    db_test,
    error::AppError,
    workflow::{engine, input::GateInput, rules::Refusal},
};
use chrono::Utc;
use sqlx::Row;

use crate::helpers::{audit_entries, client, incident, Person, PASSWORD};

/// Where every request of these tests comes from.
const ADDR: &str = "198.51.100.23";

/// Hostile text, stored verbatim.
const TITLE: &str = "<script>alert(1)</script> ' OR 1=1 --";

/// Appends `n` simple entries.
async fn fill(db: &Db, n: usize) {
    let origin = Origin::system("test");
    for i in 0..n {
        Record::new(&origin, event::SETTINGS_CHANGED)
            .details(serde_json::json!({ "i": i }))
            .record(db, Utc::now())
            .await
            .unwrap();
    }
}

async fn exec(db: &Db, sql: &str) -> Result<u64, sqlx::Error> {
    app::on_db!(db, pool => sqlx::query(sql).execute(pool).await.map(|r| r.rows_affected()))
}

/// Removes the database's append-only guard, as an attacker with database access could.
async fn drop_guard(db: &Db) {
    match db.backend() {
        Backend::Sqlite => {
            exec(db, "DROP TRIGGER audit_log_no_update").await.unwrap();
            exec(db, "DROP TRIGGER audit_log_no_delete").await.unwrap();
        }
        Backend::Postgres => {
            exec(db, "DROP TRIGGER audit_log_no_update ON audit_log").await.unwrap();
        }
    }
}

fn broken(at: i64, reason: BreakReason) -> VerifyReport {
    VerifyReport::Broken { at, reason }
}

db_test!(async fn the_database_refuses_update_and_delete(ctx) {
    let db = &ctx.db;
    fill(db, 3).await;
    assert!(exec(db, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 2").await.is_err());
    assert!(exec(db, "DELETE FROM audit_log WHERE seq = 3").await.is_err());
    assert!(exec(db, "DELETE FROM audit_log").await.is_err());
    if db.backend() == Backend::Postgres {
        assert!(exec(db, "TRUNCATE audit_log").await.is_err());
    }
    assert_eq!(audit_entries(db).await.len(), 3);
    assert!(matches!(store::verify(db, None).await.unwrap(), VerifyReport::Verified { through: 3, .. }));
});

db_test!(async fn an_edited_field_is_reported_at_that_entry(ctx) {
    let db = &ctx.db;
    fill(db, 6).await;
    drop_guard(db).await;
    exec(db, "UPDATE audit_log SET details = '{\"i\":99}' WHERE seq = 4").await.unwrap();
    assert_eq!(store::verify(db, None).await.unwrap(), broken(4, BreakReason::Altered));
});

db_test!(async fn a_deleted_entry_is_reported_at_its_position(ctx) {
    let db = &ctx.db;
    fill(db, 6).await;
    drop_guard(db).await;
    exec(db, "DELETE FROM audit_log WHERE seq = 3").await.unwrap();
    assert_eq!(store::verify(db, None).await.unwrap(), broken(3, BreakReason::Missing));
});

db_test!(async fn swapped_entries_are_reported_at_the_first_of_them(ctx) {
    let db = &ctx.db;
    fill(db, 6).await;
    drop_guard(db).await;
    // Swap the positions of entries 2 and 5 (via a free number, as the key is unique).
    exec(db, "UPDATE audit_log SET seq = 100 WHERE seq = 2").await.unwrap();
    exec(db, "UPDATE audit_log SET seq = 2 WHERE seq = 5").await.unwrap();
    exec(db, "UPDATE audit_log SET seq = 5 WHERE seq = 100").await.unwrap();
    let report = store::verify(db, None).await.unwrap();
    assert!(matches!(report, VerifyReport::Broken { at: 2, .. }), "{report:?}");
});

db_test!(async fn a_cut_tail_is_reported_against_a_recorded_head(ctx) {
    let db = &ctx.db;
    fill(db, 5).await;
    let head: Head = store::head(db).await.unwrap().unwrap();
    assert_eq!(head.seq, 5);
    assert!(matches!(store::verify(db, Some(head.clone())).await.unwrap(), VerifyReport::Verified { through: 5, .. }));
    drop_guard(db).await;
    exec(db, "DELETE FROM audit_log WHERE seq >= 4").await.unwrap();
    // Without the recorded head the shorter log looks whole; with it, the cut shows.
    assert!(matches!(store::verify(db, None).await.unwrap(), VerifyReport::Verified { through: 3, .. }));
    assert_eq!(store::verify(db, Some(head)).await.unwrap(), broken(4, BreakReason::Truncated));
});

db_test!(async fn a_clean_log_verifies_through_its_head(ctx) {
    let db = &ctx.db;
    assert!(matches!(store::verify(db, None).await.unwrap(), VerifyReport::Verified { through: 0, .. }));
    fill(db, 12).await;
    let head = store::head(db).await.unwrap().unwrap();
    assert_eq!(
        store::verify(db, None).await.unwrap(),
        VerifyReport::Verified { through: 12, hash: head.hash.clone() }
    );
});

db_test!(async fn concurrent_appends_never_fork_the_chain(ctx) {
    let db = ctx.db.clone();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let origin = Origin::system("test");
            Record::new(&origin, event::SETTINGS_CHANGED).details(serde_json::json!({ "i": i })).record(&db, Utc::now()).await
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (1..=24).collect::<Vec<i64>>());
    assert!(matches!(store::verify(&db, None).await.unwrap(), VerifyReport::Verified { through: 24, .. }));
});

db_test!(async fn a_failure_after_the_stage_change_leaves_neither_change_nor_entry(ctx) {
    let db = &ctx.db;
    let ops = Person::new("ops1", &[Role::Ops]).client(client(ADDR)).create(db).await;
    let pm = Person::new("pm1", &[Role::Pm]).client(client(ADDR)).create(db).await;
    let created = engine::create_incident(db, &ops, &incident(TITLE), Utc::now()).await.unwrap();
    let entries_before = audit_entries(db).await.len();
    // Make the audit insert of a gate action fail: it runs after the stage change, in the same
    // transaction, so the stage change must roll back with it.
    match db.backend() {
        Backend::Sqlite => {
            exec(
                db,
                "CREATE TRIGGER fail_actions BEFORE INSERT ON audit_log WHEN NEW.event = 'incident.action' \
                 BEGIN SELECT RAISE(ABORT, 'forced'); END",
            )
            .await
            .unwrap();
        }
        Backend::Postgres => {
            exec(
                db,
                "CREATE FUNCTION fail_actions() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.event = 'incident.action' THEN RAISE EXCEPTION 'forced'; END IF; RETURN NEW; END; $$",
            )
            .await
            .unwrap();
            exec(db, "CREATE TRIGGER fail_actions BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION fail_actions()")
                .await
                .unwrap();
        }
    }
    let input = GateInput::TriageTechnical { pm_id: pm.id, note: String::new() };
    let err = engine::act(db, &ops, created.id, 1, &input, Utc::now()).await.unwrap_err();
    assert!(matches!(err, AppError::Internal(_)), "{err:?}");
    let (stage, version, timeline): (String, i64, i64) = app::on_db!(db, pool => {
        let r = sqlx::query(
            "SELECT stage, version, (SELECT COUNT(*) FROM incident_timeline t WHERE t.incident_id = i.id) FROM incidents i WHERE id = $1",
        )
        .bind(created.id)
        .fetch_one(pool)
        .await
        .unwrap();
        (r.get(0), r.get(1), r.get(2))
    });
    assert_eq!((stage.as_str(), version, timeline), ("reported", 1, 1));
    assert_eq!(audit_entries(db).await.len(), entries_before, "no entry for an action that did not happen");
    // With the fault gone the same action goes through, and is recorded once.
    let drop = match db.backend() {
        Backend::Sqlite => "DROP TRIGGER fail_actions",
        Backend::Postgres => "DROP TRIGGER fail_actions ON audit_log",
    };
    exec(db, drop).await.unwrap();
    engine::act(db, &ops, created.id, 1, &input, Utc::now()).await.unwrap();
    assert_eq!(audit_entries(db).await.iter().filter(|e| e.event == event::INCIDENT_ACTION).count(), 1);
});

db_test!(async fn refused_actions_are_recorded_with_their_reason(ctx) {
    let db = &ctx.db;
    let ops = Person::new("ops1", &[Role::Ops]).client(client(ADDR)).create(db).await;
    let pm = Person::new("pm1", &[Role::Pm]).client(client(ADDR)).create(db).await;
    let dev = Person::new("dev1", &[Role::Dev]).client(client(ADDR)).create(db).await;
    let created = engine::create_incident(db, &ops, &incident(TITLE), Utc::now()).await.unwrap();
    // Wrong role.
    let input = GateInput::TriageTechnical { pm_id: pm.id, note: String::new() };
    let err = engine::act(db, &dev, created.id, 1, &input, Utc::now()).await.unwrap_err();
    assert_eq!(err, AppError::Refused(Refusal::NotYourRole));
    // Stale version.
    let err = engine::act(db, &ops, created.id, 7, &input, Utc::now()).await.unwrap_err();
    assert_eq!(err, AppError::Refused(Refusal::Stale));
    // A form mistake is not an attempt to overstep: not recorded.
    let blank = GateInput::TriageNonTechnical { reply: String::new() };
    assert!(engine::act(db, &ops, created.id, 1, &blank, Utc::now()).await.is_err());
    let denied: Vec<_> = audit_entries(db).await.into_iter().filter(|e| e.outcome == "denied").collect();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(denied.iter().all(|e| e.event == event::INCIDENT_ACTION && e.target == created.key));
    assert_eq!(denied[0].actor_name, "dev1");
    assert!(denied[1].details.contains("Stale"), "{}", denied[1].details);
    assert_eq!(denied[1].client_addr, "198.51.100.23");
    // Text is stored verbatim.
    let created_entry = audit_entries(db).await.into_iter().find(|e| e.event == event::INCIDENT_CREATED).unwrap();
    assert!(created_entry.details.contains("<script>alert(1)</script> ' OR 1=1 --"));
    assert!(created_entry.details.contains("王小明"));
});

db_test!(async fn sign_ins_are_recorded_with_the_username_tried(ctx) {
    let db = &ctx.db;
    Person::new("pm1", &[Role::Pm]).client(client(ADDR)).create(db).await;
    let hasher = PasswordHasher::new(1);
    let refusals = app::audit::refusals::Refusals::new(std::time::Duration::ZERO);
    let now = Utc::now();
    let err = service::sign_in(db, &hasher, &refusals, "pm1", "wrong password".into(), &client(ADDR), now).await.unwrap_err();
    assert_eq!(err, AppError::InvalidCredentials);
    service::sign_in(db, &hasher, &refusals, "nobody-<b>", "whatever it is".into(), &client(ADDR), now).await.unwrap_err();
    service::sign_in(db, &hasher, &refusals, "pm1", PASSWORD.into(), &client(ADDR), now).await.unwrap();
    let logins: Vec<_> = audit_entries(db).await.into_iter().filter(|e| e.event == event::LOGIN).collect();
    let seen: Vec<(&str, &str, &str)> =
        logins.iter().map(|e| (e.actor_name.as_str(), e.actor_kind.as_str(), e.outcome.as_str())).collect();
    assert_eq!(seen, [("pm1", "anonymous", "failed"), ("nobody-<b>", "anonymous", "failed"), ("pm1", "user", "ok")]);
    assert_eq!(logins[2].actor_roles, "pm");
    assert_eq!(logins[2].client_addr, "198.51.100.23");
    // Past the threshold the attempt is refused before any password check, and recorded so.
    for _ in 0..10 {
        let _ = service::sign_in(db, &hasher, &refusals, "pm1", "wrong again!".into(), &client(ADDR), now).await;
    }
    let throttled = audit_entries(db).await.into_iter().filter(|e| e.event == event::LOGIN && e.outcome == Outcome::Denied.as_str()).count();
    assert!(throttled >= 1, "throttled attempts are recorded");
    assert!(matches!(store::verify(db, None).await.unwrap(), VerifyReport::Verified { .. }));
});

db_test!(async fn filters_and_pages_find_the_right_entries(ctx) {
    let db = &ctx.db;
    fill(db, 7).await;
    let ops = Person::new("ops1", &[Role::Ops]).client(client(ADDR)).create(db).await;
    let created = engine::create_incident(db, &ops, &incident(TITLE), Utc::now()).await.unwrap();
    let by_target = Query::new(&AuditFilter { target: Some(created.key.clone()), ..Default::default() }).unwrap();
    let page = store::page(db, &by_target, Cursor::Before(None), 50).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].event, event::INCIDENT_CREATED);
    let by_event = Query::new(&AuditFilter { event: Some(event::SETTINGS_CHANGED.into()), ..Default::default() }).unwrap();
    let first = store::page(db, &by_event, Cursor::Before(None), 3).await.unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 6, 5]);
    let next = store::page(db, &by_event, Cursor::Before(Some(5)), 3).await.unwrap();
    assert_eq!(next.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 3, 2]);
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let in_range = Query::new(&AuditFilter { from: Some(today.clone()), to: Some(today), ..Default::default() }).unwrap();
    assert_eq!(store::page(db, &in_range, Cursor::Before(None), 100).await.unwrap().len(), 9);
    let future = Query::new(&AuditFilter { from: Some("2999-01-01".into()), ..Default::default() }).unwrap();
    assert!(store::page(db, &future, Cursor::Before(None), 100).await.unwrap().is_empty());
    let bad = Query::new(&AuditFilter { from: Some("yesterday".into()), ..Default::default() }).unwrap_err();
    assert_eq!(bad.field(), Some("from"));
});
