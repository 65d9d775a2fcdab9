//! Comments in the database: written, edited and hidden in one transaction each, with the
//! mention notifications, the search index, the incident's activity counter and the audit entry.

use chrono::{DateTime, Duration, Utc};

use super::{
    files::{self, Prepared, Source, MAX_FILES},
    markdown,
    storage::{BlobStore, InDatabase},
    CommentView, Hidden, EDIT_MINUTES, MAX_COMMENT,
};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
    },
    auth::Role,
    db::{Db, WriteTx},
    error::{AppError, FieldProblem, Refusal},
    i18n::{fill, Strings},
    mail::{
        compose::{base_url, queue_notification, recipients, Recipient, HTML_HEAD, HTML_TAIL},
        html::{escape, escape_lines},
    },
    on_tx,
    search::index::{self, Doc, DocKind},
    workflow::{
        engine::{audited, refused, Attempt},
        rules::Actor,
        views::Person,
    },
};

/// The incident a comment changed, for the live update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Changed {
    /// The comment.
    pub comment_id: i64,
    /// Its incident.
    pub incident_id: i64,
    /// The incident's version (unchanged by comments).
    pub version: i64,
    /// The incident's activity counter after the change.
    pub activity: i64,
}

/// The text of a comment as submitted: trimmed, not empty, not too long, no control characters.
pub fn check_body(body: &str) -> Result<&str, AppError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(AppError::invalid("body", FieldProblem::Required));
    }
    if body.chars().count() > MAX_COMMENT {
        return Err(AppError::invalid("body", FieldProblem::TooLong(MAX_COMMENT)));
    }
    crate::text::check("body", body)?;
    Ok(body)
}

/// An incident's comment counter moved on; locks the incident row on PostgreSQL until the commit.
async fn bump(tx: &mut WriteTx, incident_id: i64) -> Result<Option<(i64, i64, String, String)>, AppError> {
    Ok(on_tx!(&mut *tx, conn => sqlx::query_as(
        "UPDATE incidents SET activity = activity + 1 WHERE id = $1 RETURNING activity, version, key, title",
    )
    .bind(incident_id)
    .fetch_optional(conn)
    .await?))
}

/// The active users `names` (lowercased usernames) name: (id, lowercased username).
async fn mentioned_users(tx: &mut WriteTx, names: &[String]) -> Result<Vec<(i64, String)>, AppError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, username_key FROM users WHERE active AND username_key IN ({})",
        crate::db::placeholders(1, names.len())
    );
    Ok(on_tx!(&mut *tx, conn => {
        let mut query = sqlx::query_as(&sql);
        for name in names {
            query = query.bind(name);
        }
        query.fetch_all(conn).await?
    }))
}

/// Renders `body` with the mentions of existing users marked; returns the HTML and who they are.
async fn render(tx: &mut WriteTx, body: &str) -> Result<(String, Vec<(i64, String)>), AppError> {
    // At most 20 people per comment: a mention is a request to one person, not a broadcast.
    let names: Vec<String> = markdown::mentions(body).into_iter().take(20).collect();
    let users = mentioned_users(tx, &names).await?;
    let known: Vec<String> = users.iter().map(|(_, name)| name.clone()).collect();
    Ok((markdown::render(body, &known), users))
}

/// What an incident comment notification is about.
struct Mention<'a> {
    comment_id: i64,
    incident_id: i64,
    key: &'a str,
    title: &'a str,
    author: &'a str,
    body: &'a str,
}

/// Emails each mentioned user (not the author) once per comment: the dedupe key makes an edit
/// that keeps a mention tell nobody again, and one that adds a mention tell only the new name.
async fn notify(
    tx: &mut WriteTx,
    mention: &Mention<'_>,
    users: &[(i64, String)],
    author_id: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    // Those an earlier version of the comment named were told then.
    let told: Vec<String> = on_tx!(&mut *tx, conn => sqlx::query_scalar(
        "SELECT dedupe_key FROM outbox WHERE dedupe_key LIKE $1",
    )
    .bind(format!("comment:{}:mention:%", mention.comment_id))
    .fetch_all(conn)
    .await?);
    let key = |id: i64| format!("comment:{}:mention:{id}", mention.comment_id);
    let ids: Vec<i64> =
        users.iter().map(|(id, _)| *id).filter(|id| *id != author_id && !told.contains(&key(*id))).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let people = recipients(tx, &ids).await?;
    let base = base_url(tx).await?;
    for person in people.iter().filter(|p| p.active && !p.email.trim().is_empty()) {
        let dedupe = key(person.id);
        let rendered = mention_email(mention, person, &base);
        queue_notification(tx, mention.incident_id, mention.key, person, rendered, &base, Some(dedupe), now).await?;
    }
    crate::chat::notify::on_mention(tx, mention.incident_id, mention.author, &ids, mention.body, now).await?;
    Ok(())
}

/// The longest part of a comment quoted in a notification.
const QUOTE_CHARS: usize = 2_000;

/// Subject, text and HTML of a mention, in the person's language.
fn mention_email(m: &Mention<'_>, person: &Recipient, base: &str) -> (String, String, String) {
    let t: &'static Strings = person.locale.strings();
    let args = [("key", m.key), ("title", m.title), ("name", m.author)];
    let subject = fill(t.mail_mention_subject, &args);
    let intro = fill(t.mail_mention_body, &args);
    let mut quote: String = m.body.chars().take(QUOTE_CHARS).collect();
    if m.body.chars().count() > QUOTE_CHARS {
        quote.push('…');
    }
    let link = format!("{base}/incidents/{}#comment-{}", m.key, m.comment_id);
    let greeting = fill(t.mail_greeting, &[("name", &person.name)]);
    let quoted: String = quote.lines().map(|l| format!("> {l}\n")).collect();
    let text = format!("{greeting}\n\n{intro}\n\n{quoted}\n{link}\n\n-- \n{}\n", t.mail_footer);
    let html = format!(
        "{HTML_HEAD}<p>{}</p>\n<p>{}</p>\n<blockquote style=\"border-left:3px solid #ccc;margin:0;padding-left:12px\">{}</blockquote>\n\
         <p><a href=\"{}\">{}</a></p>\n<p style=\"color:#666;font-size:12px\">{}</p>\n{HTML_TAIL}",
        escape(&greeting),
        escape(&intro),
        escape_lines(&quote),
        escape(&link),
        escape(&link),
        escape_lines(t.mail_footer),
    );
    (subject, text, html)
}

/// Adds a comment by `actor` to an incident. Audited; refused attempts too.
pub async fn add(
    db: &Db,
    actor: &Actor,
    incident_id: i64,
    body: &str,
    now: DateTime<Utc>,
) -> Result<Changed, AppError> {
    // No files, so the store is never called.
    add_with_files(db, &InDatabase, actor, incident_id, body, Vec::new(), now).await
}

/// A comment with files, on the incident with `key` (the upload form names the incident by key).
pub async fn add_to_key(
    db: &Db,
    blobs: &dyn BlobStore,
    actor: &Actor,
    key: &str,
    body: &str,
    files: Vec<Prepared>,
    now: DateTime<Utc>,
) -> Result<Changed, AppError> {
    let id: Option<i64> = crate::on_db!(db, pool => sqlx::query_scalar("SELECT id FROM incidents WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await?);
    add_with_files(db, blobs, actor, id.ok_or(AppError::NotFound)?, body, files, now).await
}

/// A comment with files posted together (the upload form's note): the comment, its files and
/// the audit entry in one transaction, so neither is kept without the other.
pub async fn add_with_files(
    db: &Db,
    blobs: &dyn BlobStore,
    actor: &Actor,
    incident_id: i64,
    body: &str,
    files: Vec<Prepared>,
    now: DateTime<Utc>,
) -> Result<Changed, AppError> {
    let attempt = Attempt { event: event::COMMENT_ADDED, incident: Some(incident_id), details: serde_json::json!({}) };
    audited(db, actor, attempt, now, async {
        let body = check_body(body)?;
        if files.len() > MAX_FILES {
            return Err(AppError::invalid("file", FieldProblem::TooMany(MAX_FILES)));
        }
        let mut tx = db.begin_write().await?;
        let (activity, version, key, title) = bump(&mut tx, incident_id).await?.ok_or(AppError::NotFound)?;
        let (html, mentioned) = render(&mut tx, body).await?;
        let comment_id: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(
            "INSERT INTO comments (incident_id, author_id, body, html, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(incident_id)
        .bind(actor.id)
        .bind(body)
        .bind(&html)
        .bind(now)
        .fetch_one(conn)
        .await?);
        let doc = Doc { kind: DocKind::Comment, ref_id: comment_id, incident_id: Some(incident_id), at: now, title: "", body };
        index::put(&mut tx, &doc).await?;
        let source = Source { incident_id, comment_id: Some(comment_id), by: Some(actor.id) };
        let attachments = files::insert(&mut tx, blobs, source, &files, now).await?;
        let author = display_name(&mut tx, actor.id).await?;
        let mention =
            Mention { comment_id, incident_id, key: &key, title: &title, author: &author, body };
        notify(&mut tx, &mention, &mentioned, actor.id, now).await?;
        Record::new(&Origin::actor(actor), event::COMMENT_ADDED)
            .target("incident", &key)
            .details(serde_json::json!({
                "comment": comment_id,
                "after": { "body": body },
                "mentioned": mentioned.iter().map(|(id, _)| id).collect::<Vec<_>>(),
                "attachments": attachments,
                "files": files::described(&files),
            }))
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        Ok(Changed { comment_id, incident_id, version, activity })
    })
    .await
}

async fn display_name(tx: &mut WriteTx, id: i64) -> Result<String, AppError> {
    Ok(on_tx!(&mut *tx, conn => sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(conn)
        .await?))
}

/// A comment as an edit or hiding finds it.
#[derive(sqlx::FromRow)]
struct Current {
    incident_id: i64,
    author_id: i64,
    body: String,
    created_at: DateTime<Utc>,
    hidden: bool,
}

async fn current(tx: &mut WriteTx, id: i64) -> Result<Current, AppError> {
    // SQLite's write transaction already holds the only write lock; PostgreSQL locks the row.
    const SELECT: &str = "SELECT incident_id, author_id, body, created_at, hidden_at IS NOT NULL AS hidden \
                          FROM comments WHERE id = $1";
    let sql = match tx {
        WriteTx::Sqlite(_) => SELECT.to_owned(),
        WriteTx::Postgres(_) => format!("{SELECT} FOR UPDATE"),
    };
    let found: Option<Current> = on_tx!(&mut *tx, conn => sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?);
    found.ok_or(AppError::NotFound)
}

/// Whether a comment written at `at` may still be edited at `now`.
pub fn editable(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - at <= Duration::minutes(EDIT_MINUTES)
}

/// Replaces the text of `actor`'s own comment, within [`EDIT_MINUTES`] of writing it. The text
/// it had is kept in `comment_edits` and in the audit entry. Newly mentioned users are told.
pub async fn edit(db: &Db, actor: &Actor, id: i64, body: &str, now: DateTime<Utc>) -> Result<Changed, AppError> {
    let attempt =
        Attempt { event: event::COMMENT_EDITED, incident: None, details: serde_json::json!({ "comment": id }) };
    audited(db, actor, attempt, now, async {
        let body = check_body(body)?;
        let mut tx = db.begin_write().await?;
        let c = current(&mut tx, id).await?;
        if c.author_id != actor.id {
            return Err(refused(Refusal::NotNamedOwner));
        }
        if c.hidden {
            return Err(refused(Refusal::Stale));
        }
        if !editable(c.created_at, now) {
            return Err(AppError::invalid("body", FieldProblem::EditWindowClosed(EDIT_MINUTES)));
        }
        let (activity, version, key, title) = bump(&mut tx, c.incident_id).await?.ok_or(AppError::NotFound)?;
        let changed = Changed { comment_id: id, incident_id: c.incident_id, version, activity };
        if c.body == body {
            // Nothing to keep or audit: the page simply shows the same text.
            tx.rollback().await?;
            return Ok(changed);
        }
        let (html, mentioned) = render(&mut tx, body).await?;
        on_tx!(&mut tx, conn => sqlx::query("INSERT INTO comment_edits (comment_id, body, replaced_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(&c.body)
            .bind(now)
            .execute(conn)
            .await
            .map(|_| ()))?;
        on_tx!(&mut tx, conn => sqlx::query("UPDATE comments SET body = $1, html = $2, edited_at = $3 WHERE id = $4")
            .bind(body)
            .bind(&html)
            .bind(now)
            .bind(id)
            .execute(conn)
            .await
            .map(|_| ()))?;
        let doc = Doc { kind: DocKind::Comment, ref_id: id, incident_id: Some(c.incident_id), at: c.created_at, title: "", body };
        index::put(&mut tx, &doc).await?;
        let author = display_name(&mut tx, actor.id).await?;
        let mention = Mention { comment_id: id, incident_id: c.incident_id, key: &key, title: &title, author: &author, body };
        notify(&mut tx, &mention, &mentioned, actor.id, now).await?;
        Record::new(&Origin::actor(actor), event::COMMENT_EDITED)
            .target("incident", &key)
            .details(serde_json::json!({ "comment": id, "before": { "body": c.body }, "after": { "body": body } }))
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        Ok(changed)
    })
    .await
}

/// Hides a comment (admins): it leaves the page and the search index; its text stays in the
/// database and is copied into the audit entry with the reason.
pub async fn hide(db: &Db, actor: &Actor, id: i64, reason: &str, now: DateTime<Utc>) -> Result<Changed, AppError> {
    let attempt =
        Attempt { event: event::COMMENT_HIDDEN, incident: None, details: serde_json::json!({ "comment": id }) };
    audited(db, actor, attempt, now, async {
        if !actor.roles.contains(&Role::Admin) {
            return Err(refused(Refusal::NotYourRole));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(AppError::invalid("reason", FieldProblem::Required));
        }
        if reason.chars().count() > 2_000 {
            return Err(AppError::invalid("reason", FieldProblem::TooLong(2_000)));
        }
        crate::text::check("reason", reason)?;
        let mut tx = db.begin_write().await?;
        let c = current(&mut tx, id).await?;
        if c.hidden {
            return Err(refused(Refusal::Stale));
        }
        let (activity, version, key, _) = bump(&mut tx, c.incident_id).await?.ok_or(AppError::NotFound)?;
        on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE comments SET hidden_at = $1, hidden_by = $2, hidden_reason = $3 WHERE id = $4",
        )
        .bind(now)
        .bind(actor.id)
        .bind(reason)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ()))?;
        index::remove(&mut tx, DocKind::Comment, id).await?;
        Record::new(&Origin::actor(actor), event::COMMENT_HIDDEN)
            .target("incident", &key)
            .details(serde_json::json!({
                "comment": id,
                "author": c.author_id,
                "reason": reason,
                "before": { "body": c.body },
            }))
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        Ok(Changed { comment_id: id, incident_id: c.incident_id, version, activity })
    })
    .await
}

/// The SQL of an incident's comments as one JSON array (oldest first), a subquery of the
/// incident page's one statement (`i` is the incident).
pub fn comments_json_sql(backend: crate::config::Backend) -> &'static str {
    match backend {
        crate::config::Backend::Sqlite => {
            "SELECT json_group_array(json_object('id', c.id, 'author_id', c.author_id, 'author_name', a.display_name, \
             'body', c.body, 'html', c.html, 'created_at', c.created_at, 'edited_at', c.edited_at, \
             'hidden_at', c.hidden_at, 'hidden_by', h.display_name, 'hidden_reason', c.hidden_reason) ORDER BY c.id) \
             FROM comments c JOIN users a ON a.id = c.author_id LEFT JOIN users h ON h.id = c.hidden_by \
             WHERE c.incident_id = i.id"
        }
        crate::config::Backend::Postgres => {
            "SELECT COALESCE(json_agg(json_build_object('id', c.id, 'author_id', c.author_id, 'author_name', \
             a.display_name, 'body', c.body, 'html', c.html, 'created_at', c.created_at, 'edited_at', c.edited_at, \
             'hidden_at', c.hidden_at, 'hidden_by', h.display_name, 'hidden_reason', c.hidden_reason) ORDER BY c.id), \
             '[]'::json)::text \
             FROM comments c JOIN users a ON a.id = c.author_id LEFT JOIN users h ON h.id = c.hidden_by \
             WHERE c.incident_id = i.id"
        }
    }
}

/// A comment as the page's JSON aggregate carries it.
#[derive(serde::Deserialize)]
struct CommentRow {
    id: i64,
    author_id: i64,
    author_name: String,
    body: String,
    html: String,
    #[serde(deserialize_with = "crate::workflow::queries::stored_time")]
    created_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::workflow::queries::stored_time_opt")]
    edited_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "crate::workflow::queries::stored_time_opt")]
    hidden_at: Option<DateTime<Utc>>,
    hidden_by: Option<String>,
    hidden_reason: String,
}

/// The comments of the page's JSON as `viewer` sees them at `now`, newest first, each placed
/// among the timeline entries (`entry_times`, newest first). A hidden comment keeps only who
/// hid it and when (and why, for admins): its text is not sent.
pub fn views_from(
    json: &str,
    viewer: &Actor,
    entry_times: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Result<Vec<CommentView>, AppError> {
    let rows: Vec<CommentRow> = serde_json::from_str(json)
        .map_err(|err| AppError::internal(format!("cannot read the comments of an incident: {err}")))?;
    let admin = viewer.roles.contains(&Role::Admin);
    Ok(rows
        .into_iter()
        .rev()
        .map(|r| {
            let position = entry_times.iter().take_while(|at| **at > r.created_at).count();
            let hidden = r.hidden_at.map(|at| Hidden {
                by: r.hidden_by.clone().unwrap_or_default(),
                at: at.to_rfc3339(),
                reason: if admin { r.hidden_reason.clone() } else { String::new() },
            });
            let may_edit = hidden.is_none() && r.author_id == viewer.id && editable(r.created_at, now);
            CommentView {
                id: r.id,
                author: Person { id: r.author_id, name: r.author_name },
                at: r.created_at.to_rfc3339(),
                edited_at: r.edited_at.map(|t| t.to_rfc3339()),
                html: if hidden.is_some() { String::new() } else { r.html },
                body: if may_edit { r.body } else { String::new() },
                may_hide: admin && hidden.is_none(),
                hidden,
                may_edit,
                position,
                files: Vec::new(),
            }
        })
        .collect())
}
