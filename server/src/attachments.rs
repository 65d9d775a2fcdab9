//! Attachments over HTTP: `POST /incidents/{key}/attachments` (a multipart form, one or more
//! `file` fields) and `GET /attachments/{id}/{name}` and `/attachments/{id}/thumb`.
//!
//! Uploads are read field by field and refused with 413 as soon as a file passes the limit, before
//! anything is stored; the bytes are held once, in the buffer that is then written. Downloads go
//! only to signed-in users (everyone signed in reads every incident; anyone else gets 404, as
//! for an attachment that does not exist), typed as detected when stored, with `nosniff`, and as
//! a download unless they are a raster image.

use app::{
    auth::{ClientInfo, CurrentUser},
    collab::{
        files::{self, Upload, MAX_FILES},
        store as comments, MAX_COMMENT,
    },
    error::{AppError, FieldProblem},
    i18n::{Locale, PreferredLocale},
    state::AppState,
    workflow::{live::IncidentChanged, rules::Actor},
};
use axum::{
    body::Body,
    extract::{multipart::Multipart, Path, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
    Extension,
};

/// Room for the multipart framing and a few small fields around the files of one upload.
const FRAMING: usize = 64 * 1024;

/// Whether a request is an attachment upload (its body may be as large as its files).
fn is_upload(method: &Method, path: &str) -> bool {
    method == Method::POST && path.starts_with("/incidents/") && path.ends_with("/attachments")
}

/// The request body limit: `max_body` for every request but uploads, which may carry up to
/// [`MAX_FILES`] files of the attachment limit. An announced length over the limit is refused at
/// once; a body that turns out longer stops being read at the limit.
pub async fn limit_body(State(limits): State<(usize, usize)>, request: Request, next: Next) -> Response {
    let (max_body, max_file) = limits;
    let limit = if is_upload(request.method(), request.uri().path()) {
        max_file.saturating_mul(MAX_FILES).saturating_add(FRAMING)
    } else {
        max_body
    };
    let announced =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let (parts, body) = request.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

fn locale_of(headers: &HeaderMap, preferred: Option<Extension<PreferredLocale>>) -> Locale {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    Locale::for_request(text(header::COOKIE), preferred.map(|p| p.0 .0), text(header::ACCEPT_LANGUAGE))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"))
}

/// A refused upload: JSON for scripts, a short page in the reader's language for a form post
/// (which has no page of its own to show the message on).
fn refused(status: StatusCode, error: &AppError, key: &str, locale: Locale, json: bool) -> Response {
    if json {
        return crate::api_status::json_error(status, error);
    }
    let t = locale.strings();
    let escape = app::mail::html::escape;
    let back = format!("/incidents/{}#attachments", app::collab::percent_path(key));
    let body = format!(
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title></head><body><main><h1>{}</h1><p role=\"alert\">{}</p><p><a href=\"{}\">{}</a></p></main></body></html>",
        locale.tag(),
        escape(t.attachments_refused_title),
        escape(t.attachments_refused_title),
        escape(&error.message(t)),
        escape(&back),
        escape(t.attachments_back),
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// What went wrong reading an upload.
enum ReadError {
    TooLarge,
    TooMany,
    NoteTooLong,
    Broken,
}

/// What an upload form posted: its files, and the note to post with them as a comment.
#[derive(Default)]
struct Posted {
    uploads: Vec<Upload>,
    note: String,
}

/// The longest note read, in bytes: room for [`MAX_COMMENT`] characters of any script, so the
/// comment's own check gives the error in the user's language.
const MAX_NOTE_BYTES: usize = MAX_COMMENT * 4 + 4;

/// The fields of an upload, each file read chunk by chunk and given up as soon as it passes `max`.
async fn read_files(multipart: &mut Multipart, max: usize) -> Result<Posted, ReadError> {
    let mut posted = Posted::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(posted),
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(ReadError::TooLarge),
            Err(_) => return Err(ReadError::Broken),
        };
        if field.name() == Some("comment") {
            let mut field = field;
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|_| ReadError::Broken)? {
                if bytes.len() + chunk.len() > MAX_NOTE_BYTES {
                    return Err(ReadError::NoteTooLong);
                }
                bytes.extend_from_slice(&chunk);
            }
            posted.note = String::from_utf8(bytes).map_err(|_| ReadError::Broken)?;
            continue;
        }
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_owned();
        let mut field = field;
        let mut bytes = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > max {
                        return Err(ReadError::TooLarge);
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(ReadError::TooLarge),
                Err(_) => return Err(ReadError::Broken),
            }
        }
        // A form posted with no file chosen sends one empty, unnamed part.
        if name.is_empty() && bytes.is_empty() {
            continue;
        }
        if posted.uploads.len() == MAX_FILES {
            return Err(ReadError::TooMany);
        }
        posted.uploads.push(Upload { name, bytes });
    }
}

/// `POST /incidents/{key}/attachments`: attaches the posted files, then back to the incident.
pub async fn upload(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    user: Option<Extension<CurrentUser>>,
    client: Option<Extension<ClientInfo>>,
    preferred: Option<Extension<PreferredLocale>>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let locale = locale_of(&headers, preferred);
    let json = wants_json(&headers);
    // The page gate sends anonymous visitors to sign in before they get here.
    let Some(Extension(user)) = user else { return StatusCode::NOT_FOUND.into_response() };
    let max = state.config.attachment_max_bytes;
    let Ok(mut multipart) = multipart else {
        let err = AppError::invalid("file", FieldProblem::Required);
        return refused(StatusCode::UNPROCESSABLE_ENTITY, &err, &key, locale, json);
    };
    let Posted { uploads, note } = match read_files(&mut multipart, max).await {
        Ok(posted) => posted,
        Err(ReadError::TooLarge) => {
            let err = AppError::invalid("file", FieldProblem::FileTooLarge(max));
            return refused(StatusCode::PAYLOAD_TOO_LARGE, &err, &key, locale, json);
        }
        Err(ReadError::TooMany) => {
            let err = AppError::invalid("file", FieldProblem::TooMany(MAX_FILES));
            return refused(StatusCode::UNPROCESSABLE_ENTITY, &err, &key, locale, json);
        }
        Err(ReadError::NoteTooLong) => {
            let err = AppError::invalid("comment", FieldProblem::TooLong(MAX_COMMENT));
            return refused(StatusCode::UNPROCESSABLE_ENTITY, &err, &key, locale, json);
        }
        Err(ReadError::Broken) => {
            let err = AppError::invalid("file", FieldProblem::Required);
            return refused(StatusCode::BAD_REQUEST, &err, &key, locale, json);
        }
    };
    // Files are what this form is for: a note alone is a comment, posted from the comment form.
    if uploads.is_empty() {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            &AppError::invalid("file", FieldProblem::Required),
            &key,
            locale,
            json,
        );
    }
    // The note is the upload form's `comment` field: its refusals name that field,
    // before any image is decoded.
    if !note.trim().is_empty() {
        if let Err(AppError::Invalid { problem, .. }) = comments::check_body(&note) {
            return refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                &AppError::invalid("comment", problem),
                &key,
                locale,
                json,
            );
        }
    }
    let mut prepared = Vec::with_capacity(uploads.len());
    for upload in uploads {
        match files::prepare(upload, max).await {
            Ok(p) => prepared.push(p),
            Err(err) => return refused(StatusCode::UNPROCESSABLE_ENTITY, &err, &key, locale, json),
        }
    }
    let actor = Actor::signed_in(&user, client.map(|c| c.0).unwrap_or_default());
    let now = state.clock.now();
    // With a note, the files are posted as a comment; without, on the incident.
    let done = if note.trim().is_empty() {
        files::attach(&state.db, &*state.blobs, &actor, &key, prepared, now)
            .await
            .map(|a| (IncidentChanged { id: a.incident_id, version: a.version, activity: a.activity }, None))
    } else {
        comments::add_to_key(&state.db, &*state.blobs, &actor, &key, &note, prepared, now).await.map(|c| {
            (IncidentChanged { id: c.incident_id, version: c.version, activity: c.activity }, Some(c.comment_id))
        })
    };
    // A comment with a mention queued mail.
    state.mail.wake();
    match done {
        Ok((changed, comment)) => {
            state.events.publish(changed);
            if json {
                axum::Json(serde_json::json!({ "comment": comment })).into_response()
            } else {
                let anchor = comment.map_or_else(|| "attachments".to_owned(), |id| format!("comment-{id}"));
                Redirect::to(&format!("/incidents/{}#{anchor}", app::collab::percent_path(&key))).into_response()
            }
        }
        Err(AppError::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(err) => {
            let status = crate::api_status::status_for(&err).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            refused(status, &err, &key, locale, json)
        }
    }
}

/// A `Content-Disposition` naming the file in ASCII and, for other scripts, in UTF-8 (RFC 6266).
fn disposition(kind: &str, name: &str) -> HeaderValue {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let value = format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}", app::collab::percent_path(name));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

async fn send(state: &AppState, user: Option<Extension<CurrentUser>>, id: i64, thumb: bool) -> Response {
    // Nobody but a signed-in reader learns whether it exists.
    if user.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let file = match files::download(&state.db, &*state.blobs, id, thumb).await {
        Ok(Some(file)) => file,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(err) => {
            tracing::error!("cannot read attachment {id}: {err}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let inline = thumb || files::shows_inline(&file.content_type);
    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let mut response = (StatusCode::OK, file.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_DISPOSITION, disposition(if inline { "inline" } else { "attachment" }, &file.name));
    // Even if a browser rendered it, nothing in it could run or load anything.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    // An attachment's content never changes; it stays private to the reader's browser.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", file.sha256)) {
        headers.insert(header::ETAG, tag);
    }
    response
}

/// `GET /attachments/{id}/{name}`: the file (the name is only for the browser's sake).
pub async fn download(
    State(state): State<AppState>,
    Path((id, _name)): Path<(i64, String)>,
    user: Option<Extension<CurrentUser>>,
) -> Response {
    send(&state, user, id, false).await
}

/// `GET /attachments/{id}/thumb`: an image's thumbnail (JPEG).
pub async fn thumbnail(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    user: Option<Extension<CurrentUser>>,
) -> Response {
    send(&state, user, id, true).await
}
