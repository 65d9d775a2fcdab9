//! The reports page and its CSV downloads over HTTP: PMs and admins only, an empty range says so,
//! charts are SVG in the page, and a download is UTF-8 with a byte-order mark so that Excel shows
//! Chinese intact.

use app::{auth::Role, db_test};
use reqwest::StatusCode;

use crate::helpers::{TestApp, PASSWORD};

db_test!(async fn reports_are_for_pms_and_admins_and_download_as_utf8_csv_with_a_bom(ctx) {
    let app = TestApp::spawn(ctx.url.expose()).await;
    app.create_user("ops1", &[Role::Ops]).await;
    app.create_user("dev1", &[Role::Dev]).await;
    app.create_user("pm1", &[Role::Pm]).await;

    let mut dev = app.browser();
    dev.login("dev1", PASSWORD).await;
    let page = dev.get("/reports").await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(!page.text().await.unwrap().contains("report-from"), "no filters beside the refusal");
    let denied = crate::helpers::last_audit_entry(&app.db, "access.denied").await.expect("the refusal is recorded");
    assert_eq!((denied.actor_name.as_str(), denied.target.as_str()), ("dev1", "/reports"));
    assert_eq!(dev.get("/reports/export.csv?table=summary").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(dev.call("/api/reports/figures", &[]).await.status, StatusCode::FORBIDDEN);
    let home = dev.get("/").await.text().await.unwrap();
    assert!(!home.contains("href=\"/reports\""), "no link to a page they cannot open");
    assert!(home.contains("href=\"/measures\""));

    let mut pm = app.browser();
    pm.login("pm1", PASSWORD).await;
    // Nothing reported yet: the page says so instead of showing zeros as data.
    let empty = pm.get("/reports").await;
    assert_eq!(empty.status(), StatusCode::OK);
    let empty = empty.text().await.unwrap();
    assert!(empty.contains("report-empty"), "empty state");
    assert!(!empty.contains("<svg"), "no chart of nothing");

    let mut ops = app.browser();
    ops.login("ops1", PASSWORD).await;
    assert!(ops.report("支付失败").await.status.is_success());
    let page = pm.get("/reports").await.text().await.unwrap();
    assert!(page.contains("class=\"chart\" role=\"img\""), "the weekly chart is drawn on the server");
    assert!(page.contains("<title id=\"chart-weeks-title\">"), "an accessible name");
    assert!(page.contains("/reports/export.csv?table=weeks"));

    // A bad range is refused with the field, in the page's error encoding.
    let bad = pm.get("/reports/export.csv?table=summary&from=2026-13-01").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("\"from\""));
    assert_eq!(pm.get("/reports/export.csv?table=secrets").await.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // In Chinese: the bytes start with the UTF-8 byte-order mark and carry the Chinese header.
    pm.request_form("/lang", &[("lang", "zh-CN"), ("back", "/reports")]).await;
    let csv = pm.get("/reports/export.csv?table=summary").await;
    assert_eq!(csv.status(), StatusCode::OK);
    let headers = csv.headers().clone();
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"baton-summary-"), "{disposition}");
    let bytes = csv.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(text.starts_with("指标,数量,"), "{text}");
    assert!(text.contains("\r\n上报,1,"), "{text}");
});
