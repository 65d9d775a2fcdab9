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

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(width, height, image::Rgb([30, 90, 200]))
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

db_test!(async fn attachments_are_refused_over_the_limit_typed_by_their_bytes_and_only_for_readers(ctx) {
    let app = TestApp::spawn_with(ctx.url.expose(), &[("BATON_ATTACHMENT_MAX_BYTES", "65536")]).await;
    let ops = app.create_user("ops1", &[Role::Ops]).await;
    app.create_user("dev1", &[Role::Dev]).await;
    let created = engine::create_incident(&app.db, &actor(ops, Role::Ops), &incident("附件"), Utc::now()).await.unwrap();
    let path = format!("/incidents/{}/attachments", created.key);
    let mut dev = app.browser();
    dev.login("dev1", PASSWORD).await;
    let db = app.db.clone();
    let stored = |sql: &'static str| {
        let db = db.clone();
        async move { app::on_db!(&db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap()) }
    };

    // Over the limit: 413 before anything is stored, with the reason in words.
    let big = dev.upload(&path, &[("huge.log", &vec![b'x'; 70_000])]).await;
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(big.text().await.unwrap().contains("larger than 64 KB"));
    assert_eq!((stored("SELECT COUNT(*) FROM attachments").await, stored("SELECT COUNT(*) FROM blobs").await), (0, 0));

    // A form post of a screenshot and of HTML named .png: back to the incident.
    let shot = png(64, 48);
    let html = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>".to_vec();
    let posted = dev.upload(&path, &[("screen.png", &shot), ("evil.png", &html)]).await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    assert_eq!(posted.headers()["location"], format!("/incidents/{}#attachments", created.key));
    // The same screenshot again is stored once.
    assert_eq!(dev.upload(&path, &[("screen-2.png", &shot)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored("SELECT COUNT(*) FROM attachments").await, 3);
    assert_eq!(stored("SELECT COUNT(*) FROM blobs").await, 3, "screenshot, thumbnail, the HTML");

    // The HTML is text, downloaded; the image is shown inline; both never sniffed.
    let evil = dev.get("/attachments/2/evil.png").await;
    assert_eq!(evil.status(), StatusCode::OK);
    assert_eq!(evil.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(evil.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(evil.headers()["x-content-type-options"], "nosniff");
    let image = dev.get("/attachments/1/screen.png").await;
    assert_eq!(image.headers()["content-type"], "image/png");
    assert!(image.headers()["content-disposition"].to_str().unwrap().starts_with("inline;"));
    assert_eq!(image.bytes().await.unwrap().as_ref(), shot.as_slice());
    let thumb = dev.get("/attachments/1/thumb").await;
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    // The page shows the thumbnail and the file link.
    let page = dev.get(&format!("/incidents/{}", created.key)).await.text().await.unwrap();
    assert!(page.contains("src=\"/attachments/1/thumb\""));
    assert!(page.contains("href=\"/attachments/2/evil.png\""));

    // Nobody else: a signed-out visitor gets 404, as for a file that does not exist.
    assert_eq!(app.get("/attachments/1/screen.png").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/attachments/1/thumb").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(dev.get("/attachments/999/x.png").await.status(), StatusCode::NOT_FOUND);
    // Uploading signed out stores nothing.
    let anonymous = app.browser().upload(&path, &[("a.txt", b"hello")]).await;
    assert!(anonymous.status().is_redirection() || anonymous.status() == StatusCode::NOT_FOUND);
    assert_eq!(stored("SELECT COUNT(*) FROM attachments").await, 3);
    let audit = crate::helpers::last_audit_entry(&app.db, "attachment.added").await.expect("audited");
    assert!(audit.details.contains("screen-2.png"));
});

db_test!(async fn files_posted_with_a_note_become_a_comment(ctx) {
    let app = TestApp::spawn_with(ctx.url.expose(), &[("BATON_ATTACHMENT_MAX_BYTES", "65536")]).await;
    let ops = app.create_user("ops1", &[Role::Ops]).await;
    app.create_user("dev1", &[Role::Dev]).await;
    app.create_user("qa1", &[Role::Qa]).await;
    let created = engine::create_incident(&app.db, &actor(ops, Role::Ops), &incident("备注"), Utc::now()).await.unwrap();
    let path = format!("/incidents/{}/attachments", created.key);
    let mut dev = app.browser();
    dev.login("dev1", PASSWORD).await;

    // A form post with a note: a comment holding the file, and back to that comment.
    let posted = dev.upload_with(&path, &[("comment", "@qa1 复现步骤见截图")], &[("steps.png", &png(32, 32))], false).await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let location = posted.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("/incidents/{}#comment-", created.key)), "{location}");
    let page = dev.get(&format!("/incidents/{}", created.key)).await.text().await.unwrap();
    let comment = &page[page.find("data-comment=").expect("the comment")..];
    let comment = &comment[..comment.find("</li>").unwrap()];
    assert!(comment.contains("复现步骤见截图") && comment.contains("src=\"/attachments/1/thumb\""), "{comment}");
    // The mention was queued like any comment's.
    let queued: i64 = app::on_db!(&app.db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE 'comment:%:mention:%'",
    ).fetch_one(pool).await.unwrap());
    assert_eq!(queued, 1);

    // As a script: JSON with the comment, and refusals as the encoded error.
    let answered = dev.upload_with(&path, &[("comment", "log")], &[("app.log", b"ERROR")], true).await;
    assert_eq!(answered.status(), StatusCode::OK);
    let body: serde_json::Value = answered.json().await.unwrap();
    assert!(body["comment"].as_i64().is_some(), "{body}");
    let long = "长".repeat(app::collab::MAX_COMMENT + 1);
    let refused = dev.upload_with(&path, &[("comment", &long)], &[("a.txt", b"a")], true).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: app::error::AppError = refused.json().await.unwrap();
    assert_eq!(err.field(), Some("comment"));
    let big = dev.upload_with(&path, &[], &[("big.log", &vec![b'x'; 70_000])], true).await;
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let err: app::error::AppError = big.json().await.unwrap();
    assert_eq!(err.field(), Some("file"));
    // A note with no file is refused on the server too (the form's `required` is only a hint).
    let alone = dev.upload_with(&path, &[("comment", "no file here")], &[], true).await;
    assert_eq!(alone.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: app::error::AppError = alone.json().await.unwrap();
    assert_eq!(err.field(), Some("file"));
    let stored: i64 = app::on_db!(&app.db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM attachments").fetch_one(pool).await.unwrap());
    assert_eq!(stored, 2, "nothing of the refused posts was kept");
    let comments: i64 = app::on_db!(&app.db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM comments").fetch_one(pool).await.unwrap());
    assert_eq!(comments, 2, "the refused notes were not posted");
});
