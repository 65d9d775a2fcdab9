//! Chat channels over HTTP: admins add a channel (refusals by field, nothing stored), send a test
//! message and read the platform's answer; the page and the outbox never show the credentials;
//! users set their chat identities; a server with channels but no key refuses to start.

use app::{auth::Role, chat::test_receiver::Receiver, chat::ChannelKind, db_test};
use reqwest::StatusCode;

use crate::helpers::{config_for, TestApp, PASSWORD};

const SECRET: &str = "SECb6a1f1d0c2e34f5a9e8d7c6b5a4f3e2d1";

/// The channel form as the page submits it.
fn form<'a>(name: &'a str, kind: &'a str, url: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("kind", kind),
        ("language", "zh-CN"),
        ("events[stage_entered]", "on"),
        ("events[intake]", "on"),
        ("url", url),
        ("secret", secret),
        ("enabled", "true"),
    ]
}

fn problem(answer: &crate::helpers::Answer) -> (String, serde_json::Value) {
    let json = answer.json();
    (json["Invalid"]["field"].as_str().unwrap_or_default().to_owned(), json["Invalid"]["problem"].clone())
}

db_test!(async fn admins_add_a_channel_test_it_and_never_see_its_credentials_again(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("root", &[Role::Admin]).await;
    app.create_user("ops1", &[Role::Ops]).await;
    let rx = Receiver::start().await;
    rx.endpoint("/ding", ChannelKind::Dingtalk, Some(SECRET));
    let url = format!("{}/ding?access_token=robot-token-123", rx.base_url());

    let mut ops = app.browser();
    ops.login("ops1", PASSWORD).await;
    assert_eq!(ops.call("/api/chat/create", &form("ops", "dingtalk", &url, SECRET)).await.status, StatusCode::FORBIDDEN);
    let page = ops.get("/admin/channels").await.text().await.unwrap();
    assert!(!page.contains("name=\"url\""), "no channel form for others");

    let mut admin = app.browser();
    admin.login("root", PASSWORD).await;
    // 127.0.0.1 is internal: refused until an admin allows it by name.
    let refused = admin.call("/api/chat/create", &form("群机器人", "dingtalk", &url, SECRET)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(problem(&refused), ("url".to_owned(), serde_json::json!({ "InternalAddress": "127.0.0.1" })));
    for (field, value, expected) in [
        ("kind", "slack", serde_json::json!("InvalidChoice")),
        ("name", "", serde_json::json!("Required")),
        ("secret", "not-a-dingtalk-secret", serde_json::json!("SecretFormat")),
    ] {
        let mut f = form("群机器人", "dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=x", SECRET);
        f.retain(|(k, _)| *k != field);
        f.push((field, value));
        let answer = admin.call("/api/chat/create", &f).await;
        assert_eq!(problem(&answer), (field.to_owned(), expected), "{}", answer.body);
    }
    let stored = app::chat::store::list(&app.db).await.unwrap();
    assert!(stored.is_empty(), "nothing was stored");

    let allowed = admin.call("/api/chat/allowed_hosts", &[("hosts", "127.0.0.1 # the test receiver")]).await;
    assert!(allowed.status.is_success() || allowed.status.is_redirection(), "{} {}", allowed.status, allowed.body);
    let created = admin.call("/api/chat/create", &form("群机器人", "dingtalk", &url, SECRET)).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = created.json()["id"].as_i64().unwrap();

    let tested = admin.call("/api/chat/test", &[("id", &id.to_string())]).await;
    assert_eq!(tested.status, StatusCode::OK, "{}", tested.body);
    assert_eq!(tested.json()["outcome"], "delivered", "{}", tested.body);
    assert_eq!(tested.json()["answer"], r#"HTTP 200: {"errcode":0,"errmsg":"ok"}"#, "the platform's answer");
    let got = rx.received("/ding");
    assert_eq!(got.len(), 1);
    assert!(got[0].signature_ok && got[0].problems.is_empty(), "{:?} {:?}", got[0].signature_error, got[0].problems);
    assert!(got[0].body["markdown"]["text"].as_str().unwrap().contains("测试消息"), "written in the channel's language");

    let page = admin.get("/admin/channels").await.text().await.unwrap();
    assert!(page.contains("群机器人"), "the channel is listed");
    assert!(!page.contains("robot-token-123") && !page.contains(SECRET), "credentials are never shown");
    let outbox = admin.get("/admin/outbox?transport=chat").await.text().await.unwrap();
    assert!(outbox.contains("群机器人"), "the test message is on the outbox page with its channel");
    assert!(!outbox.contains("robot-token-123"));

    let removed = admin.call("/api/chat/remove", &[("id", &id.to_string())]).await;
    assert!(removed.status.is_success() || removed.status.is_redirection(), "{}", removed.body);
    assert!(app::chat::store::list(&app.db).await.unwrap().is_empty());
    let events: Vec<String> = crate::helpers::audit_entries(&app.db).await.into_iter().map(|e| e.event).collect();
    for event in ["chat.channel_created", "chat.sent", "chat.channel_removed", "settings.changed"] {
        assert!(events.iter().any(|e| e == event), "{event} is audited: {events:?}");
    }
    app.stop().await;
});

db_test!(async fn users_set_their_chat_identities_and_bad_ones_are_refused(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    let dev = app.create_user("dev1", &[Role::Dev]).await;
    let mut browser = app.browser();
    browser.login("dev1", PASSWORD).await;
    for (field, value, expected) in [
        ("mobile", "call me", "NotMobile"),
        ("wecom_userid", "a b<c>", "NotChatId"),
        ("feishu_open_id", "on_123", "NotOpenId"),
    ] {
        let answer = browser.call("/api/account/set_chat_identity", &[(field, value)]).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
        assert_eq!(problem(&answer), (field.to_owned(), serde_json::json!(expected)));
    }
    let saved = browser
        .call(
            "/api/account/set_chat_identity",
            &[("mobile", "+86 138 0000 0001"), ("wecom_userid", "dev.one"), ("feishu_open_id", "ou_abc123")],
        )
        .await;
    assert!(saved.status.is_success() || saved.status.is_redirection(), "{}", saved.body);
    let identity = app::users::store::chat_identity(&app.db, dev).await.unwrap();
    assert_eq!(identity.mobile, "+8613800000001");
    assert_eq!(identity.feishu_open_id, "ou_abc123");
    let account = browser.get("/account").await.text().await.unwrap();
    assert!(account.contains("dev.one"), "the account page shows them");
    app.stop().await;
});

db_test!(async fn a_server_with_channels_but_no_key_or_another_key_refuses_to_start(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("root", &[Role::Admin]).await;
    let mut admin = app.browser();
    admin.login("root", PASSWORD).await;
    let created = admin
        .call(
            "/api/chat/create",
            &form("wecom", "wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", ""),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    app.stop().await;

    let data = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = config_for(ctx.url.expose(), data.path(), "http://127.0.0.1:1", &[]);
    config.secret_key = None;
    let err = server::Application::build_with_listener(config, listener).await.err().expect("start-up is refused");
    assert!(err.to_string().contains("BATON_SECRET_KEY"), "{err}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = app::chat::sealed::SecretKey::generate_base64();
    let config = config_for(ctx.url.expose(), data.path(), "http://127.0.0.1:1", &[("BATON_SECRET_KEY", &other)]);
    let err = server::Application::build_with_listener(config, listener).await.err().expect("start-up is refused");
    assert!(err.to_string().contains("not the key"), "{err}");
});
