//! Streamed export of the audit log (CSV or JSON Lines), honouring the page's filters.
//!
//! An axum route rather than a server function: the body is streamed batch by batch, so an
//! export of millions of entries never sits in memory. Admins only; the export is itself
//! recorded, and a refusal is recorded too.

use std::collections::HashMap;

use app::{
    audit::{
        event,
        store::{self, Cursor, Origin, Query, Record},
        AuditEntry, AuditFilter, Outcome,
    },
    auth::{ClientInfo, CurrentUser, Role},
    error::AppError,
    state::AppState,
};
use axum::{
    body::Body,
    extract::{Query as UrlQuery, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};

/// Entries read per batch.
const BATCH: i64 = 1000;

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

/// `GET /admin/audit/export.csv`.
pub async fn csv(
    State(state): State<AppState>,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
    user: Option<Extension<CurrentUser>>,
    client: Option<Extension<ClientInfo>>,
) -> Response {
    export(state, Format::Csv, params, user, client).await
}

/// `GET /admin/audit/export.jsonl`.
pub async fn json_lines(
    State(state): State<AppState>,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
    user: Option<Extension<CurrentUser>>,
    client: Option<Extension<ClientInfo>>,
) -> Response {
    export(state, Format::JsonLines, params, user, client).await
}

async fn export(
    state: AppState,
    format: Format,
    params: HashMap<String, String>,
    user: Option<Extension<CurrentUser>>,
    client: Option<Extension<ClientInfo>>,
) -> Response {
    let file = match format {
        Format::Csv => "export.csv",
        Format::JsonLines => "export.jsonl",
    };
    let client = client.map(|c| c.0).unwrap_or_default();
    // The page gate sends anonymous visitors to sign in before they get here.
    let Some(Extension(user)) = user else { return StatusCode::UNAUTHORIZED.into_response() };
    let origin = Origin::of(&user, &client);
    let now = chrono::Utc::now();
    if !user.me.has(Role::Admin) {
        let refused = Record::new(&origin, event::ACCESS_DENIED)
            .target("request", format!("/admin/audit/{file}"))
            .outcome(Outcome::Denied)
            .details(serde_json::json!({ "required_role": "admin" }))
            .record(&state.db, now)
            .await;
        if let Err(err) = refused {
            tracing::error!("cannot record a refusal in the audit log: {err}");
        }
        return crate::api_status::json_error(StatusCode::FORBIDDEN, &AppError::Forbidden);
    }
    let text = |name: &str| params.get(name).cloned();
    let outcome = match text("outcome").filter(|v| !v.trim().is_empty()) {
        None => None,
        Some(v) => match Outcome::parse(v.trim()) {
            Some(o) => Some(o),
            None => {
                return crate::api_status::json_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &AppError::invalid("outcome", app::error::FieldProblem::InvalidChoice),
                )
            }
        },
    };
    let filter = AuditFilter {
        actor: text("actor"),
        event: text("event"),
        target: text("target"),
        outcome,
        from: text("from"),
        to: text("to"),
    };
    let query = match Query::new(&filter) {
        Ok(q) => q,
        Err(err) => return crate::api_status::json_error(StatusCode::UNPROCESSABLE_ENTITY, &err),
    };
    // The export ends at the head as of now (the record of this export included), so it is a
    // consistent cut even while entries keep arriving.
    let recorded = Record::new(&origin, event::AUDIT_EXPORTED)
        .target("audit", "")
        .details(serde_json::json!({ "format": file, "filter": filter }))
        .record(&state.db, now)
        .await;
    let last = match recorded {
        Ok(seq) => seq,
        Err(err) => return crate::api_status::json_error(StatusCode::INTERNAL_SERVER_ERROR, &AppError::internal(err)),
    };
    let db = state.db.clone();
    let header_line = (format == Format::Csv).then(|| csv_row(&CSV_HEADER.map(str::to_owned)));
    let batches = futures::stream::unfold(Some(0i64), move |after| {
        let (db, query) = (db.clone(), query.clone());
        async move {
            let after = after?;
            match store::page(&db, &query, Cursor::After(after), BATCH).await {
                Err(err) => {
                    tracing::error!("audit export stopped: {err}");
                    Some((Err(std::io::Error::other("audit export failed")), None))
                }
                Ok(entries) => {
                    let full = entries.len() as i64 == BATCH;
                    let kept: Vec<_> = entries.into_iter().filter(|e| e.seq <= last).collect();
                    if kept.is_empty() {
                        return None;
                    }
                    let next = kept.last().map(|e| e.seq).filter(|&seq| full && seq < last);
                    let mut chunk = String::new();
                    for e in &kept {
                        chunk.push_str(&match format {
                            Format::Csv => csv_row(&csv_fields(e)),
                            Format::JsonLines => serde_json::to_string(e).unwrap_or_default() + "\n",
                        });
                    }
                    Some((Ok(chunk), next))
                }
            }
        }
    });
    let head = futures::stream::iter(header_line.map(Ok));
    let body = Body::from_stream(futures::StreamExt::chain(head, batches));
    let (content_type, name) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "baton-audit.csv"),
        Format::JsonLines => ("application/x-ndjson; charset=utf-8", "baton-audit.jsonl"),
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

const CSV_HEADER: [&str; 15] = [
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "actor_roles",
    "client_addr",
    "user_agent",
    "event",
    "target_kind",
    "target",
    "outcome",
    "details",
    "prev_hash",
    "hash",
];

fn csv_fields(e: &AuditEntry) -> [String; 15] {
    [
        e.seq.to_string(),
        e.at.clone(),
        e.actor_kind.clone(),
        e.actor_id.map(|id| id.to_string()).unwrap_or_default(),
        e.actor_name.clone(),
        e.actor_roles.clone(),
        e.client_addr.clone(),
        e.user_agent.clone(),
        e.event.clone(),
        e.target_kind.clone(),
        e.target.clone(),
        e.outcome.clone(),
        e.details.clone(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ]
}

/// One RFC 4180 row. Cells a spreadsheet would run as a formula get a leading `'` (the JSON
/// Lines export is the verbatim, verifiable one).
fn csv_row(cells: &[String]) -> String {
    let mut row = cells
        .iter()
        .map(|cell| {
            let cell =
                if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.clone() };
            if cell.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", cell.replace('"', "\"\""))
            } else {
                cell
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    row.push_str("\r\n");
    row
}

#[cfg(test)]
mod tests {
    use super::csv_row;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let cells =
            ["a,b".to_owned(), "say \"hi\"".to_owned(), "=1+1".to_owned(), "line\nbreak".to_owned(), "王".to_owned()];
        assert_eq!(csv_row(&cells), "\"a,b\",\"say \"\"hi\"\"\",'=1+1,\"line\nbreak\",王\r\n");
    }
}
