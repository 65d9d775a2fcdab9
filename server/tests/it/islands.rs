//! Pages in islands mode: complete server HTML, with only the interactive parts marked for the
//! browser, and forms that work as plain posts.

use app::{auth::Role, db_test};
use reqwest::{header, StatusCode};

use crate::helpers::{TestApp, PASSWORD};

/// The islands of `html`, by component name without the macro's hash suffix.
fn islands(html: &str) -> Vec<String> {
    html.split("<leptos-island data-component=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|name| name.rsplit_once('_').map_or(name, |(base, _)| base).to_owned())
        .collect()
}

db_test!(async fn pages_ship_their_forms_as_islands_and_no_hydration_data(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("ops1", &[Role::Ops]).await;

    // Anonymous: the sign-in form is an island; nothing listens for changes.
    let login = app.get("/login").await.text().await.unwrap();
    assert_eq!(islands(&login), ["Enhance"], "{login}");
    // The error slots are in the page, empty and hidden, for the browser to fill.
    assert!(login.contains("data-form-error=\"\" hidden"), "{login}");
    assert!(login.contains("data-error-for=\"username\" hidden"), "{login}");

    let mut ops = app.browser();
    ops.login("ops1", PASSWORD).await;
    let reported = ops.report("Islands").await;
    assert!(reported.status.is_success(), "{} {}", reported.status, reported.body);
    let (id, key): (i64, String) =
        app::on_db!(&app.db, pool => sqlx::query_as("SELECT id, key FROM incidents").fetch_one(pool).await.unwrap());

    let page = ops.get(&format!("/incidents/{key}")).await.text().await.unwrap();
    // The live listener, the header's sign-out, ops' two triage forms, the comment form and the
    // upload form: ops may claim no role here (they own the ops role already and hold no other).
    let found = islands(&page);
    assert_eq!(found.iter().filter(|n| *n == "LiveUpdates").count(), 1, "{found:?}");
    assert_eq!(
        found.iter().filter(|n| *n == "Enhance").count(),
        5,
        "sign-out, two triage forms, comment, upload: {found:?}"
    );
    assert!(page.contains(&format!("data-live-incident=\"{id}\" data-live-version=\"1\"")), "{page}");
    // Outside the islands nothing is hydrated: the page's data is not serialized into it again
    // (Leptos still writes its empty resource table).
    assert!(page.contains("__RESOLVED_RESOURCES=[];"), "{page}");
    // The queue redraws on any change.
    let home = ops.get("/").await.text().await.unwrap();
    assert!(home.contains("data-live-any"), "{home}");
    app.stop().await;
});

db_test!(async fn a_plain_form_post_follows_the_redirect_and_a_script_gets_it_as_a_header(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let form = [("username", "ops1"), ("password", PASSWORD), ("next", "/incidents")];
    let post = |accept: &'static str| {
        app.client.post(app.url("/api/auth/login")).header(header::ACCEPT, accept).header(header::REFERER, app.url("/login")).form(&form).send()
    };
    let plain = post("text/html,application/xhtml+xml").await.unwrap();
    assert_eq!(plain.status(), StatusCode::FOUND);
    assert_eq!(plain.headers()[header::LOCATION], "/incidents");
    // What the browser's in-place submission sends: it reads the target from the header.
    let scripted = post("application/json").await.unwrap();
    assert_eq!(scripted.status(), StatusCode::OK);
    assert_eq!(scripted.headers()[header::LOCATION], "/incidents");
    app.stop().await;
});
