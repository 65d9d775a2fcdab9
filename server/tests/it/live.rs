//! Live updates across server instances: on PostgreSQL a change made through one instance reaches
//! the pages open on another (through LISTEN/NOTIFY); on SQLite, within the one instance.

use std::time::Duration;

use app::{auth::Role, db_test};
use futures::StreamExt;
use reqwest::header;

use crate::helpers::{TestApp, PASSWORD};

/// Reads server-sent events from `response` until one carries `"id":<id>`, or gives up.
async fn saw_change(response: reqwest::Response, id: i64) -> bool {
    let mut body = response.bytes_stream();
    let needle = format!("\"id\":{id},");
    let mut seen = String::new();
    let wait = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(chunk)) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(&needle) {
                return true;
            }
        }
        false
    });
    wait.await.unwrap_or(false)
}

db_test!(async fn a_change_through_one_instance_reaches_pages_open_on_another(ctx) {
    let first = TestApp::spawn(ctx.url.expose()).await;
    // On SQLite there is one instance by design: both "pages" are on it.
    let second = match ctx.db.backend() {
        app::config::Backend::Postgres => Some(TestApp::spawn(ctx.url.expose()).await),
        app::config::Backend::Sqlite => None,
    };
    let watching = second.as_ref().unwrap_or(&first);
    first.create_user("ops1", &[Role::Ops]).await;
    let mut watcher = watching.browser();
    watcher.login("ops1", PASSWORD).await;
    let stream = watching
        .client
        .get(watching.url("/events"))
        .header(header::COOKIE, format!("baton_session={}", watcher.cookie.clone().unwrap()))
        // Pages are compressed on the fly; the event stream must not be, or events would wait
        // in the compressor's buffer.
        .header(header::ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers().get(header::CONTENT_ENCODING), None, "the event stream is sent uncompressed");
    // Give the relay a moment to be listening (it starts with the server).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut actor = first.browser();
    actor.login("ops1", PASSWORD).await;
    let reported = actor.report("Seen elsewhere").await;
    assert!(reported.status.is_success() || reported.status.is_redirection(), "{} {}", reported.status, reported.body);
    let id: i64 = app::on_db!(&first.db, pool => sqlx::query_scalar("SELECT MAX(id) FROM incidents").fetch_one(pool).await.unwrap());
    assert!(saw_change(stream, id).await, "the change arrives on the other instance within 2 s");
    if let Some(second) = second {
        second.stop().await;
    }
    first.stop().await;
});

db_test!(async fn a_reassignment_reaches_open_pages_like_every_other_change(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let ops = app.create_user("ops1", &[Role::Ops]).await;
    let ops2 = app.create_user("ops2", &[Role::Ops]).await;
    app.create_user("admin1", &[Role::Admin]).await;
    let now = chrono::Utc::now();
    let reporter = app::workflow::rules::Actor { id: ops, roles: vec![Role::Ops], ..Default::default() };
    let created = app::workflow::engine::create_incident(&app.db, &reporter, &crate::helpers::incident("Owner away"), now)
        .await
        .unwrap();
    let mut watcher = app.browser();
    watcher.login("ops2", PASSWORD).await;
    let stream = app
        .client
        .get(app.url("/events"))
        .header(header::COOKIE, format!("baton_session={}", watcher.cookie.clone().unwrap()))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut admin = app.browser();
    admin.login("admin1", PASSWORD).await;
    let (id, user) = (created.id.to_string(), ops2.to_string());
    let answer = admin
        .call(
            "/api/incidents/reassign",
            &[("incident_id", &id), ("version", "1"), ("role", "ops"), ("user_id", &user), ("reason", "ops1 is away")],
        )
        .await;
    assert!(answer.status.is_success(), "{} {}", answer.status, answer.body);
    assert!(saw_change(stream, created.id).await, "the reassignment arrives on the open page within 2 s");
    app.stop().await;
});
