//! The workflow engine on both back ends: whole paths, refusals that change nothing, and races.

use app::{
    auth::Role,
    db::Db,
    db_test,
    error::{AppError, FieldProblem},
    pool::{self, PoolDraft, PoolStatus},
    workflow::{
        engine,
        input::{Channel, GateInput, Measure, NewIncident, Severity, UserConfirmation},
        rules::{Actor, Refusal, Stage},
    },
};
use chrono::Utc;
use sqlx::Row;

use crate::helpers::{self, incident, key_of, person, step, team, Team};

/// Reads (stage, version, fix_round, plan, pool_item_id) of an incident.
async fn row(db: &Db, id: i64) -> (String, i64, i64, Option<String>, Option<i64>) {
    app::on_db!(db, pool => {
        let r = sqlx::query("SELECT stage, version, fix_round, plan, pool_item_id FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))
    })
}

async fn timeline_len(db: &Db, id: i64) -> i64 {
    app::on_db!(db, pool => sqlx::query("SELECT COUNT(*) FROM incident_timeline WHERE incident_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
        .get::<i64, _>(0))
}

async fn through_to_fixing(db: &Db, t: &Team, id: i64) {
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: "looks like a bug".into() }).await.unwrap();
    step(db, &t.pm, id, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }).await.unwrap();
    step(db, &t.dev, id, GateInput::Propose { root_cause: "null price".into(), solution: "default to 0".into() })
        .await
        .unwrap();
    step(db, &t.pm, id, GateInput::VerdictPm { optimal: true, pool: None }).await.unwrap();
    let moved = step(db, &t.dev, id, GateInput::VerdictDev { optimal: true }).await.unwrap();
    assert_eq!(moved.stage, Stage::Fixing);
}

db_test!(async fn an_incident_travels_through_all_twelve_stages(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let created = engine::create_incident(db, &t.ops, &incident("Checkout broken"), Utc::now()).await.unwrap();
    assert!(created.key.starts_with("INC-") && created.key.ends_with("-0001"), "{}", created.key);
    let id = created.id;
    through_to_fixing(db, &t, id).await;
    let released = helpers::this_minute();
    let steps: Vec<(&Actor, GateInput, Stage)> = vec![
        (&t.dev, GateInput::SubmitForTest { changes: "guard".into(), reference: "PR #12".into() }, Stage::Testing),
        (&t.qa, GateInput::TestPass { notes: "ok".into() }, Stage::ReleaseReview),
        (&t.pm, GateInput::ApproveRelease { note: String::new() }, Stage::Releasing),
        (&t.dev, GateInput::MarkReleased { version: "2.4.1".into(), deployed_at: released.clone() }, Stage::Verifying),
        (&t.qa, GateInput::RegressionPass { notes: "fine in prod".into() }, Stage::UserFollowup),
        (&t.ops, GateInput::ConfirmFollowup { reply: "fixed, sorry".into(), confirmation: UserConfirmation::Confirmed }, Stage::Reporting),
        (
            &t.pm,
            GateInput::SendReport {
                summary: "price null".into(),
                measures: vec![Measure { text: "alert on 500s".into(), owner_id: t.dev.id, due: "2026-12-15".into() }],
                recipients: vec!["cto@example.com".into()],
                language: None,
            },
            Stage::Closed,
        ),
    ];
    for (who, input, expected) in steps {
        assert_eq!(step(db, who, id, input).await.unwrap().stage, expected);
    }
    let (stage, version, round, plan, _) = row(db, id).await;
    assert_eq!((stage.as_str(), round, plan.as_deref()), ("closed", 0, Some("optimal")));
    assert_eq!(version, 13, "one version per accepted action");
    // Each fact is a typed column written by the action that established it.
    let detail = app::workflow::queries::detail(db, &created.key, &t.pm).await.unwrap();
    let f = &detail.facts;
    assert_eq!((f.root_cause.as_str(), f.solution.as_str()), ("null price", "default to 0"));
    let stored = format!("{released}:00+00:00");
    assert_eq!((f.release_version.as_str(), f.deployed_at.as_deref()), ("2.4.1", Some(stored.as_str())));
    assert_eq!((f.regression_notes.as_deref(), f.user_reply.as_str()), (Some("fine in prod"), "fixed, sorry"));
    assert_eq!(f.user_confirmation, Some(UserConfirmation::Confirmed));
    assert_eq!((detail.plan, detail.resolution), (Some(app::workflow::rules::Plan::Optimal), Some(app::workflow::rules::Resolution::Fixed)));
    assert_eq!(timeline_len(db, id).await, 13, "creation plus one entry per action");
    // The audit log holds the creation and exactly one entry per accepted gate action, in order.
    let query = app::audit::store::Query::new(&app::audit::AuditFilter {
        target: Some(created.key.clone()),
        ..Default::default()
    })
    .unwrap();
    let entries = app::audit::store::page(db, &query, app::audit::store::Cursor::After(0), 100).await.unwrap();
    let events: Vec<&str> = entries.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events[0], "incident.created");
    assert_eq!(events[1..], ["incident.action"; 12]);
    let actions: Vec<String> = entries[1..]
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.details).unwrap()["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions.first().map(String::as_str), Some("triage_technical"));
    assert_eq!(actions.last().map(String::as_str), Some("send_report"));
    assert!(entries.iter().all(|e| e.outcome == "ok" && e.actor_kind == "user"));
    // Closed is read-only.
    let err = step(db, &t.qa, id, GateInput::TestPass { notes: String::new() }).await.unwrap_err();
    assert_eq!(err, AppError::Refused(Refusal::WrongStage));
});

db_test!(async fn a_non_technical_report_is_answered_and_closed_by_ops(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = engine::create_incident(db, &t.ops, &incident("How do I reset my password?"), Utc::now()).await.unwrap().id;
    let moved = step(db, &t.ops, id, GateInput::TriageNonTechnical { reply: "Use the reset link".into() }).await.unwrap();
    assert_eq!(moved.stage, Stage::Closed);
    let resolution: String = app::on_db!(db, pool => sqlx::query("SELECT resolution FROM incidents WHERE id = $1").bind(id).fetch_one(pool).await.unwrap().get(0));
    assert_eq!(resolution, "non_technical");
});

db_test!(async fn disagreement_keeps_the_review_until_both_agree_on_an_interim_fix_with_a_pool_item(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = engine::create_incident(db, &t.ops, &incident("Slow search"), Utc::now()).await.unwrap().id;
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    step(db, &t.pm, id, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }).await.unwrap();
    step(db, &t.dev, id, GateInput::Propose { root_cause: "no index".into(), solution: "cache".into() }).await.unwrap();
    // The PM sends it back once.
    assert_eq!(step(db, &t.pm, id, GateInput::SendBackSolution { reason: "what about the index?".into() }).await.unwrap().stage, Stage::Investigating);
    step(db, &t.dev, id, GateInput::Propose { root_cause: "no index".into(), solution: "cache now, index later".into() }).await.unwrap();
    assert_eq!(step(db, &t.dev, id, GateInput::VerdictDev { optimal: true }).await.unwrap().stage, Stage::SolutionReview);
    let err = step(db, &t.pm, id, GateInput::VerdictPm { optimal: false, pool: None }).await.unwrap_err();
    assert_eq!(err, AppError::Refused(Refusal::Invalid { field: "pool_title".into(), problem: FieldProblem::Required }));
    let pool = PoolDraft { title: "Index the search table".into(), description: "Add a trigram index".into(), priority: Severity::P2 };
    assert_eq!(step(db, &t.pm, id, GateInput::VerdictPm { optimal: false, pool: Some(pool.clone()) }).await.unwrap().stage, Stage::SolutionReview, "they disagree");
    let moved = step(db, &t.dev, id, GateInput::VerdictDev { optimal: false }).await.unwrap();
    assert_eq!(moved.stage, Stage::Fixing);
    let (_, _, _, plan, pool_item) = row(db, id).await;
    assert_eq!(plan.as_deref(), Some("interim"));
    let item = pool_item.expect("pool item linked");
    let (title, status, source): (String, String, i64) = app::on_db!(db, pool => {
        let r = sqlx::query("SELECT title, status, source_incident_id FROM pool_items WHERE id = $1").bind(item).fetch_one(pool).await.unwrap();
        (r.get(0), r.get(1), r.get(2))
    });
    assert_eq!((title.as_str(), status.as_str(), source), ("Index the search table", "open", id));
});

db_test!(async fn failed_tests_and_regressions_return_to_fixing_and_count_rounds(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = engine::create_incident(db, &t.ops, &incident("Totals wrong"), Utc::now()).await.unwrap().id;
    through_to_fixing(db, &t, id).await;
    step(db, &t.dev, id, GateInput::SubmitForTest { changes: "a".into(), reference: "b".into() }).await.unwrap();
    assert_eq!(step(db, &t.qa, id, GateInput::TestFail { defect: "still wrong".into() }).await.unwrap().stage, Stage::Fixing);
    step(db, &t.dev, id, GateInput::SubmitForTest { changes: "a2".into(), reference: "b2".into() }).await.unwrap();
    step(db, &t.qa, id, GateInput::TestPass { notes: String::new() }).await.unwrap();
    step(db, &t.pm, id, GateInput::ApproveRelease { note: String::new() }).await.unwrap();
    let vague = GateInput::MarkReleased { version: "1.0.1".into(), deployed_at: "now".into() };
    assert_eq!(
        step(db, &t.dev, id, vague).await.unwrap_err(),
        AppError::Refused(Refusal::Invalid { field: "deployed_at".into(), problem: FieldProblem::InvalidDate }),
        "a deploy time is a time, not free text"
    );
    let at = |time: chrono::DateTime<Utc>| GateInput::MarkReleased {
        version: "1.0.1".into(),
        deployed_at: time.format("%Y-%m-%dT%H:%M").to_string(),
    };
    let refusal = |problem| AppError::Refused(Refusal::Invalid { field: "deployed_at".into(), problem });
    assert_eq!(
        step(db, &t.dev, id, at(Utc::now() - chrono::Duration::days(2))).await.unwrap_err(),
        refusal(FieldProblem::BeforeReported),
        "a release cannot have fixed an incident reported after it"
    );
    assert_eq!(
        step(db, &t.dev, id, at(Utc::now() + chrono::Duration::hours(1))).await.unwrap_err(),
        refusal(FieldProblem::InFuture),
        "a release is recorded once deployed"
    );
    step(db, &t.dev, id, at(Utc::now())).await.unwrap();
    assert_eq!(step(db, &t.qa, id, GateInput::RegressionFail { defect: "prod differs".into() }).await.unwrap().stage, Stage::Fixing);
    assert_eq!(row(db, id).await.2, 2, "two fix rounds");
});

db_test!(async fn refused_actions_change_nothing_and_say_why(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = engine::create_incident(db, &t.ops, &incident("Refusals"), Utc::now()).await.unwrap().id;
    through_to_fixing(db, &t, id).await;
    let before = (row(db, id).await, timeline_len(db, id).await);
    let submit = GateInput::SubmitForTest { changes: "x".into(), reference: "y".into() };
    assert_eq!(step(db, &t.qa, id, submit.clone()).await.unwrap_err(), AppError::Refused(Refusal::NotYourRole));
    assert_eq!(step(db, &t.other_dev, id, submit.clone()).await.unwrap_err(), AppError::Refused(Refusal::NotNamedOwner));
    assert_eq!(step(db, &t.qa, id, GateInput::TestPass { notes: String::new() }).await.unwrap_err(), AppError::Refused(Refusal::WrongStage));
    let stale = engine::act(db, &t.dev, id, before.0 .1 - 1, &submit, Utc::now()).await.unwrap_err();
    assert_eq!(stale, AppError::Refused(Refusal::Stale));
    let empty = GateInput::SubmitForTest { changes: String::new(), reference: "y".into() };
    assert_eq!(step(db, &t.dev, id, empty).await.unwrap_err(), AppError::Refused(Refusal::Invalid { field: "changes".into(), problem: FieldProblem::Required }));
    assert_eq!(engine::act(db, &t.dev, 999_999, 1, &submit, Utc::now()).await.unwrap_err(), AppError::NotFound);
    assert_eq!((row(db, id).await, timeline_len(db, id).await), before, "nothing changed");

    // Foreign ids: a dispatch to someone without the role is refused.
    let id2 = engine::create_incident(db, &t.ops, &incident("Foreign ids"), Utc::now()).await.unwrap().id;
    let err = step(db, &t.ops, id2, GateInput::TriageTechnical { pm_id: t.dev.id, note: String::new() }).await.unwrap_err();
    assert_eq!(err, AppError::Refused(Refusal::Invalid { field: "pm_id".into(), problem: FieldProblem::InvalidChoice }));
    let err = step(db, &t.ops, id2, GateInput::TriageTechnical { pm_id: 424_242, note: String::new() }).await.unwrap_err();
    assert!(matches!(err, AppError::Refused(Refusal::Invalid { .. })), "{err:?}");
    assert_eq!(row(db, id2).await.0, "reported");
});

db_test!(async fn text_is_stored_verbatim(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let mut input = incident("<script>alert('x')</script>'; DROP TABLE incidents; --");
    input.description = "Robert'); DELETE FROM users; -- 中文 ✓".into();
    let id = engine::create_incident(db, &t.ops, &input, Utc::now()).await.unwrap().id;
    let (title, description): (String, String) = app::on_db!(db, pool => {
        let r = sqlx::query("SELECT title, description FROM incidents WHERE id = $1").bind(id).fetch_one(pool).await.unwrap();
        (r.get(0), r.get(1))
    });
    assert_eq!(title, input.title);
    assert_eq!(description, input.description);
    let bad = NewIncident { title: "x".repeat(201), ..incident("t") };
    assert!(matches!(engine::create_incident(db, &t.ops, &bad, Utc::now()).await, Err(AppError::Refused(Refusal::Invalid { .. }))));
    assert!(matches!(engine::create_incident(db, &t.dev, &incident("not ops"), Utc::now()).await, Err(AppError::Refused(Refusal::NotYourRole))));
});

db_test!(async fn fifty_identical_confirmations_make_exactly_one_transition(ctx) {
    let db = ctx.db.clone();
    let t = team(&db).await;
    let id = engine::create_incident(&db, &t.ops, &incident("Race"), Utc::now()).await.unwrap().id;
    through_to_fixing(&db, &t, id).await;
    let (_, version, _, _, _) = row(&db, id).await;
    let before = timeline_len(&db, id).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let db = db.clone();
        let dev = t.dev.clone();
        tasks.push(tokio::spawn(async move {
            let input = GateInput::SubmitForTest { changes: "fix".into(), reference: "PR".into() };
            engine::act(&db, &dev, id, version, &input, Utc::now()).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(moved) => {
                ok += 1;
                assert_eq!(moved.version, version + 1);
            }
            Err(err) => assert_eq!(err, AppError::Refused(Refusal::Stale)),
        }
    }
    assert_eq!(ok, 1, "exactly one transition");
    assert_eq!(row(&db, id).await.1, version + 1);
    assert_eq!(timeline_len(&db, id).await, before + 1);
});

db_test!(async fn incidents_created_concurrently_never_share_a_key(ctx) {
    let db = ctx.db.clone();
    let ops = person(&db, "ops1", &[Role::Ops]).await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let db = db.clone();
        let ops = ops.clone();
        tasks.push(tokio::spawn(async move { engine::create_incident(&db, &ops, &incident(&format!("n{i}")), Utc::now()).await }));
    }
    let mut keys = Vec::new();
    for task in tasks {
        keys.push(task.await.unwrap().unwrap().key);
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 30);
    assert!(keys[29].ends_with("-0030"), "{:?}", keys.last());
});

db_test!(async fn each_person_queue_holds_exactly_the_incidents_waiting_for_them(ctx) {
    use app::workflow::queries;
    let db = &ctx.db;
    let t = team(db).await;
    let mut urgent = incident("urgent");
    urgent.severity = Severity::P0;
    let a = engine::create_incident(db, &t.ops, &incident("a"), Utc::now()).await.unwrap().id;
    let b = engine::create_incident(db, &t.ops, &urgent, Utc::now()).await.unwrap().id;
    let c = engine::create_incident(db, &t.ops, &incident("c"), Utc::now()).await.unwrap().id;
    through_to_fixing(db, &t, c).await;
    let keys = |v: app::workflow::views::MyQueueView| v.items.into_iter().map(|i| i.summary.id).collect::<Vec<_>>();
    assert_eq!(keys(queries::my_queue(db, &t.ops).await.unwrap()), vec![b, a], "most severe first");
    assert_eq!(keys(queries::my_queue(db, &t.dev).await.unwrap()), vec![c]);
    assert!(queries::my_queue(db, &t.other_dev).await.unwrap().items.is_empty(), "not the named dev");
    assert!(queries::my_queue(db, &t.qa).await.unwrap().items.is_empty());
    assert!(queries::my_queue(db, &t.pm).await.unwrap().items.is_empty());
    let dev_queue = queries::my_queue(db, &t.dev).await.unwrap();
    assert_eq!(dev_queue.items[0].actions, vec![app::workflow::rules::ActionKind::SubmitForTest]);
    let ops_queue = queries::my_queue(db, &t.ops).await.unwrap();
    assert_eq!(ops_queue.counts, vec![(Stage::Reported, 2), (Stage::UserFollowup, 0)]);
});

db_test!(async fn the_list_filters_and_pages_by_keyset(ctx) {
    use app::workflow::{queries, views::IncidentFilter};
    let db = &ctx.db;
    let t = team(db).await;
    for i in 0..7 {
        let mut r = incident(&format!("Item {i}"));
        if i % 2 == 0 {
            r.channel = Channel::Sms;
            r.description = "付款失败 50%_off".into();
        }
        engine::create_incident(db, &t.ops, &r, Utc::now()).await.unwrap();
    }
    let all = IncidentFilter::default();
    let page1 = queries::list(db, &all, None, 3).await.unwrap();
    assert_eq!(page1.items.iter().map(|i| i.title.as_str()).collect::<Vec<_>>(), ["Item 6", "Item 5", "Item 4"]);
    let page2 = queries::list(db, &all, page1.next_before, 3).await.unwrap();
    assert_eq!(page2.items.len(), 3);
    let page3 = queries::list(db, &all, page2.next_before, 3).await.unwrap();
    assert_eq!((page3.items.len(), page3.next_before), (1, None));

    let sms = IncidentFilter { channel: Some(Channel::Sms), ..Default::default() };
    assert_eq!(queries::list(db, &sms, None, 50).await.unwrap().items.len(), 4);
    let text = IncidentFilter { text: Some("付款".into()), ..Default::default() };
    assert_eq!(queries::list(db, &text, None, 50).await.unwrap().items.len(), 4);
    // LIKE wildcards in the search text are literal.
    let percent = IncidentFilter { text: Some("50%_".into()), ..Default::default() };
    assert_eq!(queries::list(db, &percent, None, 50).await.unwrap().items.len(), 4);
    let nothing = IncidentFilter { text: Some("%".into()), channel: Some(Channel::Email), ..Default::default() };
    assert_eq!(queries::list(db, &nothing, None, 50).await.unwrap().items.len(), 0);
    let by_key = IncidentFilter { text: Some("inc-".into()), stage: Some(Stage::Reported), severity: Some(Severity::P1), owner: Some(t.ops.id), ..Default::default() };
    assert_eq!(queries::list(db, &by_key, None, 50).await.unwrap().items.len(), 7);
    let future = IncidentFilter { created_from: Some("2999-01-01T00:00:00Z".into()), ..Default::default() };
    assert_eq!(queries::list(db, &future, None, 50).await.unwrap().items.len(), 0);
    let past = IncidentFilter { created_from: Some("2000-01-01T00:00:00Z".into()), created_to: Some("2999-01-01T00:00:00Z".into()), ..Default::default() };
    assert_eq!(queries::list(db, &past, None, 50).await.unwrap().items.len(), 7);
});

db_test!(async fn claim_and_reassign_are_limited_and_recorded(ctx) {
    use app::workflow::queries;
    let db = &ctx.db;
    let t = team(db).await;
    let admin = person(db, "admin1", &[Role::Admin]).await;
    let id = engine::create_incident(db, &t.ops, &incident("owners"), Utc::now()).await.unwrap().id;
    let key = |k: &str| k.to_owned();
    let v = row(db, id).await.1;
    // Claiming is for the role that acts at the incident's stage (at reported: ops), while unowned.
    assert_eq!(
        engine::claim(db, &t.pm, id, v, Role::Pm, Utc::now()).await.unwrap_err(),
        AppError::Refused(Refusal::WrongStage),
        "the PM does not act at reported"
    );
    assert_eq!(engine::claim(db, &t.pm, id, v, Role::Ops, Utc::now()).await.unwrap_err(), AppError::Refused(Refusal::NotYourRole));
    let other_ops = person(db, "ops2", &[Role::Ops]).await;
    assert_eq!(
        engine::claim(db, &other_ops, id, v, Role::Ops, Utc::now()).await.unwrap_err(),
        AppError::Refused(Refusal::NotNamedOwner),
        "ops1 reported it and owns it"
    );
    // Unowned, as a report delivered by intake is: any ops user may claim it.
    app::on_db!(db, pool => sqlx::query("UPDATE incidents SET ops_owner = NULL WHERE id = $1").bind(id).execute(pool).await.map(|_| ()).unwrap());
    engine::claim(db, &other_ops, id, v, Role::Ops, Utc::now()).await.unwrap();
    step(db, &other_ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    let v = row(db, id).await.1;
    // The PM owner reassigns dev and ops, always with a reason; the dev cannot; the admin may
    // reassign any owner, the PM included.
    let to = |role: Role, user_id: i64, reason: &str| engine::Reassignment { role, user_id, reason: reason.into() };
    let reassign = |who: &Actor, v: i64, change: engine::Reassignment| {
        let who = who.clone();
        async move { engine::reassign(db, &who, id, v, &change, Utc::now()).await }
    };
    assert_eq!(
        reassign(&t.pm, v, to(Role::Dev, t.other_dev.id, " ")).await.unwrap_err(),
        AppError::Refused(Refusal::Invalid { field: "reason".into(), problem: FieldProblem::Required })
    );
    reassign(&t.pm, v, to(Role::Dev, t.other_dev.id, "dev1 is on leave")).await.unwrap();
    // The new owner is told, in the same transaction, that it is theirs and why.
    let mails: Vec<(String, String, String)> = app::on_db!(db, pool => sqlx::query_as(
        "SELECT recipients, subject, body_text FROM outbox ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    let to_dev2 = mails.iter().find(|(to, subject, _)| to.contains("dev2@example.com") && subject.contains("You are now the Developer owner"));
    assert!(to_dev2.is_some_and(|(_, _, body)| body.contains("pm1 named you") && body.contains("dev1 is on leave")), "{mails:?}");
    assert!(!mails.iter().any(|(_, subject, _)| subject.contains("No longer yours")), "nobody held the role before");
    let v = row(db, id).await.1;
    assert_eq!(reassign(&t.dev, v, to(Role::Dev, t.dev.id, "mine")).await.unwrap_err(), AppError::Refused(Refusal::NotYourRole));
    assert!(
        matches!(reassign(&t.pm, v, to(Role::Qa, t.dev.id, "x")).await, Err(AppError::Refused(Refusal::Invalid { .. }))),
        "the new owner must hold the role"
    );
    let other_pm = person(db, "pm2", &[Role::Pm]).await;
    assert_eq!(
        reassign(&other_pm, v, to(Role::Dev, t.dev.id, "x")).await.unwrap_err(),
        AppError::Refused(Refusal::NotNamedOwner),
        "only the incident's PM owner"
    );
    assert_eq!(
        reassign(&t.pm, v, to(Role::Pm, other_pm.id, "x")).await.unwrap_err(),
        AppError::Refused(Refusal::NotNamedOwner),
        "a PM does not hand over their own role"
    );
    reassign(&t.pm, v, to(Role::Ops, t.ops.id, "ops2 moved team")).await.unwrap();
    let v = row(db, id).await.1;
    reassign(&admin, v, to(Role::Pm, other_pm.id, "pm1 left the company")).await.unwrap();
    let v = row(db, id).await.1;
    assert_eq!(
        reassign(&t.pm, v, to(Role::Qa, t.qa.id, "x")).await.unwrap_err(),
        AppError::Refused(Refusal::NotNamedOwner),
        "the former PM owner no longer may"
    );

    let k = key_of(db, id).await;
    let detail = queries::detail(db, &key(&k), &other_ops).await.unwrap();
    assert_eq!(detail.summary.owners.ops, Some(t.ops.id));
    assert_eq!(detail.summary.owners.dev, Some(t.other_dev.id));
    assert_eq!(detail.owner_names[1].as_ref().map(|p| p.name.as_str()), Some("pm2"));
    let actions: Vec<&str> = detail.timeline.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["reassign", "reassign", "reassign", "triage_technical", "claim", "create"], "newest first");
    // The newest entry reads as labelled values: which role, who before, who after, and why.
    use app::workflow::timeline::{Detail, Label, Value};
    assert_eq!(
        detail.timeline[0].details,
        vec![
            Detail { label: Label::Role, value: Value::Role(Role::Pm) },
            Detail { label: Label::OwnerBefore, value: Value::User(Some(t.pm.id)) },
            Detail { label: Label::OwnerAfter, value: Value::User(Some(other_pm.id)) },
            Detail { label: Label::Reason, value: Value::Text("pm1 left the company".into()) },
        ]
    );
    assert_eq!(detail.timeline[0].role, "admin");
    // Every user the timeline names comes with a name, owners and actors or not.
    let named: std::collections::BTreeSet<i64> =
        detail.timeline.iter().flat_map(|e| app::workflow::timeline::users_named(&e.details)).collect();
    let mut with_names: Vec<i64> = detail.people.iter().map(|p| p.id).collect();
    with_names.sort();
    assert_eq!(with_names, named.into_iter().collect::<Vec<_>>());
    assert!(detail.people.iter().any(|p| p.id == t.pm.id && p.name == "pm1"), "{:?}", detail.people);
    assert_eq!(detail.timeline[1].role, "pm", "the PM owner acted as PM");
    // The page reads the timeline as one aggregated value: names and times survive the trip.
    assert_eq!(detail.timeline[0].actor.as_ref().map(|p| (p.id, p.name.as_str())), Some((admin.id, "admin1")));
    assert_eq!(detail.timeline[1].actor.as_ref().map(|p| p.id), Some(t.pm.id));
    let times: Vec<chrono::DateTime<Utc>> =
        detail.timeline.iter().map(|e| chrono::DateTime::parse_from_rfc3339(&e.at).unwrap().to_utc()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let reassigned = helpers::audit_entries(db).await.into_iter().filter(|e| e.event == "incident.reassign").collect::<Vec<_>>();
    assert_eq!(reassigned.len(), 3 + 4, "three accepted, four refused (invalid fields are form mistakes, not recorded)");
    let new_pm = queries::detail(db, &key(&k), &other_pm).await.unwrap();
    assert_eq!(new_pm.my_actions, vec![app::workflow::rules::ActionKind::Dispatch], "the new PM owner may dispatch");
    assert!(queries::detail(db, &key(&k), &t.pm).await.unwrap().my_actions.is_empty(), "the former PM owner may not");
});

db_test!(async fn a_dispatch_that_replaces_a_named_owner_records_it_and_tells_them(ctx) {
    use app::workflow::{
        queries,
        timeline::{Detail, Label, Value},
    };
    let db = &ctx.db;
    let t = team(db).await;
    let created = engine::create_incident(db, &t.ops, &incident("Who fixes it"), Utc::now()).await.unwrap();
    let id = created.id;
    step(db, &t.ops, id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();
    let v = row(db, id).await.1;
    let first = engine::Reassignment { role: Role::Dev, user_id: t.other_dev.id, reason: "first pick".into() };
    engine::reassign(db, &t.pm, id, v, &first, Utc::now()).await.unwrap();
    let dispatch = GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: "dev1 knows pricing".into() };
    step(db, &t.pm, id, dispatch).await.unwrap();
    let detail = queries::detail(db, &created.key, &t.pm).await.unwrap();
    assert_eq!(detail.timeline[0].action.as_str(), "dispatch");
    assert_eq!(detail.timeline[1].action.as_str(), "reassign", "the replacement is on the record");
    assert_eq!(
        detail.timeline[1].details,
        vec![
            Detail { label: Label::Role, value: Value::Role(Role::Dev) },
            Detail { label: Label::OwnerBefore, value: Value::User(Some(t.other_dev.id)) },
            Detail { label: Label::OwnerAfter, value: Value::User(Some(t.dev.id)) },
            Detail { label: Label::Reason, value: Value::Text("dev1 knows pricing".into()) },
        ]
    );
    let mails: Vec<(String, String, String)> = app::on_db!(db, pool => sqlx::query_as(
        "SELECT recipients, subject, body_text FROM outbox ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    let replaced = mails.iter().find(|(to, subject, _)| to.contains("dev2@example.com") && subject.contains("No longer yours"));
    assert!(replaced.is_some_and(|(_, _, body)| body.contains("pm1 named dev1 the Developer owner") && body.contains("dev1 knows pricing")), "{mails:?}");
    // The new dev hears of it once, from the stage they are now needed in.
    let to_dev1: Vec<&String> = mails.iter().filter(|(to, _, _)| to.contains("dev1@example.com")).map(|(_, s, _)| s).collect();
    assert_eq!(to_dev1.len(), 1, "{to_dev1:?}");
});

db_test!(async fn the_pm_manages_the_pool_and_everyone_reads_it(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let draft = PoolDraft { title: "Rate limiter".into(), description: "Per-tenant limits".into(), priority: Severity::P1 };
    assert_eq!(pool::store::create(db, &t.dev, &draft, Utc::now()).await.unwrap_err(), AppError::Refused(Refusal::NotYourRole));
    let id = pool::store::create(db, &t.pm, &draft, Utc::now()).await.unwrap();
    assert_eq!(pool::store::update(db, &t.qa, id, PoolStatus::Done, "", None, Utc::now()).await.unwrap_err(), AppError::Refused(Refusal::NotYourRole));
    pool::store::update(db, &t.pm, id, PoolStatus::Scheduled, "2026.12", None, Utc::now()).await.unwrap();
    let items = pool::store::items(db, None).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].priority, Severity::P1, "kept when none is given");
    pool::store::update(db, &t.pm, id, PoolStatus::Scheduled, "2026.12", Some(Severity::P0), Utc::now()).await.unwrap();
    assert_eq!(pool::store::items(db, None).await.unwrap()[0].priority, Severity::P0, "raised");
    assert_eq!((items[0].status, items[0].target_release.as_str(), items[0].source_incident.as_deref()), (PoolStatus::Scheduled, "2026.12", None));
    assert_eq!(pool::store::update(db, &t.pm, 424_242, PoolStatus::Done, "2027.1", None, Utc::now()).await.unwrap_err(), AppError::NotFound);

    // Done means delivered: the release that delivered it is required, and the wait stops then.
    let refused = pool::store::update(db, &t.pm, id, PoolStatus::Done, " ", None, Utc::now()).await.unwrap_err();
    assert_eq!(refused, AppError::Refused(Refusal::Invalid { field: "target_release".into(), problem: FieldProblem::Required }));
    assert_eq!(pool::store::items(db, None).await.unwrap()[0].status, PoolStatus::Scheduled, "nothing changed");
    let created: chrono::DateTime<Utc> = app::on_db!(db, pool => sqlx::query_scalar("SELECT created_at FROM pool_items WHERE id = $1").bind(id).fetch_one(pool).await.unwrap());
    let done_at = created + chrono::Duration::days(3);
    pool::store::update(db, &t.pm, id, PoolStatus::Done, "2027.1", None, done_at).await.unwrap();
    let item = pool::store::item(db, id).await.unwrap().unwrap();
    assert_eq!((item.status, item.target_release.as_str()), (PoolStatus::Done, "2027.1"));
    assert_eq!(item.waited_seconds, 3 * 86_400, "from entering the pool to done");
    // Saving a done item again keeps when it was done.
    pool::store::update(db, &t.pm, id, PoolStatus::Done, "2027.1", None, done_at + chrono::Duration::days(9)).await.unwrap();
    assert_eq!(pool::store::item(db, id).await.unwrap().unwrap().waited_seconds, 3 * 86_400);
    // Reopened, it waits again.
    pool::store::update(db, &t.pm, id, PoolStatus::Open, "", None, Utc::now()).await.unwrap();
    assert!(pool::store::item(db, id).await.unwrap().unwrap().done_at.is_none());
});

db_test!(async fn a_stored_stage_this_version_does_not_know_is_an_error_not_a_default(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let created = engine::create_incident(db, &t.ops, &incident("Odd row"), Utc::now()).await.unwrap();
    // The database itself refuses a stage it does not know.
    let refused = app::on_db!(db, pool => sqlx::query("UPDATE incidents SET stage = 'archived' WHERE id = $1")
        .bind(created.id)
        .execute(pool)
        .await
        .map(|_| ()));
    assert!(refused.is_err(), "the CHECK on incidents.stage refuses it");
    // Written past the CHECK (an older or foreign writer), it must not be read as some other stage.
    match db {
        Db::Sqlite(pool, _) => {
            let mut conn = pool.acquire().await.unwrap();
            sqlx::query("PRAGMA ignore_check_constraints = ON").execute(&mut *conn).await.unwrap();
            sqlx::query("UPDATE incidents SET stage = 'archived' WHERE id = $1").bind(created.id).execute(&mut *conn).await.unwrap();
            sqlx::query("PRAGMA ignore_check_constraints = OFF").execute(&mut *conn).await.unwrap();
        }
        Db::Postgres(pool) => {
            sqlx::query("ALTER TABLE incidents DROP CONSTRAINT incidents_stage_known").execute(pool).await.unwrap();
            sqlx::query("UPDATE incidents SET stage = 'archived' WHERE id = $1").bind(created.id).execute(pool).await.unwrap();
        }
    }
    use app::workflow::queries;
    let read = queries::detail(db, &created.key, &t.ops).await;
    assert!(matches!(read, Err(AppError::Internal(_))), "{read:?}");
    assert!(matches!(queries::my_queue(db, &t.ops).await, Err(AppError::Internal(_))));
    let acted = step(db, &t.ops, created.id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await;
    assert!(matches!(acted, Err(AppError::Internal(_))), "the write path refuses too: {acted:?}");
});

db_test!(async fn the_open_queue_reads_its_partial_index_and_never_closed_incidents(ctx) {
    use app::workflow::queries;
    let db = &ctx.db;
    let plan: Vec<String> = match db {
        Db::Sqlite(pool, _) => sqlx::query(&format!("EXPLAIN QUERY PLAN {}", queries::open_queue_sql()))
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect(),
        Db::Postgres(pool) => {
            // An empty table is cheapest to scan; forbid that so the plan shows what the index allows.
            let mut conn = pool.acquire().await.unwrap();
            sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.unwrap();
            sqlx::query("SET enable_bitmapscan = off").execute(&mut *conn).await.unwrap();
            sqlx::query(&format!("EXPLAIN {}", queries::open_queue_sql()))
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect()
        }
    };
    let plan = plan.join("\n");
    assert!(plan.contains("incidents_open_queue"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE") && !plan.contains("Sort"), "the index gives the order: {plan}");
});

db_test!(async fn the_incident_page_offers_the_active_people_of_each_role_only_to_forms_that_name_someone(ctx) {
    let db = &ctx.db;
    let t = Team::create(db, |p| {
        // Names sort differently from usernames, so the order is the names'.
        let name = match p.username() {
            "ops1" => "Olga",
            "pm1" => "Peter",
            "dev1" => "Dana",
            "qa1" => "Quinn",
            _ => "Ada",
        };
        p.display_name(name)
    })
    .await;
    helpers::Person::new("lead", &[Role::Dev, Role::Qa]).display_name("Bo").create(db).await;
    helpers::Person::new("root", &[Role::Admin]).display_name("Admin Only").create(db).await;
    let gone = helpers::Person::new("gone", &[Role::Dev]).display_name("Gone").create(db).await;
    let mut tx = db.begin_write().await.unwrap();
    app::users::store::set_active(&mut tx, gone.id, false, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let created = engine::create_incident(db, &t.ops, &incident("Cart empty"), Utc::now()).await.unwrap();
    let names = |people: Vec<app::workflow::views::Person>| people.into_iter().map(|p| p.name).collect::<Vec<_>>();

    // Ops triage to a PM: the PMs at work are offered.
    let as_ops = app::workflow::queries::detail(db, &created.key, &t.ops).await.unwrap();
    assert_eq!(names(as_ops.staff.with_role(Role::Pm)), ["Peter"]);
    step(db, &t.ops, created.id, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }).await.unwrap();

    // The PM dispatches (dev and QA) and may name other owners: everyone working is offered.
    let as_pm = app::workflow::queries::detail(db, &created.key, &t.pm).await.unwrap();
    assert_eq!(names(as_pm.staff.with_role(Role::Dev)), ["Ada", "Bo", "Dana"]);
    assert_eq!(names(as_pm.staff.with_role(Role::Qa)), ["Bo", "Quinn"]);
    assert_eq!(names(as_pm.staff.with_role(Role::Pm)), ["Peter"]);
    assert_eq!(names(as_pm.staff.everyone()), ["Ada", "Bo", "Dana", "Olga", "Peter", "Quinn"]);

    // QA has nothing to choose on this incident now: the page carries nobody's names for them.
    let as_qa = app::workflow::queries::detail(db, &created.key, &t.qa).await.unwrap();
    assert!(as_qa.my_actions.is_empty() && as_qa.reassignable.is_empty());
    assert_eq!(as_qa.staff, app::workflow::views::Staff::default());
});
