//! Comments: mentions told exactly once each, Markdown rendered inert, the author's edit window,
//! admins hiding with the text kept in the audit log, and what open pages are told.

use app::{
    auth::Role,
    collab::{storage::InDatabase, store},
    db::Db,
    db_test,
    error::{AppError, FieldProblem, Refusal},
    workflow::{engine, queries},
};
use chrono::{DateTime, Duration, Utc};

use crate::helpers::{audit_entries, count, incident, key_of, person, team, version};

fn t0() -> DateTime<Utc> {
    "2026-12-01T08:00:00Z".parse().unwrap()
}

/// The mention emails queued so far: (recipient address, subject), by recipient.
async fn mention_emails(db: &Db) -> Vec<(String, String)> {
    let rows: Vec<(String, String)> = app::on_db!(db, pool => sqlx::query_as(
        "SELECT recipients, subject FROM outbox WHERE transport = 'email' AND dedupe_key LIKE 'comment:%' ORDER BY recipients",
    )
    .fetch_all(pool)
    .await
    .unwrap());
    rows
}

db_test!(async fn a_mention_tells_each_named_user_once_and_nobody_else(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = engine::create_incident(db, &t.ops, &incident("支付失败"), t0()).await.unwrap().id;
    // Twice the same person (in two cases), the author, an unknown name, an email address and a
    // name inside code: only qa1 and pm1 are told.
    let body = "@qa1 can you retry? @QA1 too. cc @pm1, not @nobody_here, not me @dev1, \
                mail ops1@example.com, and `@ops1` in code";
    let added = store::add(db, &t.dev, id, body, t0()).await.unwrap();
    let emails = mention_emails(db).await;
    let to: Vec<&str> = emails.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(to, ["[\"pm1@example.com\"]", "[\"qa1@example.com\"]"], "{emails:?}");
    assert!(emails[0].1.contains("mentioned you"), "{:?}", emails[0]);
    // The mentions of existing users are marked in the rendered text; the others stay text.
    let html: String = app::on_db!(db, pool => sqlx::query_scalar("SELECT html FROM comments WHERE id = $1")
        .bind(added.comment_id).fetch_one(pool).await.unwrap());
    assert!(html.contains("<span class=\"mention\">@qa1</span>"), "{html}");
    assert!(!html.contains("<span class=\"mention\">@nobody_here"), "{html}");

    // An edit that keeps qa1 and adds ops1 tells only ops1.
    let edited = format!("{body} and @ops1 please call the user");
    store::edit(db, &t.dev, added.comment_id, &edited, t0() + Duration::minutes(5)).await.unwrap();
    let emails = mention_emails(db).await;
    assert_eq!(emails.len(), 3, "{emails:?}");
    assert!(emails.iter().any(|(r, _)| r.contains("ops1@example.com")));
});

/// Every tag of `html` is one the comment subset allows, with no attribute but a link's safe
/// `href` and `rel` or a mention's class. (Escaped text holds no `<`, so every `<` opens a tag.)
fn assert_inert(html: &str) {
    const TAGS: [&str; 12] = ["p", "br", "ul", "ol", "li", "code", "pre", "em", "strong", "blockquote", "a", "span"];
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or_default().trim_start_matches('/');
        let mut parts = tag.split_whitespace();
        let name = parts.next().unwrap_or_default().to_lowercase();
        assert!(TAGS.contains(&name.as_str()), "tag <{name}> in {html}");
        let attributes = tag[name.len()..].trim();
        if attributes.is_empty() {
            continue;
        }
        match name.as_str() {
            "a" => {
                let href = attributes.split("href=\"").nth(1).and_then(|h| h.split('"').next()).unwrap_or_default();
                assert!(
                    ["https://", "http://", "mailto:"].iter().any(|s| href.starts_with(s)),
                    "href {href:?} in {html}"
                );
                let rest = attributes
                    .replace(&format!("href=\"{href}\""), "")
                    .replace("rel=\"noopener noreferrer nofollow\"", "");
                assert!(rest.trim().is_empty(), "attributes {attributes:?} in {html}");
            }
            "span" => assert_eq!(attributes, "class=\"mention\"", "in {html}"),
            _ => panic!("attributes {attributes:?} on <{name}> in {html}"),
        }
    }
}

db_test!(async fn markup_and_script_in_a_comment_render_inert(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = engine::create_incident(db, &t.ops, &incident("XSS"), t0()).await.unwrap().id;
    let payloads = [
        "<script>alert(1)</script>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "<img src=x onerror=alert(1)>",
        "<a href=\"javascript:alert(1)\" onclick=\"alert(1)\">x</a>",
        "<svg onload=alert(1)>",
        "<scr<script>ipt>alert(1)</script>",
        "<div style=\"background:url(javascript:alert(1))\">x</div>",
        "![x](javascript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<iframe src=\"https://evil.example\"></iframe>",
        "**bold** and a [real link](https://example.com/a?b=1)",
    ];
    for payload in payloads {
        store::add(db, &t.dev, id, payload, t0()).await.unwrap();
    }
    let page = queries::detail_at(db, &key_of(db, id).await, &t.qa, t0()).await.unwrap();
    assert_eq!(page.comments.len(), payloads.len());
    for c in &page.comments {
        assert_inert(&c.html);
    }
    // What is allowed still renders, with the link made safe.
    let last = &page.comments[0].html;
    assert!(last.contains("<strong>bold</strong>"), "{last}");
    assert!(last.contains("href=\"https://example.com/a?b=1\""), "{last}");
    assert!(last.contains("rel=\"noopener noreferrer nofollow\""), "{last}");
    // A script typed as text is shown as text.
    let first = &page.comments.last().unwrap().html;
    assert!(first.contains("&lt;script&gt;"), "{first}");
});

db_test!(async fn only_the_author_edits_and_only_for_fifteen_minutes(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = engine::create_incident(db, &t.ops, &incident("编辑"), t0()).await.unwrap().id;
    let c = store::add(db, &t.dev, id, "first text", t0()).await.unwrap().comment_id;
    // Someone else may not.
    let err = store::edit(db, &t.qa, c, "not mine", t0() + Duration::minutes(1)).await.unwrap_err();
    assert_eq!(err, AppError::Refused(Refusal::NotNamedOwner));
    // The author may, within the window; the text before is kept and audited.
    store::edit(db, &t.dev, c, "second text", t0() + Duration::minutes(14)).await.unwrap();
    let kept: Vec<String> = app::on_db!(db, pool => sqlx::query_scalar("SELECT body FROM comment_edits WHERE comment_id = $1")
        .bind(c).fetch_all(pool).await.unwrap());
    assert_eq!(kept, ["first text"]);
    let audit = audit_entries(db).await;
    let entry = audit.iter().find(|e| e.event == "comment.edited" && e.outcome == "ok").expect("the edit is audited");
    assert!(entry.details.contains("first text") && entry.details.contains("second text"), "{}", entry.details);
    // After fifteen minutes, not even the author; nothing changes.
    let late = store::edit(db, &t.dev, c, "third text", t0() + Duration::minutes(16)).await.unwrap_err();
    assert_eq!(late, AppError::invalid("body", FieldProblem::EditWindowClosed(15)));
    let body: String = app::on_db!(db, pool => sqlx::query_scalar("SELECT body FROM comments WHERE id = $1")
        .bind(c).fetch_one(pool).await.unwrap());
    assert_eq!(body, "second text");
    // The page offers the edit form only to the author, only within the window.
    let key = key_of(db, id).await;
    let mine = queries::detail_at(db, &key, &t.dev, t0() + Duration::minutes(10)).await.unwrap();
    assert!(mine.comments[0].may_edit);
    assert_eq!(mine.comments[0].body, "second text");
    let later = queries::detail_at(db, &key, &t.dev, t0() + Duration::minutes(16)).await.unwrap();
    assert!(!later.comments[0].may_edit);
    let theirs = queries::detail_at(db, &key, &t.qa, t0() + Duration::minutes(10)).await.unwrap();
    assert!(!theirs.comments[0].may_edit);
    assert!(theirs.comments[0].body.is_empty(), "the raw text is sent only to its editor");
});

db_test!(async fn a_hidden_comment_leaves_the_page_and_stays_in_the_audit_log(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let admin = person(db, "admin1", &[Role::Admin]).await;
    let id = engine::create_incident(db, &t.ops, &incident("隐藏"), t0()).await.unwrap().id;
    let secret = "the customer's card number is 4111 1111 1111 1111";
    let c = store::add(db, &t.dev, id, secret, t0()).await.unwrap().comment_id;
    // Not for anyone but an admin, and not without a reason.
    let err = store::hide(db, &t.pm, c, "privacy", t0()).await.unwrap_err();
    assert_eq!(err, AppError::Refused(Refusal::NotYourRole));
    let err = store::hide(db, &admin, c, "  ", t0()).await.unwrap_err();
    assert_eq!(err, AppError::invalid("reason", FieldProblem::Required));
    store::hide(db, &admin, c, "card number", t0()).await.unwrap();

    let key = key_of(db, id).await;
    let page = queries::detail_at(db, &key, &t.qa, t0()).await.unwrap();
    let shown = serde_json::to_string(&page).unwrap();
    assert!(!shown.contains("4111"), "the hidden text reached the page");
    let hidden = page.comments[0].hidden.as_ref().expect("shown as hidden");
    assert_eq!(hidden.by, "admin1");
    assert!(hidden.reason.is_empty(), "the reason is for admins");
    let for_admin = queries::detail_at(db, &key, &admin, t0()).await.unwrap();
    assert_eq!(for_admin.comments[0].hidden.as_ref().unwrap().reason, "card number");

    let audit = audit_entries(db).await;
    let entry = audit.iter().find(|e| e.event == "comment.hidden" && e.outcome == "ok").expect("audited");
    assert!(entry.details.contains("4111") && entry.details.contains("card number"), "{}", entry.details);
    assert!(audit.iter().any(|e| e.event == "comment.hidden" && e.outcome == "denied"), "the refusal is audited");
    // Gone from search too; hiding twice is refused.
    let found = app::search::query::run(db, &app::search::query::Search { text: "4111".into(), ..Default::default() }).await.unwrap();
    assert!(found.hits.is_empty());
    assert_eq!(store::hide(db, &admin, c, "again", t0()).await.unwrap_err(), AppError::Refused(Refusal::Stale));
});

db_test!(async fn a_comment_moves_the_activity_not_the_version(ctx) {
    let db = &ctx.db;
    let t = team(db).await;
    let id = engine::create_incident(db, &t.ops, &incident("活动"), t0()).await.unwrap().id;
    let before = version(db, id).await;
    let first = store::add(db, &t.qa, id, "seen it too", t0()).await.unwrap();
    let second = store::add(db, &t.pm, id, "on it", t0()).await.unwrap();
    assert_eq!((first.activity, second.activity), (1, 2));
    assert_eq!((second.version, version(db, id).await), (before, before), "gate forms stay valid");
    // Empty, too long, a control character, or an unknown incident: refused, nothing written.
    assert_eq!(store::add(db, &t.qa, id, " \n ", t0()).await.unwrap_err(), AppError::invalid("body", FieldProblem::Required));
    let long = "长".repeat(10_001);
    assert_eq!(store::add(db, &t.qa, id, &long, t0()).await.unwrap_err(), AppError::invalid("body", FieldProblem::TooLong(10_000)));
    assert_eq!(store::add(db, &t.qa, id, "a\u{0}b", t0()).await.unwrap_err(), AppError::invalid("body", FieldProblem::ControlCharacter));
    assert_eq!(store::add(db, &t.qa, 999_999, "hello", t0()).await.unwrap_err(), AppError::NotFound);
    assert_eq!(count(db, "SELECT COUNT(*) FROM comments").await, 2);
    // The page places comments among the entries by time, newest first.
    let page = queries::detail_at(db, &key_of(db, id).await, &t.qa, t0()).await.unwrap();
    assert_eq!(page.activity, 2);
    assert_eq!(page.comments.iter().map(|c| c.author.name.as_str()).collect::<Vec<_>>(), ["pm1", "qa1"]);
});

/// A real PNG of `width` × `height` pixels.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]))
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A few hundred bytes claiming to be a `width` × `height` RGBA image: what a decompression bomb
/// announces before its (highly compressed) pixels.
pub fn bomb(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        c.extend_from_slice(&body);
        c.extend_from_slice(&crc32(&body).to_be_bytes());
        c
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    // A zlib stream of a few zero rows: the decoder must refuse before it inflates a gigapixel.
    out.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x60, 0x18, 0x05, 0xa3, 0x60, 0x14, 0x0c, 0x77, 0x00, 0x00, 0x00, 0x00, 0x00],
    ));
    out.extend(chunk(b"IEND", &[]));
    out
}

db_test!(async fn files_are_typed_by_their_bytes_stored_once_and_bombs_refused(ctx) {
    use app::collab::files::{self, Upload};
    let db = &ctx.db;
    let t = team(db).await;
    let created = engine::create_incident(db, &t.ops, &incident("截图"), t0()).await.unwrap();
    let max = 1024 * 1024;
    let up = |name: &str, bytes: Vec<u8>| Upload { name: name.into(), bytes };
    // A screenshot gets a thumbnail; HTML named .png is text; the same screenshot again is one blob.
    let shot = png(800, 600);
    let first = files::prepare(up("screen.png", shot.clone()), max).await.unwrap();
    let html = files::prepare(up("evil.png", b"<html><script>alert(1)</script></html>".to_vec()), max).await.unwrap();
    let again = files::prepare(up("C:\\tmp\\screen-again.png", shot.clone()), max).await.unwrap();
    let done = files::attach(db, &InDatabase, &t.dev, &created.key, vec![first, html, again], t0()).await.unwrap();
    assert_eq!(done.ids.len(), 3);
    assert_eq!(count(db, "SELECT COUNT(*) FROM attachments").await, 3);
    assert_eq!(count(db, "SELECT COUNT(*) FROM blobs").await, 3, "screenshot, its thumbnail, the text: each once");
    let page = queries::detail_at(db, &created.key, &t.qa, t0()).await.unwrap();
    let by_name = |n: &str| page.attachments.iter().find(|a| a.name == n).unwrap().clone();
    assert!(by_name("screen.png").image);
    assert_eq!(by_name("evil.png").content_type, "text/plain; charset=utf-8");
    assert!(!by_name("evil.png").image);
    assert_eq!(by_name("screen-again.png").content_type, "image/png");
    let thumb = files::download(db, &InDatabase, by_name("screen.png").id, true).await.unwrap().unwrap();
    assert_eq!(&thumb.bytes[..3], &[0xff, 0xd8, 0xff], "a JPEG thumbnail");
    let size = image::load_from_memory(&thumb.bytes).unwrap();
    assert_eq!((size.width(), size.height()), (480, 360));
    assert_eq!(page.activity, 1);

    // Too large, empty, or a bomb: refused before anything is stored.
    let big = files::prepare(up("big.log", vec![b'x'; max + 1]), max).await.unwrap_err();
    assert_eq!(big, AppError::invalid("file", FieldProblem::FileTooLarge(max)));
    assert_eq!(files::prepare(up("empty.txt", Vec::new()), max).await.unwrap_err(), AppError::invalid("file", FieldProblem::Required));
    for (w, h) in [(100_000, 100_000), (11_000, 11_000)] {
        let started = std::time::Instant::now();
        let refused = files::prepare(up("bomb.png", bomb(w, h)), max).await.unwrap_err();
        assert_eq!(refused, AppError::invalid("file", FieldProblem::ImageTooLarge), "{w}x{h}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused without unpacking it");
    }
    assert_eq!(count(db, "SELECT COUNT(*) FROM attachments").await, 3);
    // Only to an incident that exists.
    let lost = files::prepare(up("a.txt", b"x".to_vec()), max).await.unwrap();
    assert_eq!(files::attach(db, &InDatabase, &t.dev, "INC-1999-0001", vec![lost], t0()).await.unwrap_err(), AppError::NotFound);
});

db_test!(async fn files_posted_with_a_comment_show_under_it_and_hide_with_it(ctx) {
    use app::collab::files::{self, Upload};
    let db = &ctx.db;
    let t = team(db).await;
    let admin = person(db, "admin1", &[Role::Admin]).await;
    let id = engine::create_incident(db, &t.ops, &incident("截图"), t0()).await.unwrap().id;
    let key = key_of(db, id).await;
    let shot = files::prepare(Upload { name: "截图.png".into(), bytes: png(40, 30) }, 1 << 20).await.unwrap();
    let log = files::prepare(Upload { name: "app.log".into(), bytes: b"ERROR pay timeout".to_vec() }, 1 << 20).await.unwrap();
    let c = store::add_to_key(db, &InDatabase, &t.dev, &key, "@qa1 steps in the log", vec![shot, log], t0()).await.unwrap();
    // Eleven files are refused, and nothing of them is kept.
    let mut many = Vec::new();
    for n in 0..11 {
        many.push(files::prepare(Upload { name: format!("{n}.txt"), bytes: vec![b'a'; n + 1] }, 1 << 20).await.unwrap());
    }
    let err = store::add_to_key(db, &InDatabase, &t.dev, &key, "too many", many, t0()).await.unwrap_err();
    assert_eq!(err, AppError::invalid("file", FieldProblem::TooMany(files::MAX_FILES)));
    assert_eq!(store::add_to_key(db, &InDatabase, &t.dev, "INC-0000-0000", "no such", vec![], t0()).await.unwrap_err(), AppError::NotFound);

    let page = queries::detail_at(db, &key, &t.qa, t0()).await.unwrap();
    assert_eq!(page.comments.len(), 1, "the refused comment was not kept");
    let names: Vec<&str> = page.comments[0].files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["截图.png", "app.log"]);
    assert!(page.comments[0].files[0].image && !page.comments[0].files[1].image);
    assert_eq!(page.attachments.len(), 2, "the card lists them too");
    let entry = audit_entries(db).await.into_iter().find(|e| e.event == "comment.added" && e.outcome == "ok").unwrap();
    assert!(entry.details.contains("截图.png") && entry.details.contains("app.log"), "{}", entry.details);

    // Hiding the comment hides its files: gone from the page and no longer served.
    let file_id = page.comments[0].files[0].id;
    assert!(files::download(db, &InDatabase, file_id, true).await.unwrap().is_some());
    store::hide(db, &admin, c.comment_id, "private screenshot", t0()).await.unwrap();
    let page = queries::detail_at(db, &key, &t.qa, t0()).await.unwrap();
    assert!(page.attachments.is_empty() && page.comments[0].files.is_empty());
    assert!(files::download(db, &InDatabase, file_id, false).await.unwrap().is_none());
    assert!(files::download(db, &InDatabase, file_id, true).await.unwrap().is_none());
});

/// A store outside the database, as an S3 back end would be: contents in a map.
#[derive(Default)]
struct Memory(std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>);

impl app::collab::storage::BlobStore for Memory {
    fn put<'a>(
        &'a self,
        _tx: &'a mut app::db::WriteTx,
        sha256: &'a str,
        bytes: &'a [u8],
        _now: DateTime<Utc>,
    ) -> app::collab::storage::StoreFuture<'a, ()> {
        self.0.lock().unwrap().entry(sha256.to_owned()).or_insert_with(|| bytes.to_vec());
        Box::pin(async { Ok(()) })
    }

    fn get<'a>(&'a self, _db: &'a Db, sha256: &'a str) -> app::collab::storage::StoreFuture<'a, Option<Vec<u8>>> {
        let found = self.0.lock().unwrap().get(sha256).cloned();
        Box::pin(async move { Ok(found) })
    }
}

db_test!(async fn another_store_holds_the_contents_and_the_records_stay_in_the_database(ctx) {
    use app::collab::files::{self, Upload};
    let db = &ctx.db;
    let t = team(db).await;
    let created = engine::create_incident(db, &t.ops, &incident("外部存储"), t0()).await.unwrap();
    let memory = Memory::default();
    let shot = files::prepare(Upload { name: "a.png".into(), bytes: png(20, 20) }, 1 << 20).await.unwrap();
    let again = files::prepare(Upload { name: "b.png".into(), bytes: png(20, 20) }, 1 << 20).await.unwrap();
    let done = files::attach(db, &memory, &t.dev, &created.key, vec![shot, again], t0()).await.unwrap();
    assert_eq!(done.ids.len(), 2);
    assert_eq!(memory.0.lock().unwrap().len(), 2, "the image and its thumbnail, once each");
    assert_eq!(count(db, "SELECT COUNT(*) FROM blobs").await, 0, "nothing in the database store");
    let file = files::download(db, &memory, done.ids[1], false).await.unwrap().expect("served from the store");
    assert_eq!(file.bytes, png(20, 20));
    assert_eq!(file.name, "b.png");
    // The database store does not have it: a record whose content is missing is not served.
    assert!(files::download(db, &InDatabase, done.ids[1], false).await.unwrap().is_none());
});
