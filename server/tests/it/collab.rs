//! Comments and search over HTTP: a comment posted as a form shows inert on the incident page
//! with the live counter moved, only admins hide, and the search page finds Chinese text with the
//! match marked; anonymous visitors are sent to sign in.

use app::{auth::Role, db_test, workflow::engine};
use chrono::Utc;
use reqwest::StatusCode;

use crate::helpers::{actor, incident, TestApp, PASSWORD};

db_test!(async fn comments_show_inert_and_search_finds_them(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let ops = app.create_user("ops1", &[Role::Ops]).await;
    app.create_user("dev1", &[Role::Dev]).await;
    app.create_user("qa1", &[Role::Qa]).await;
    let created = engine::create_incident(&app.db, &actor(ops, Role::Ops), &incident("微信支付失败"), Utc::now()).await.unwrap();
    let id = created.id.to_string();

    let mut dev = app.browser();
    dev.login("dev1", PASSWORD).await;
    let body = "@qa1 请按以下步骤复现：\n\n1. 打开结算页\n2. 点击 **支付**\n\n<script>alert(1)</script>";
    let added = dev.call("/api/comments/add", &[("incident_id", &id), ("body", body)]).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);

    let mut qa = app.browser();
    qa.login("qa1", PASSWORD).await;
    let page = qa.get(&format!("/incidents/{}", created.key)).await.text().await.unwrap();
    assert!(page.contains("data-live-activity=\"1\""), "the live counter moved");
    assert!(page.contains("<span class=\"mention\">@qa1</span>"), "the mention is marked");
    assert!(page.contains("<li>打开结算页</li>"), "the list is rendered");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the script is shown as text");
    assert!(!page.contains("<script>alert(1)"), "and never runs");
    assert!(page.contains("id=\"comment-body\""), "everyone may comment");
    assert!(!page.contains("comment-edit-"), "only the author edits");

    // Only admins hide; the refusal changes nothing.
    let refused = qa.call("/api/comments/hide", &[("comment_id", "1"), ("reason", "x")]).await;
    assert!(!refused.status.is_success());
    assert!(qa.get(&format!("/incidents/{}", created.key)).await.text().await.unwrap().contains("打开结算页"));

    // The header's search finds the two-character word in the title and in the comment.
    let found = qa.get("/search?q=%E6%94%AF%E4%BB%98").await;
    assert_eq!(found.status(), StatusCode::OK);
    let found = found.text().await.unwrap();
    assert!(found.contains("<mark>支付</mark>"), "the match is marked");
    assert!(found.contains(&format!("href=\"/incidents/{}\"", created.key)));
    assert!(found.contains(&format!("href=\"/incidents/{}#comment-1\"", created.key)));
    assert!(found.contains("action=\"/search\""), "the box is in the header");
    // One character: a message, not an error page.
    let short = qa.get("/search?q=%E6%94%AF").await.text().await.unwrap();
    assert!(short.contains("At least 2 characters"), "the reason is given");

    // Signed out: sent to sign in.
    let anonymous = app.get("/search?q=abc").await;
    assert!(anonymous.url().path().starts_with("/login") || anonymous.status().is_redirection(), "{}", anonymous.url());
});
