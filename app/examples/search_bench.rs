//! Measures search over many incidents with Chinese and English text.
//!
//! `search_bench sqlite|postgres` seeds a fresh database with `BENCH_INCIDENTS` (default 100,000)
//! incidents whose titles and descriptions mix Chinese and English words (common words far more
//! often than rare ones, as in real reports), and a comment on every fourth; indexes them with
//! the start-up pass (`search::index::fill_missing`), then times queries: two-character Chinese
//! words common and rare, longer Chinese phrases, English words, an incident key, two terms, and
//! a word that is nowhere.

use std::time::Instant;

use app::{
    config::Backend,
    db::Db,
    search::{
        index,
        query::{run, Search},
    },
    testing::TestDb,
    workflow::input::Severity,
};
use chrono::{Duration, Utc};

/// A small deterministic generator: the same text on every run and on both databases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A word, the first ones of the list far more often than the last (roughly Zipf).
    fn word<'a>(&mut self, words: &[&'a str]) -> &'a str {
        let a = (self.next() % words.len() as u64) as usize;
        let b = (self.next() % words.len() as u64) as usize;
        words[a.min(b)]
    }
}

const CHINESE: &[&str] = &[
    "支付",
    "失败",
    "页面",
    "用户",
    "订单",
    "登录",
    "超时",
    "报错",
    "白屏",
    "无法",
    "提交",
    "显示",
    "数据",
    "接口",
    "退款",
    "优惠券",
    "库存",
    "短信",
    "验证码",
    "物流",
    "发票",
    "会员",
    "积分",
    "推送",
    "崩溃",
    "闪退",
    "卡顿",
    "网关",
    "回调",
    "证书",
    "缓存",
    "同步",
    "配置",
    "版本",
    "升级",
    "安卓",
    "小程序",
    "微信",
    "支付宝",
    "银行卡",
    "地址",
    "头像",
    "上传",
    "下载",
    "结算",
    "购物车",
    "客服",
    "评价",
    "搜索",
    "分享",
    "红包",
    "签到",
    "直播",
    "视频",
    "扫码",
    "定位",
];

const ENGLISH: &[&str] = &[
    "error",
    "timeout",
    "checkout",
    "login",
    "payment",
    "android",
    "ios",
    "crash",
    "blank",
    "page",
    "order",
    "refund",
    "coupon",
    "gateway",
    "callback",
    "certificate",
    "cache",
    "nginx",
    "database",
    "deadlock",
    "latency",
    "retry",
    "webhook",
    "session",
    "token",
    "upload",
    "image",
    "invoice",
    "shipping",
    "inventory",
];

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut out = String::new();
    for n in 0..words {
        // Chinese runs of words without spaces, English words spaced, as people write them.
        if rng.next().is_multiple_of(4) {
            out.push(' ');
            out.push_str(rng.word(ENGLISH));
            out.push(' ');
        } else {
            out.push_str(rng.word(CHINESE));
        }
        if n % 7 == 6 {
            out.push('，');
        }
    }
    out
}

/// Inserts `many` incidents and a comment on every fourth, in batches.
async fn seed(db: &Db, many: usize) {
    let author = app::users::bootstrap::create_user(
        db,
        &app::auth::password::PasswordHasher::new(1),
        app::users::bootstrap::CliUser {
            username: "dev1".into(),
            display_name: "dev1".into(),
            email: "dev1@example.com".into(),
            language: "zh-CN".into(),
            roles: vec![app::auth::Role::Dev],
            password: "benchmark password".into(),
            must_change: false,
        },
    )
    .await
    .unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let start = Utc::now() - Duration::days(365);
    let batch = 500;
    let mut done = 0;
    while done < many {
        let n = batch.min(many - done);
        let mut tx = db.begin_write().await.unwrap();
        for j in 0..n {
            let i = done + j;
            let at = start + Duration::seconds(i as i64 * 300);
            let (title, description) = (sentence(&mut rng, 4), sentence(&mut rng, 30));
            let id: i64 = app::on_tx!(&mut tx, conn => sqlx::query_scalar(
                "INSERT INTO incidents (key, title, description, severity, channel, reporter_name, reporter_contact, \
                 external_ref, stage, created_at, updated_at, stage_entered_at) \
                 VALUES ($1, $2, $3, $4, 'email', '', '', '', 'reported', $5, $5, $5) RETURNING id",
            )
            .bind(format!("INC-2026-{i:05}"))
            .bind(&title)
            .bind(&description)
            // One in fifty is P0: the filter on a rare value makes a common word's hits sparse.
            .bind(if i.is_multiple_of(50) { "p0" } else { "p2" })
            .bind(at)
            .fetch_one(conn)
            .await
            .unwrap());
            if i.is_multiple_of(4) {
                let body = sentence(&mut rng, 20);
                app::on_tx!(&mut tx, conn => sqlx::query(
                    "INSERT INTO comments (incident_id, author_id, body, html, created_at) VALUES ($1, $2, $3, '', $4)",
                )
                .bind(id)
                .bind(author)
                .bind(&body)
                .bind(at)
                .execute(conn)
                .await
                .unwrap()
                .rows_affected());
            }
        }
        tx.commit().await.unwrap();
        done += n;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let many: usize = std::env::var("BENCH_INCIDENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let backend = match std::env::args().nth(1).as_deref() {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let test_db = TestDb::create(backend).await.expect("database");
    let db = test_db.db.clone();
    let started = Instant::now();
    seed(&db, many).await;
    println!(
        "| {backend} | seed {many} incidents, {} comments | {:.1} s | |",
        many.div_ceil(4),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let indexed = index::fill_missing(&db, std::time::Duration::ZERO).await.unwrap();
    println!(
        "| {backend} | index them (start-up pass) | {:.1} s | {indexed} documents |",
        started.elapsed().as_secs_f64()
    );
    app::on_db!(&db, pool => { sqlx::query("ANALYZE").execute(pool).await.unwrap(); });
    let key = format!("INC-2026-{:05}", many / 2);
    let queries: [(&str, &str); 10] = [
        ("two Chinese characters, common", "支付"),
        ("two Chinese characters, rare", "定位"),
        ("three Chinese characters", "验证码"),
        ("Chinese phrase", "退款失败"),
        ("English word", "deadlock"),
        ("English word, common", "error"),
        ("incident key", &key),
        ("two terms", "支付 timeout"),
        ("found nowhere", "不存在的词"),
        ("phrase made of common words", "失败支付失败"),
    ];
    let mut cases: Vec<(String, Search)> = queries
        .iter()
        .map(|(name, text)| (format!("{name} ({text})"), Search { text: (*text).into(), ..Default::default() }))
        .collect();
    cases.push((
        "common word, P0 only (支付, 2 % of incidents)".into(),
        Search { text: "支付".into(), severity: Some(Severity::P0), ..Default::default() },
    ));
    let second = run(&db, &Search { text: "支付".into(), ..Default::default() }).await.unwrap().next;
    cases.push((
        "common word, second page (支付)".into(),
        Search { text: "支付".into(), after: second, ..Default::default() },
    ));
    for (name, search) in cases {
        let mut samples = Vec::new();
        let mut hits = 0;
        for _ in 0..30 {
            let t = Instant::now();
            let found = run(&db, &search).await.unwrap();
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
            hits = found.hits.len();
        }
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let (median, p95) = (samples[samples.len() / 2], samples[samples.len() * 95 / 100]);
        println!("| {backend} | {name} | {median:.1} ms median, {p95:.1} ms p95 | {hits} hits on the first page |");
    }
    test_db.destroy().await;
}
