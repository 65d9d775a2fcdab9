//! Sign-in, sessions and throttling on both back ends, with time passed in explicitly.

use std::time::Duration;

use app::{
    auth::{
        password::PasswordHasher,
        service::{self, PasswordChange},
        sessions::{self, EndReason, Resolved, SessionToken, Timeouts},
        throttle, CurrentUser, Role,
    },
    db::Db,
    db_test,
    error::{AppError, FieldProblem},
    users::{
        bootstrap::{self, CliUser},
        store,
    },
};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use crate::helpers::{audit_entries, client, person, Person, PASSWORD};

const TIMEOUTS: Timeouts = Timeouts { idle: Duration::from_secs(60 * 60), absolute: Duration::from_secs(12 * 3600) };

async fn sign_in(
    db: &Db,
    username: &str,
    password: &str,
    addr: &str,
    now: DateTime<Utc>,
) -> Result<SessionToken, AppError> {
    // A zero window records every refusal one by one, as these tests count them.
    let refusals = app::audit::refusals::Refusals::new(std::time::Duration::ZERO);
    service::sign_in(db, &PasswordHasher::new(2), &refusals, username, password.into(), &client(addr), now)
        .await
        .map(|s| s.token)
}

async fn resolve(db: &Db, sid: &SessionToken, now: DateTime<Utc>) -> Option<CurrentUser> {
    match sessions::resolve(db, sid, TIMEOUTS, now).await.unwrap() {
        Resolved::Valid(user) => Some(user),
        Resolved::Ended => None,
    }
}

db_test!(async fn a_user_signs_in_case_insensitively_and_the_session_carries_their_roles(ctx) {
    Person::new("Li.Wei", &[Role::Pm, Role::Ops]).language("zh-CN").create(&ctx.db).await;
    let now = Utc::now();
    let sid = sign_in(&ctx.db, "li.wei", PASSWORD, "10.0.0.1", now).await.unwrap();
    let current = resolve(&ctx.db, &sid, now).await.expect("valid session");
    assert_eq!(current.me.username, "Li.Wei");
    assert_eq!(current.me.roles, vec![Role::Ops, Role::Pm]);
    assert_eq!(current.me.language, app::i18n::Locale::ZhCn);
});

db_test!(async fn an_unknown_user_and_a_wrong_password_get_the_same_answer(ctx) {
    person(&ctx.db, "ops1", &[Role::Ops]).await;
    let now = Utc::now();
    let wrong = sign_in(&ctx.db, "ops1", "not the password", "10.0.0.1", now).await.unwrap_err();
    let unknown = sign_in(&ctx.db, "nobody", "not the password", "10.0.0.1", now).await.unwrap_err();
    assert_eq!(wrong, AppError::InvalidCredentials);
    assert_eq!(unknown, wrong);
});

db_test!(async fn failed_sign_ins_throttle_the_account_but_not_other_users(ctx) {
    person(&ctx.db, "victim", &[Role::Dev]).await;
    person(&ctx.db, "bystander", &[Role::Dev]).await;
    let now = Utc::now();
    for attempt in 0..6 {
        let err = sign_in(&ctx.db, "victim", "guess guess guess", &format!("10.0.1.{attempt}"), now).await.unwrap_err();
        assert_eq!(err, AppError::InvalidCredentials, "attempt {attempt}");
    }
    // Even the right password is refused while blocked, with the wait in seconds.
    match sign_in(&ctx.db, "victim", PASSWORD, "10.0.2.1", now).await {
        Err(AppError::Throttled(secs)) => assert!((1..=30).contains(&secs), "{secs}"),
        other => panic!("expected throttling, got {other:?}"),
    }
    sign_in(&ctx.db, "bystander", PASSWORD, "10.0.2.1", now).await.expect("other users are unaffected");
    // After the block the account may try again.
    sign_in(&ctx.db, "victim", PASSWORD, "10.0.2.1", now + chrono::Duration::seconds(31)).await.expect("unblocked");
});

db_test!(async fn failed_sign_ins_from_one_address_throttle_that_address(ctx) {
    person(&ctx.db, "someone", &[Role::Qa]).await;
    let now = Utc::now();
    for i in 0..21 {
        let _ = sign_in(&ctx.db, &format!("guess{i}"), "whatever whatever", "192.0.2.66", now).await;
    }
    assert!(matches!(sign_in(&ctx.db, "someone", PASSWORD, "192.0.2.66", now).await, Err(AppError::Throttled(_))));
    sign_in(&ctx.db, "someone", PASSWORD, "192.0.2.67", now).await.expect("another address is not blocked");
});

db_test!(async fn sessions_end_at_the_idle_and_absolute_timeouts(ctx) {
    person(&ctx.db, "qa1", &[Role::Qa]).await;
    let t0 = Utc::now();
    let sid = sign_in(&ctx.db, "qa1", PASSWORD, "10.0.0.1", t0).await.unwrap();
    // Idle: no request for longer than the idle timeout.
    assert!(resolve(&ctx.db, &sid, t0 + chrono::Duration::minutes(61)).await.is_none());
    assert!(resolve(&ctx.db, &sid, t0).await.is_none(), "an ended session stays ended");

    // Absolute: active every 30 minutes, still ended after 12 hours.
    let sid = sign_in(&ctx.db, "qa1", PASSWORD, "10.0.0.1", t0).await.unwrap();
    let mut t = t0;
    while t < t0 + chrono::Duration::hours(11) + chrono::Duration::minutes(30) {
        t += chrono::Duration::minutes(30);
        assert!(resolve(&ctx.db, &sid, t).await.is_some(), "active at {t}");
    }
    assert!(resolve(&ctx.db, &sid, t0 + chrono::Duration::hours(12)).await.is_none());
    // Each timeout is in the audit log once, as done by the system, naming the user and reason.
    let all = app::audit::store::page(
        &ctx.db,
        &app::audit::store::Query::default(),
        app::audit::store::Cursor::After(0),
        1000,
    )
    .await
    .unwrap();
    let ended: Vec<(&str, &str, &str)> = all
        .iter()
        .filter(|e| e.event == app::audit::event::SESSION_ENDED)
        .map(|e| (e.actor_kind.as_str(), e.target.as_str(), e.details.as_str()))
        .collect();
    assert_eq!(
        ended,
        [
            ("system", "qa1", r#"{"reason":"idle_timeout"}"#),
            ("system", "qa1", r#"{"reason":"absolute_timeout"}"#)
        ]
    );
});

db_test!(async fn deactivation_role_changes_and_logout_apply_to_the_next_request(ctx) {
    let id = person(&ctx.db, "pm1", &[Role::Pm, Role::Admin]).await.id;
    let now = Utc::now();
    let sid = sign_in(&ctx.db, "pm1", PASSWORD, "10.0.0.1", now).await.unwrap();

    let mut tx = ctx.db.begin_write().await.unwrap();
    store::set_roles(&mut tx, id, &[Role::Pm]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(resolve(&ctx.db, &sid, now).await.unwrap().me.roles, vec![Role::Pm]);

    let mut tx = ctx.db.begin_write().await.unwrap();
    store::set_active(&mut tx, id, false, now).await.unwrap();
    tx.commit().await.unwrap();
    assert!(resolve(&ctx.db, &sid, now).await.is_none());
    // Answered as a wrong password would be; the audit log says why.
    assert_eq!(sign_in(&ctx.db, "pm1", PASSWORD, "10.0.0.1", now).await.unwrap_err(), AppError::InvalidCredentials);
    let last = audit_entries(&ctx.db).await.pop().unwrap();
    assert_eq!((last.event.as_str(), last.outcome.as_str(), last.details.as_str()), ("auth.login", "failed", r#"{"reason":"deactivated"}"#));

    let mut tx = ctx.db.begin_write().await.unwrap();
    store::set_active(&mut tx, id, true, now).await.unwrap();
    tx.commit().await.unwrap();
    let sid = sign_in(&ctx.db, "pm1", PASSWORD, "10.0.0.1", now).await.unwrap();
    sessions::end(&ctx.db, &sid.record_id(), EndReason::Logout, now).await.unwrap();
    assert!(resolve(&ctx.db, &sid, now).await.is_none());
});

db_test!(async fn only_the_hash_of_a_session_token_is_stored(ctx) {
    person(&ctx.db, "qa9", &[Role::Qa]).await;
    let now = Utc::now();
    let token = sign_in(&ctx.db, "qa9", PASSWORD, "10.0.0.1", now).await.unwrap();
    let me = resolve(&ctx.db, &token, now).await.expect("the token opens its session");
    assert_eq!(me.session_id, token.record_id());
    assert_ne!(me.session_id, token.expose(), "the database must not hold the cookie's secret");
    // A token that merely looks right opens nothing.
    let forged = SessionToken::parse(&"0".repeat(64)).unwrap();
    assert!(resolve(&ctx.db, &forged, now).await.is_none());
});

db_test!(async fn guessing_the_current_password_is_limited_like_sign_in_and_ends_the_session(ctx) {
    person(&ctx.db, "dev2", &[Role::Dev]).await;
    let now = Utc::now();
    let stolen = sign_in(&ctx.db, "dev2", PASSWORD, "10.0.0.1", now).await.unwrap();
    let me = resolve(&ctx.db, &stolen, now).await.unwrap();
    let hasher = PasswordHasher::new(2);
    let guess = |n: usize| PasswordChange {
        current: format!("guess number {n}").into(),
        new: "a brand new secret".into(),
        confirm: "a brand new secret".into(),
    };
    let before = audit_entries(&ctx.db).await.len();
    // The same free attempts as sign-in, each refused and on record.
    for n in 0..throttle::ACCOUNT_THRESHOLD as usize {
        let err = service::change_own_password(&ctx.db, &hasher, &me, &client("198.51.100.7"), guess(n), now).await.unwrap_err();
        assert_eq!(err, AppError::invalid("current", FieldProblem::WrongPassword), "guess {n}");
    }
    assert!(resolve(&ctx.db, &stolen, now).await.is_some(), "still signed in within the limit");
    // One more: blocked, and the session that guessed is over.
    let err = service::change_own_password(&ctx.db, &hasher, &me, &client("198.51.100.7"), guess(99), now).await.unwrap_err();
    assert!(matches!(err, AppError::Throttled(_)), "{err:?}");
    assert!(resolve(&ctx.db, &stolen, now).await.is_none(), "the guessing session ended");
    // The block is the account's: sign-in with the right password waits too.
    assert!(matches!(sign_in(&ctx.db, "dev2", PASSWORD, "10.0.0.9", now).await.unwrap_err(), AppError::Throttled(_)));
    let entries = audit_entries(&ctx.db).await.split_off(before);
    let changes: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e.event == "auth.password_changed")
        .map(|e| (e.outcome.clone(), e.details.clone()))
        .collect();
    let wrong = (String::from("failed"), String::from(r#"{"reason":"wrong_password"}"#));
    let mut expected = vec![wrong; throttle::ACCOUNT_THRESHOLD as usize + 1];
    expected.push((String::from("failed"), String::from(r#"{"reason":"session_ended"}"#)));
    assert_eq!(changes, expected);
    // And the password did not change.
    let later = now + chrono::Duration::hours(1);
    sign_in(&ctx.db, "dev2", PASSWORD, "10.0.0.9", later).await.expect("the old password still works after the block");
});

db_test!(async fn changing_the_password_needs_the_current_one_and_ends_other_sessions(ctx) {
    person(&ctx.db, "dev1", &[Role::Dev]).await;
    let now = Utc::now();
    let phone = sign_in(&ctx.db, "dev1", PASSWORD, "10.0.0.1", now).await.unwrap();
    let laptop = sign_in(&ctx.db, "dev1", PASSWORD, "10.0.0.2", now).await.unwrap();
    let me = resolve(&ctx.db, &laptop, now).await.unwrap();
    let hasher = PasswordHasher::new(2);
    let change = |current: &str, new: &str, confirm: &str| PasswordChange { current: current.into(), new: new.into(), confirm: confirm.into() };

    let err = service::change_own_password(&ctx.db, &hasher, &me, &client("198.51.100.1"), change("wrong one!!", "a brand new secret", "a brand new secret"), now).await.unwrap_err();
    assert_eq!(err, AppError::invalid("current", FieldProblem::WrongPassword));
    let err = service::change_own_password(&ctx.db, &hasher, &me, &client("198.51.100.1"), change(PASSWORD, "short", "short"), now).await.unwrap_err();
    assert_eq!(err, AppError::invalid("new", FieldProblem::TooShort(10)));
    let err = service::change_own_password(&ctx.db, &hasher, &me, &client("198.51.100.1"), change(PASSWORD, "a brand new secret", "another secret!!"), now).await.unwrap_err();
    assert_eq!(err, AppError::invalid("confirm", FieldProblem::PasswordMismatch));
    // Not the same password again (a printed one-time password must really be replaced), not one
    // anyone would guess first.
    let err = service::change_own_password(&ctx.db, &hasher, &me, &client("198.51.100.1"), change(PASSWORD, PASSWORD, PASSWORD), now).await.unwrap_err();
    assert_eq!(err, AppError::invalid("new", FieldProblem::PasswordUnchanged));
    for guessable in ["dev1234567", "Baton12345!", "1234567890"] {
        let err = service::change_own_password(&ctx.db, &hasher, &me, &client("198.51.100.1"), change(PASSWORD, guessable, guessable), now).await.unwrap_err();
        assert_eq!(err, AppError::invalid("new", FieldProblem::PasswordGuessable), "{guessable}");
    }

    service::change_own_password(&ctx.db, &hasher, &me, &client("198.51.100.1"), change(PASSWORD, "a brand new secret", "a brand new secret"), now).await.unwrap();
    assert!(resolve(&ctx.db, &laptop, now).await.is_some(), "the session that changed it stays");
    assert!(resolve(&ctx.db, &phone, now).await.is_none(), "other sessions end");
    assert_eq!(sign_in(&ctx.db, "dev1", PASSWORD, "10.0.0.3", now).await.unwrap_err(), AppError::InvalidCredentials);
    sign_in(&ctx.db, "dev1", "a brand new secret", "10.0.0.3", now).await.unwrap();
});

db_test!(async fn the_first_admin_is_created_once_and_must_change_the_password(ctx) {
    let hasher = PasswordHasher::new(2);
    let password = bootstrap::ensure_first_admin(&ctx.db, &hasher).await.unwrap().expect("created on an empty database");
    assert!(bootstrap::ensure_first_admin(&ctx.db, &hasher).await.unwrap().is_none());
    let now = Utc::now();
    let sid = sign_in(&ctx.db, "admin", password.expose_secret(), "10.0.0.1", now).await.unwrap();
    let me = resolve(&ctx.db, &sid, now).await.unwrap().me;
    assert!(me.must_change_password);
    assert_eq!(me.roles, vec![Role::Admin]);
});

db_test!(async fn usernames_are_unique_whatever_their_case(ctx) {
    person(&ctx.db, "Wang", &[Role::Ops]).await;
    let fields = CliUser {
        username: "wANG".into(),
        display_name: "x".into(),
        email: "w@example.com".into(),
        language: "en".into(),
        roles: vec![],
        password: PASSWORD.into(),
        must_change: true,
    };
    let err = bootstrap::create_user(&ctx.db, &PasswordHasher::new(1), fields).await.unwrap_err();
    assert_eq!(err, AppError::invalid("username", FieldProblem::UsernameTaken));
});

db_test!(async fn demo_mode_gives_one_user_per_role_with_fresh_passwords(ctx) {
    let hasher = PasswordHasher::new(2);
    let first = bootstrap::seed_demo_users(&ctx.db, &hasher).await.unwrap();
    assert_eq!(first.iter().map(|a| a.username.as_str()).collect::<Vec<_>>(), ["ops", "pm", "dev", "qa", "admin"]);
    let now = Utc::now();
    for account in &first {
        let sid = sign_in(&ctx.db, &account.username, &account.password, "10.0.0.1", now).await.unwrap();
        let me = resolve(&ctx.db, &sid, now).await.unwrap().me;
        assert_eq!(me.roles, vec![account.role]);
        assert!(!me.must_change_password);
    }
    // A second start refreshes the passwords; the old ones stop working.
    let second = bootstrap::seed_demo_users(&ctx.db, &hasher).await.unwrap();
    assert_ne!(first[0].password, second[0].password);
    assert_eq!(sign_in(&ctx.db, "ops", &first[0].password, "10.0.0.2", now).await.unwrap_err(), AppError::InvalidCredentials);
    assert!(bootstrap::ensure_first_admin(&ctx.db, &hasher).await.unwrap().is_none(), "no extra admin once users exist");
});

db_test!(async fn a_hash_with_old_parameters_is_replaced_at_sign_in(ctx) {
    use argon2::{password_hash::{rand_core::OsRng, SaltString}, Algorithm, Argon2, Params, PasswordHasher as _, Version};
    let id = person(&ctx.db, "legacy", &[Role::Ops]).await.id;
    let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(4096, 1, 1, None).unwrap())
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    let mut tx = ctx.db.begin_write().await.unwrap();
    store::set_password(&mut tx, id, &weak, false, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();

    sign_in(&ctx.db, "legacy", PASSWORD, "10.0.0.1", Utc::now()).await.unwrap();
    let stored = store::password_hash(&ctx.db, id).await.unwrap().unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    sign_in(&ctx.db, "legacy", PASSWORD, "10.0.0.1", Utc::now()).await.expect("the new hash verifies");
});
