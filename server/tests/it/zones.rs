//! Times on pages: in the user's chosen zone, else the installation's, always with the instant
//! the browser may show in its own zone.

use app::{auth::Role, db_test};

use crate::helpers::{last_audit_entry, TestApp, PASSWORD};

/// The first `<time data-local>` of a page: (its UTC instant, its text, its title).
fn first_time(html: &str) -> (String, String, String) {
    let start = html.find("<time datetime=\"").expect("a time on the page");
    let tag = &html[start..];
    let attr = |name: &str| {
        let from = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[from..from + tag[from..].find('"').unwrap()].to_owned()
    };
    let text_from = tag.find('>').unwrap() + 1;
    let text = tag[text_from..text_from + tag[text_from..].find('<').unwrap()].to_owned();
    assert!(tag[..text_from].contains("data-local"), "marked for the browser's zone: {}", &tag[..text_from]);
    (attr("datetime"), text, attr("title"))
}

db_test!(async fn times_show_in_the_installation_zone_until_the_user_chooses_their_own(ctx) {
    let app = TestApp::spawn_with(ctx.url.expose(), &[("BATON_TIME_ZONE", "Europe/Berlin")]).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let mut ops = app.browser();
    ops.login("ops1", PASSWORD).await;
    let key = ops.report("Clock check").await.json().as_str().unwrap().to_owned();
    let page = ops.get(&format!("/incidents/{key}")).await.text().await.unwrap();
    assert!(page.contains("data-zone=\"Europe/Berlin\"") && page.contains("data-zone-chosen=\"false\""));
    let (at, text, title) = first_time(&page);
    assert_eq!(text, app::clock::local_parts(&at, "Europe/Berlin").text);
    assert!(title.contains("Europe/Berlin (UTC+0"), "{title}");
    assert!(page.contains("Times are shown in <span data-zone-label=\"\">Europe/Berlin</span>"), "the zone is named");

    // An unknown zone is refused with the field named, and nothing changes.
    let refused = ops.call("/api/account/time_zone", &[("time_zone", "Mars/Olympus_Mons")]).await;
    assert_eq!(refused.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("time_zone"), "{}", refused.body);

    let chosen = ops.call("/api/account/time_zone", &[("time_zone", "Asia/Kolkata")]).await;
    assert!(chosen.status.is_success() || chosen.status.is_redirection(), "{} {}", chosen.status, chosen.body);
    let page = ops.get(&format!("/incidents/{key}")).await.text().await.unwrap();
    assert!(page.contains("data-zone=\"Asia/Kolkata\"") && page.contains("data-zone-chosen=\"true\""));
    let (at, text, title) = first_time(&page);
    assert_eq!(text, app::clock::local_parts(&at, "Asia/Kolkata").text);
    assert!(title.ends_with("Asia/Kolkata (UTC+05:30)"), "{title}");
    let account = ops.get("/account").await.text().await.unwrap();
    assert!(account.contains("<option value=\"Asia/Kolkata\" selected"), "the account page shows the choice");
    let entry = last_audit_entry(&app.db, "user.updated").await.expect("audited");
    let details: serde_json::Value = serde_json::from_str(&entry.details).unwrap();
    assert_eq!(details["before"]["time_zone"], serde_json::Value::Null);
    assert_eq!(details["after"]["time_zone"], "Asia/Kolkata");

    // Back to automatic: the installation's zone, which the browser may replace with its own.
    ops.call("/api/account/time_zone", &[("time_zone", "")]).await;
    let page = ops.get(&format!("/incidents/{key}")).await.text().await.unwrap();
    assert!(page.contains("data-zone=\"Europe/Berlin\"") && page.contains("data-zone-chosen=\"false\""));
    app.stop().await;
});
