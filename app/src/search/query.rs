//! Reading the search index: candidates from the grams, the exact check on the folded text,
//! filters, ranking and keyset paging.

use chrono::{DateTime, Utc};

use super::{
    grams::{self, QueryError},
    index::DocKind,
    HitKind, SearchHit, SearchResults, SEARCH_PAGE,
};
use crate::{
    config::Backend,
    db::{parse_stored, Db},
    error::{AppError, FieldProblem},
    workflow::{input::Severity, rules::Stage},
};

/// What to search for.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// The query as typed.
    pub text: String,
    /// Only incidents (and their comments) in this stage.
    pub stage: Option<Stage>,
    /// Only incidents (and their comments) of this severity.
    pub severity: Option<Severity>,
    /// Only records written at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only records written before this time.
    pub before: Option<DateTime<Utc>>,
    /// The page after this cursor (`score.id` of the last hit shown).
    pub after: Option<String>,
}

/// A value to bind, in order of its first placeholder.
enum Arg {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
    Texts(Vec<String>),
}

/// Builds SQL whose placeholders are numbered in the order they appear (SQLite needs that).
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    fn arg(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }
}

#[derive(sqlx::FromRow)]
struct HitRow {
    id: i64,
    kind: String,
    ref_id: i64,
    at: DateTime<Utc>,
    title: String,
    body: String,
    incident_key: Option<String>,
    incident_title: Option<String>,
    stage: Option<String>,
    severity: Option<String>,
    score: i64,
}

/// A page cursor: the score and document id of the last hit shown.
fn cursor(text: &str) -> Option<(i64, i64)> {
    let (score, id) = text.split_once('.')?;
    Some((score.parse().ok()?, id.parse().ok()?))
}

/// The two ranks a hit can have: every term in the title, or a match elsewhere in the text.
const TITLE: i64 = 2;
const TEXT: i64 = 1;

/// The hits of `search`, best first: every term in the title ranks above a match in the text,
/// then newer records first.
///
/// Each rank is read on its own, newest document first, and only until the page is full: the
/// index hands out candidates in id order (SQLite's FTS5 by rowid, PostgreSQL by a backward scan
/// of the key or a bitmap of the GIN index, whichever its planner finds cheaper), so a word held
/// by half of all documents stops after a page's worth instead of checking and sorting them all.
pub async fn run(db: &Db, search: &Search) -> Result<SearchResults, AppError> {
    let query = grams::query(&search.text).map_err(|e| match e {
        QueryError::Empty => AppError::invalid("q", FieldProblem::Required),
        QueryError::TooShort => AppError::invalid("q", FieldProblem::TooShort(2)),
    })?;
    let (first, mut after) = match search.after.as_deref().and_then(cursor) {
        Some((score, id)) => (score, Some(id)),
        None => (TITLE, None),
    };
    let mut rows: Vec<HitRow> = Vec::new();
    for tier in [TITLE, TEXT].into_iter().filter(|t| *t <= first) {
        let want = SEARCH_PAGE + 1 - rows.len();
        let sql = tier_sql(db.backend(), search, &query, tier, after.take(), want);
        rows.extend(fetch(db, &sql).await?);
        if rows.len() > SEARCH_PAGE {
            break;
        }
    }
    let more = rows.len() > SEARCH_PAGE;
    let next = more.then(|| rows.get(SEARCH_PAGE - 1).map(|r| format!("{}.{}", r.score, r.id))).flatten();
    let hits = rows.into_iter().take(SEARCH_PAGE).map(|r| hit(r, &query.terms)).collect::<Result<Vec<_>, _>>()?;
    let mut results = SearchResults { hits, next };
    // A query that is an incident's key finds that incident first, whatever the ranking says.
    if search.after.is_none() {
        if let Some(key) = grams::as_key(&search.text) {
            lift_key(&mut results, &key);
        }
    }
    Ok(results)
}

/// One rank's query: candidates from the gram index (the title's grams alone for [`TITLE`]),
/// the exact substring check, the filters, newest first from `after`, at most `limit` rows.
fn tier_sql(
    backend: Backend,
    search: &Search,
    query: &grams::Query,
    tier: i64,
    after: Option<i64>,
    limit: usize,
) -> Sql {
    let contains = match backend {
        Backend::Sqlite => "instr",
        Backend::Postgres => "strpos",
    };
    let all_in = |sql: &mut Sql, column: &str| {
        for (n, term) in query.terms.iter().enumerate() {
            if n > 0 {
                sql.push(" AND ");
            }
            sql.push(&format!("{contains}(d.{column}, ")).arg(Arg::Text(term.clone())).push(") > 0");
        }
    };
    let mut sql = Sql::default();
    // BIGINT on both: PostgreSQL's integer literals are INT4, which does not read as i64.
    sql.push(&format!(
        "SELECT d.id, d.kind, d.ref_id, d.at, d.title, d.body, i.key AS incident_key, \
         i.title AS incident_title, i.stage, i.severity, CAST({tier} AS BIGINT) AS score "
    ));
    // The column that orders the candidates: FTS5 walks its rowids backwards and stops at the
    // limit; PostgreSQL reads the primary key backwards when the grams are common.
    let id = match backend {
        Backend::Sqlite => {
            let phrases = query.grams.iter().map(|g| format!("\"{}\"", g.replace('"', "\"\""))).collect::<Vec<_>>();
            let mut expr = phrases.join(" ");
            if tier == TITLE {
                expr = format!("title : ({expr})");
            }
            sql.push(
                "FROM search_grams g JOIN search_docs d ON d.id = g.rowid LEFT JOIN incidents i ON i.id = d.incident_id \
                 WHERE search_grams MATCH ",
            )
            .arg(Arg::Text(expr));
            "g.rowid"
        }
        Backend::Postgres => {
            let column = if tier == TITLE { "title_grams" } else { "grams" };
            sql.push(&format!("FROM search_docs d LEFT JOIN incidents i ON i.id = d.incident_id WHERE d.{column} @> "))
                .arg(Arg::Texts(query.grams.clone()));
            "d.id"
        }
    };
    sql.push(" AND ");
    if tier == TITLE {
        all_in(&mut sql, "folded_title");
    } else {
        // Every term in the text, and not every term in the title: those are the title rank's.
        sql.push("NOT (");
        all_in(&mut sql, "folded_title");
        sql.push(") AND ");
        all_in(&mut sql, "folded");
    }
    if let Some(stage) = search.stage {
        sql.push(" AND i.stage = ").arg(Arg::Text(stage.as_str().to_owned()));
    }
    if let Some(severity) = search.severity {
        sql.push(" AND i.severity = ").arg(Arg::Text(severity.as_str().to_owned()));
    }
    if let Some(from) = search.from {
        sql.push(" AND d.at >= ").arg(Arg::Time(from));
    }
    if let Some(before) = search.before {
        sql.push(" AND d.at < ").arg(Arg::Time(before));
    }
    if let Some(after) = after {
        sql.push(&format!(" AND {id} < ")).arg(Arg::Int(after));
    }
    sql.push(&format!(" ORDER BY {id} DESC LIMIT ")).arg(Arg::Int(limit as i64));
    sql
}

/// Runs one rank's query. The binding is the same on both databases, except the grams list,
/// which only PostgreSQL receives.
async fn fetch(db: &Db, sql: &Sql) -> Result<Vec<HitRow>, AppError> {
    macro_rules! fetch {
        ($pool:expr, |$q:ident, $v:ident| $texts:expr) => {{
            let mut q = sqlx::query_as(&sql.text);
            for arg in &sql.args {
                q = match arg {
                    Arg::Text(v) => q.bind(v.as_str()),
                    Arg::Int(v) => q.bind(*v),
                    Arg::Time(v) => q.bind(*v),
                    Arg::Texts($v) => {
                        let $q = q;
                        $texts
                    }
                };
            }
            q.fetch_all($pool).await?
        }};
    }
    Ok(match db {
        Db::Sqlite(pool, _) => fetch!(pool, |q, _v| q),
        Db::Postgres(pool) => fetch!(pool, |q, v| q.bind(v.clone())),
    })
}

/// Puts the incident hit with `key` first, when it is on the page.
fn lift_key(results: &mut SearchResults, key: &str) {
    if let Some(pos) = results.hits.iter().position(|h| h.kind == HitKind::Incident && h.key.as_deref() == Some(key)) {
        let hit = results.hits.remove(pos);
        results.hits.insert(0, hit);
    }
}

fn hit(r: HitRow, terms: &[String]) -> Result<SearchHit, AppError> {
    let kind = parse_stored("search_docs.kind", &r.kind, DocKind::parse)?;
    let stage = r.stage.as_deref().map(|s| parse_stored("incidents.stage", s, Stage::parse)).transpose()?;
    let severity = r.severity.as_deref().map(|s| parse_stored("incidents.severity", s, Severity::parse)).transpose()?;
    let key = r.incident_key.clone();
    let (kind, href, title) = match kind {
        DocKind::Incident => {
            (HitKind::Incident, format!("/incidents/{}", key.clone().unwrap_or_default()), r.title.clone())
        }
        DocKind::Comment => (
            HitKind::Comment,
            format!("/incidents/{}#comment-{}", key.clone().unwrap_or_default(), r.ref_id),
            format!("{} {}", key.clone().unwrap_or_default(), r.incident_title.clone().unwrap_or_default()),
        ),
        DocKind::Pool => (HitKind::Pool, format!("/pool/{}", r.ref_id), r.title.clone()),
    };
    // The fragment comes from the text; a record matched by its title alone shows its text's start.
    let fragment = grams::fragment(&r.body, terms, 60);
    Ok(SearchHit {
        kind,
        href,
        key,
        title: grams::fragment(&title, terms, 200),
        fragment,
        stage,
        severity,
        at: r.at.to_rfc3339(),
    })
}
