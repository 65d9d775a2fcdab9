//! Search: Chinese two-character and longer queries, English words, incident keys, query syntax
//! that must stay text, filters, paging, and records that predate the index.

use app::{
    collab::store as comments,
    db::Db,
    db_test,
    error::{AppError, FieldProblem},
    search::{
        index,
        query::{run, Search},
        HitKind, SearchResults, SEARCH_PAGE,
    },
    workflow::{
        engine,
        input::{GateInput, Severity},
        rules::Stage,
    },
};
use chrono::{DateTime, Duration, Utc};

use crate::helpers::{incident, key_of, step, team};

fn t0() -> DateTime<Utc> {
    "2026-11-02T08:00:00Z".parse().unwrap()
}

async fn find(db: &Db, text: &str) -> SearchResults {
    run(db, &Search { text: text.into(), ..Default::default() }).await.unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
}

fn keys(found: &SearchResults) -> Vec<String> {
    found.hits.iter().map(|h| format!("{:?}:{}", h.kind, h.key.clone().unwrap_or_default())).collect()
}

db_test!(async fn chinese_english_and_keys_are_found(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let mut pay = incident("微信支付失败");
    pay.description = "用户在结算页点击支付后页面空白".into();
    let pay = engine::create_incident(db, &t.ops, &pay, t0()).await.unwrap();
    let mut login = incident("登录超时");
    login.description = "Login times out after 30s on the Android app".into();
    let login = engine::create_incident(db, &t.ops, &login, t0()).await.unwrap();
    let mut other = incident("Checkout button misaligned");
    other.description = "Cosmetic only".into();
    let other = engine::create_incident(db, &t.ops, &other, t0()).await.unwrap();
    comments::add(db, &t.dev, login.id, "支付宝回调也丢了，先看 **nginx** 日志", t0()).await.unwrap();

    // Two Chinese characters: the incident whose title has them and the comment that does.
    let found = find(db, "支付").await;
    assert_eq!(keys(&found), [format!("Incident:{}", pay.key), format!("Comment:{}", login.key)]);
    // The title match ranks first and its words are marked.
    assert!(found.hits[0].title.iter().any(|(text, hit)| *hit && text == "支付"), "{:?}", found.hits[0].title);
    assert!(found.hits[1].fragment.iter().any(|(text, hit)| *hit && text == "支付"), "{:?}", found.hits[1].fragment);
    assert_eq!(keys(&find(db, "登录").await), [format!("Incident:{}", login.key)]);
    assert_eq!(keys(&find(db, "支付失败").await), [format!("Incident:{}", pay.key)]);
    assert_eq!(keys(&find(db, "页面空白").await), [format!("Incident:{}", pay.key)]);
    // English, in any case; several words must all appear.
    assert_eq!(keys(&find(db, "LOGIN android").await), [format!("Incident:{}", login.key)]);
    assert!(find(db, "login iphone").await.hits.is_empty());
    assert_eq!(keys(&find(db, "nginx").await), [format!("Comment:{}", login.key)]);
    // A key finds its incident first; part of one finds it too.
    assert_eq!(find(db, &other.key.to_lowercase()).await.hits[0].key.as_deref(), Some(other.key.as_str()));
    assert_eq!(find(db, &other.key).await.hits[0].kind, HitKind::Incident);
    assert!(find(db, "不存在的词").await.hits.is_empty());
    // A root cause written later is found.
    engine::act(db, &t.ops, pay.id, 1, &GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }, t0()).await.unwrap();
    step(db, &t.pm, pay.id, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }).await.unwrap();
    step(db, &t.dev, pay.id, GateInput::Propose { root_cause: "签名证书过期".into(), solution: "续期证书".into() }).await.unwrap();
    assert_eq!(keys(&find(db, "证书").await), [format!("Incident:{}", pay.key)]);
});

db_test!(async fn query_syntax_stays_text_and_never_errors(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let mut a = incident("Discount 50% off fails");
    a.description = "The \"VIP\" user's coupon * OR code breaks".into();
    let a = engine::create_incident(db, &t.ops, &a, t0()).await.unwrap();
    engine::create_incident(db, &t.ops, &incident("Another report about 500 errors"), t0()).await.unwrap();
    for q in ["\"", "*", "OR", "%", "'", "\"VIP\"", "50%", "user's", "* OR", "'; DROP TABLE incidents; --", "a\"b", "NEAR(", "^x", "\\\\"] {
        match run(db, &Search { text: q.into(), ..Default::default() }).await {
            Ok(_) => {}
            Err(AppError::Invalid { field, problem: FieldProblem::TooShort(2) }) if field == "q" => {}
            Err(e) => panic!("{q:?} failed: {e:?}"),
        }
    }
    // The characters mean themselves: `50%` matches the text "50%", not everything.
    assert_eq!(keys(&find(db, "50%").await), [format!("Incident:{}", a.key)]);
    assert_eq!(keys(&find(db, "\"VIP\"").await), [format!("Incident:{}", a.key)]);
    assert_eq!(keys(&find(db, "user's").await), [format!("Incident:{}", a.key)]);
    assert!(find(db, "OR").await.hits.iter().all(|h| h.key.as_deref() == Some(a.key.as_str())));
    // One character, or none, is refused with a message; the tables are still there.
    let short = run(db, &Search { text: "支".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(short, AppError::invalid("q", FieldProblem::TooShort(2)));
    let empty = run(db, &Search { text: "   ".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(empty, AppError::invalid("q", FieldProblem::Required));
    assert_eq!(find(db, "500 errors").await.hits.len(), 1);
});

db_test!(async fn filters_and_pages_hold(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    // 25 reports about 支付, one a day, P1 except every fifth (P0); one of them triaged.
    let mut ids = Vec::new();
    for n in 0..25 {
        let mut new = incident(&format!("支付问题 {n}"));
        new.severity = if n % 5 == 0 { Severity::P0 } else { Severity::P1 };
        ids.push(engine::create_incident(db, &t.ops, &new, t0() + Duration::days(n)).await.unwrap().id);
    }
    engine::act(db, &t.ops, ids[3], 1, &GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }, t0() + Duration::days(3)).await.unwrap();

    let first = find(db, "支付").await;
    assert_eq!(first.hits.len(), SEARCH_PAGE);
    let next = run(db, &Search { text: "支付".into(), after: first.next.clone(), ..Default::default() }).await.unwrap();
    assert_eq!(next.hits.len(), 25 - SEARCH_PAGE);
    assert!(next.next.is_none());
    let mut all: Vec<String> = first.hits.iter().chain(&next.hits).map(|h| h.href.clone()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 25, "pages neither repeat nor skip");
    // Newest first within a rank.
    assert_eq!(first.hits[0].key.as_deref(), Some(key_of(db, ids[24]).await.as_str()));

    let p0 = run(db, &Search { text: "支付".into(), severity: Some(Severity::P0), ..Default::default() }).await.unwrap();
    assert_eq!(p0.hits.len(), 5);
    assert!(p0.hits.iter().all(|h| h.severity == Some(Severity::P0)));
    let awaiting = run(db, &Search { text: "支付".into(), stage: Some(Stage::AwaitingPm), ..Default::default() }).await.unwrap();
    assert_eq!(awaiting.hits.iter().map(|h| h.key.clone().unwrap()).collect::<Vec<_>>(), [key_of(db, ids[3]).await]);
    let week = Search {
        text: "支付".into(),
        from: Some(t0() + Duration::days(10)),
        before: Some(t0() + Duration::days(17)),
        ..Default::default()
    };
    assert_eq!(run(db, &week).await.unwrap().hits.len(), 7);
});

db_test!(async fn title_hits_rank_first_across_pages(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    // 30 reports, reported in turn: even ones say 支付 in the title, odd ones only in the text.
    // A two-term query is in the title rank only when both terms are in the title.
    let (mut all, mut titled, mut texted) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..30 {
        let mut new = if n % 2 == 0 { incident(&format!("支付失败 {n}")) } else { incident(&format!("页面空白 {n}")) };
        new.description = format!("结算页点击支付后超时 {n}");
        let id = engine::create_incident(db, &t.ops, &new, t0() + Duration::minutes(n)).await.unwrap().id;
        let key = key_of(db, id).await;
        all.push(key.clone());
        if n % 2 == 0 { titled.push(key) } else { texted.push(key) }
    }
    all.reverse();
    titled.reverse();
    texted.reverse();
    let first = find(db, "支付").await;
    let next = run(db, &Search { text: "支付".into(), after: first.next.clone(), ..Default::default() }).await.unwrap();
    assert!(next.next.is_none());
    let order: Vec<String> = first.hits.iter().chain(&next.hits).map(|h| h.key.clone().unwrap()).collect();
    // Every title hit, newest first, then every text hit, newest first, across the page break.
    assert_eq!(order, titled.iter().chain(&texted).cloned().collect::<Vec<_>>());
    // A page that starts inside the text rank continues there.
    let third = run(db, &Search { text: "支付".into(), after: Some(format!("1.{}", i64::MAX)), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(third.hits.iter().map(|h| h.key.clone().unwrap()).collect::<Vec<_>>(), texted);
    // Two terms rank by title only when both are in it: 支付 in the title and 超时 in the text
    // puts every report in the text rank, newest first.
    let both = find(db, "支付 失败").await;
    assert_eq!(both.hits.len(), 15);
    let mixed = find(db, "支付 超时").await;
    let mixed_keys: Vec<String> = mixed.hits.iter().map(|h| h.key.clone().unwrap()).collect();
    assert_eq!(mixed_keys, all[..SEARCH_PAGE]);
    let title_only = find(db, "失败 空白").await;
    assert!(title_only.hits.is_empty(), "terms from two different titles match nothing");
});

db_test!(async fn records_from_before_the_index_are_added(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let a = engine::create_incident(db, &t.ops, &incident("旧的登录问题"), t0()).await.unwrap();
    comments::add(db, &t.dev, a.id, "旧评论：缓存雪崩", t0()).await.unwrap();
    // As if the records predated the index.
    app::on_db!(db, pool => {
        if matches!(db, Db::Sqlite(..)) {
            sqlx::query("DELETE FROM search_grams").execute(pool).await.unwrap();
        }
        sqlx::query("DELETE FROM search_docs").execute(pool).await.unwrap();
    });
    assert!(find(db, "登录").await.hits.is_empty());
    assert_eq!(index::fill_missing(db, std::time::Duration::ZERO).await.unwrap(), 2);
    assert_eq!(keys(&find(db, "登录").await), [format!("Incident:{}", a.key)]);
    assert_eq!(keys(&find(db, "雪崩").await), [format!("Comment:{}", a.key)]);
    assert_eq!(index::fill_missing(db, std::time::Duration::ZERO).await.unwrap(), 0, "nothing twice");
});
