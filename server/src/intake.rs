//! The intake API: reports delivered by mail providers, SMS gateways and feedback systems.
//!
//! Plain axum handlers rather than server functions: the callers are other systems, they
//! authenticate with `Authorization: Bearer <token>` (one token per intake source, see
//! [`app::intake`]) instead of a session, and they get JSON with HTTP statuses they can act on:
//! 401 unknown, paused or revoked token (recorded in the audit log), 400 malformed input with a
//! message per field, 409 a channel the source is not for, 413 too large, 415 wrong content
//! type, 429 over the source's rate. The OpenAPI document at `/api/v1/openapi.json` is derived
//! from the types and handlers below.

use app::{
    audit::{
        event,
        store::{Origin, Record},
        Outcome,
    },
    auth::ClientInfo,
    collab::files::{self, Prepared, Upload, MAX_FILES},
    error::{AppError, FieldProblem},
    i18n::EN,
    intake::{
        parse::{self, EmailError},
        rate,
        store::{self, Authenticated, Source},
        Report, SourceChannel,
    },
    state::AppState,
    workflow::{
        engine,
        input::{Severity, MAX_SHORT, MAX_TEXT},
        rules::Refusal,
    },
};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
    Extension, Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{OpenApi, ToSchema};

/// Where the intake API lives; the session gate lets this prefix through to the token check.
pub const PREFIX: &str = "/api/v1/";

/// State of the intake routes: the app's.
#[derive(Clone)]
struct IntakeState {
    app: AppState,
}

/// The intake routes, to be merged into the app's router.
pub fn routes<S>(app: AppState) -> Router<S> {
    Router::new()
        .route("/api/v1/intake", post(json_report))
        .route("/api/v1/intake/email", post(email_report))
        .route("/api/v1/intake/sms", post(sms_report))
        .route("/api/v1/openapi.json", get(openapi))
        .with_state(IntakeState { app })
}

/// The OpenAPI 3 document of the intake API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Baton intake API", description = "Reports from email, SMS and feedback systems become incidents."),
    paths(json_report, email_report, sms_report),
    components(schemas(JsonReport, JsonAttachment, SmsReport, SeverityName, ChannelName, Accepted, ApiError, ErrorCode, FieldMessage)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("btn_…").build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// `GET /api/v1/openapi.json`: the intake API, and the outgoing chat webhook under `webhooks`.
async fn openapi() -> Response {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    crate::webhook_doc::add_to(&mut doc);
    Json(doc).into_response()
}

// The rules every text field follows, as the server checks them (`app::text`, `Fields::text`),
// are stated as JSON Schema patterns that read the same in ECMA-262 and Python regular
// expressions: no control characters but tab and line breaks (optional fields:
// `^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$`), and a required field also holds
// one character that is neither (Unicode White_Space, as `str::trim` sees it). The attribute
// takes literals only, so each field repeats its pattern; the contract test (schemathesis, in
// the server's tests) sends data on both sides of each pattern and fails on any disagreement.

/// A report as JSON: the feedback system's notification, or any sender's. Fields not listed are
/// ignored; `null` counts as absent.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct JsonReport {
    /// Short summary (required, not blank; at most 200 characters).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*[^\u0000-\u0020\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$"
    )]
    pub title: String,
    /// What the user wrote (required, not blank; at most 10,000 characters).
    #[schema(
        min_length = 1,
        max_length = 10000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*[^\u0000-\u0020\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$"
    )]
    pub body: String,
    /// Who reported it.
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$")]
    pub reporter_name: Option<String>,
    /// Their email address (stored as given).
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$")]
    pub reporter_email: Option<String>,
    /// Their phone number.
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$")]
    pub reporter_phone: Option<String>,
    /// The report's id in the sending system; a second delivery with the same id returns the
    /// first one's incident and creates nothing.
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$")]
    pub external_id: Option<String>,
    /// When the sending system received it (RFC 3339 date-time; default: now).
    #[schema(format = DateTime, max_length = 200)]
    pub received_at: Option<String>,
    /// How urgent the sender thinks it is; ops decides at triage (default p2). Either case.
    #[schema(value_type = Option<SeverityName>)]
    pub severity: Option<SeverityHint>,
    /// The channel, if given, must be the source's (else 409).
    #[schema(value_type = Option<ChannelName>)]
    pub channel: Option<String>,
    /// Files that come with the report (screenshots, logs), at most 10, within the body limit.
    #[schema(max_items = 10)]
    #[allow(dead_code)] // documents the shape; the files are read from the JSON by `Fields::attachments`
    pub attachments: Option<Vec<JsonAttachment>>,
}

/// A file of a JSON report. Its type is read from its bytes, not from its name.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the shape; the files are read from the JSON by `Fields::attachments`
pub struct JsonAttachment {
    /// The file name (`screenshot.png`).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*[^\u0000-\u0020\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$"
    )]
    pub name: String,
    /// The content, base64 (standard alphabet, padded).
    #[schema(
        min_length = 4,
        pattern = r"^(?:[A-Za-z0-9+/]{4})+$|^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$"
    )]
    pub content_base64: String,
}

/// The severity names the API accepts.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[allow(dead_code)] // documents the accepted values; the server reads them as text
pub enum SeverityName {
    /// Production down or data at risk.
    #[serde(rename = "p0")]
    P0,
    /// Major feature broken.
    #[serde(rename = "p1")]
    P1,
    /// Degraded, with a workaround.
    #[serde(rename = "p2")]
    P2,
    /// Minor.
    #[serde(rename = "p3")]
    P3,
    /// The same as `p0`.
    #[serde(rename = "P0")]
    UpperP0,
    /// The same as `p1`.
    #[serde(rename = "P1")]
    UpperP1,
    /// The same as `p2`.
    #[serde(rename = "P2")]
    UpperP2,
    /// The same as `p3`.
    #[serde(rename = "P3")]
    UpperP3,
}

/// The channel names of intake sources.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // documents the accepted values; the server reads them as text
pub enum ChannelName {
    /// Email.
    Email,
    /// SMS.
    Sms,
    /// A feedback system.
    FeedbackSystem,
    /// Anything else.
    Other,
}

/// A text message as an SMS gateway's webhook delivers it. The title is the text's first words.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SmsReport {
    /// The sender's number (required, not blank; at most 200 characters).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*[^\u0000-\u0020\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$"
    )]
    pub from: String,
    /// The message (required, not blank; at most 10,000 characters).
    #[schema(
        min_length = 1,
        max_length = 10000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*[^\u0000-\u0020\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$"
    )]
    pub text: String,
    /// The gateway's message id (for idempotency).
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$")]
    pub message_id: Option<String>,
    /// When the gateway received it (RFC 3339 date-time; default: now).
    #[schema(format = DateTime, max_length = 200)]
    pub received_at: Option<String>,
}

/// A severity hint.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeverityHint {
    /// Production down or data at risk.
    P0,
    /// Major feature broken.
    P1,
    /// Degraded, with a workaround.
    P2,
    /// Minor.
    P3,
}

/// The answer to an accepted delivery: 201 when it created an incident, 200 for a repeat.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The incident's key, e.g. `INC-2026-0042`.
    pub incident_key: String,
    /// Where people see it.
    pub incident_url: String,
    /// False when this repeated an earlier delivery and nothing was created.
    pub created: bool,
}

/// A refused or failed delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// What went wrong, for programs.
    pub error: ErrorCode,
    /// What went wrong, for people (English).
    pub message: String,
    /// The fields at fault (for `invalid_fields`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldMessage>,
    /// Seconds to wait before retrying (for `rate_limited`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// Reference of the server log entry (for `internal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Error codes and their HTTP statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: no token, or an unknown, paused or revoked one.
    Unauthorized,
    /// 400: the body is not JSON, or not a JSON object.
    InvalidJson,
    /// 400: the body is not UTF-8.
    InvalidUtf8,
    /// 400: fields missing, of the wrong type or invalid (see `fields`).
    InvalidFields,
    /// 400: not a readable email message (or no sender, or nothing in it).
    InvalidMessage,
    /// 400: the body could not be read to its end.
    UnreadableBody,
    /// 409: this source's channel does not match the endpoint or the `channel` given.
    ChannelMismatch,
    /// 413: the body is larger than the server accepts.
    PayloadTooLarge,
    /// 415: the wrong content type for this endpoint.
    UnsupportedMediaType,
    /// 429: this source sent more than its rate allows.
    RateLimited,
    /// 500: an unexpected failure, logged under `reference`.
    Internal,
}

impl ErrorCode {
    fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidJson
            | ErrorCode::InvalidUtf8
            | ErrorCode::InvalidFields
            | ErrorCode::InvalidMessage
            | ErrorCode::UnreadableBody => StatusCode::BAD_REQUEST,
            ErrorCode::ChannelMismatch => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// One field's problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldMessage {
    /// The field's name.
    pub field: String,
    /// `required`, `too_long`, `wrong_type`, `invalid_choice`, ...
    pub problem: String,
    /// The same for people (English).
    pub message: String,
}

impl FieldMessage {
    fn new(field: &str, problem: FieldProblem) -> Self {
        let code = match problem {
            FieldProblem::Required => "required",
            FieldProblem::TooShort(_) => "too_short",
            FieldProblem::TooLong(_) => "too_long",
            FieldProblem::InvalidEmail => "invalid_email",
            FieldProblem::WrongType => "wrong_type",
            FieldProblem::Taken => "taken",
            FieldProblem::InvalidDate => "invalid_date",
            FieldProblem::ControlCharacter => "control_character",
            FieldProblem::FileTooLarge(_) => "too_large",
            FieldProblem::ImageTooLarge => "image_too_large",
            FieldProblem::TooMany(_) => "too_many",
            _ => "invalid_choice",
        };
        FieldMessage { field: field.to_owned(), problem: code.to_owned(), message: problem.message(&EN) }
    }
}

impl ApiError {
    fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { error, message: message.into(), fields: Vec::new(), retry_after_seconds: None, reference: None }
    }

    fn fields(fields: Vec<FieldMessage>) -> Self {
        ApiError { fields, ..Self::new(ErrorCode::InvalidFields, "some fields are missing or invalid") }
    }

    fn too_large() -> Self {
        Self::new(ErrorCode::PayloadTooLarge, "the request body is larger than this server accepts")
    }

    fn internal(err: AppError) -> Self {
        let reference = match err {
            AppError::Internal(reference) => reference,
            other => match AppError::internal(other) {
                AppError::Internal(reference) => reference,
                _ => String::new(),
            },
        };
        ApiError { reference: Some(reference), ..Self::new(ErrorCode::Internal, "unexpected failure") }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let retry = self.retry_after_seconds;
        let mut response = (status, Json(self)).into_response();
        if let Some(secs) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, secs);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Which endpoint a delivery came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Json,
    Email,
    Sms,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Json => "/api/v1/intake",
            Endpoint::Email => "/api/v1/intake/email",
            Endpoint::Sms => "/api/v1/intake/sms",
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Endpoint::Json | Endpoint::Sms => "application/json",
            Endpoint::Email => "message/rfc822",
        }
    }

    /// The source channel this endpoint is for; JSON is for any source.
    fn channel(self) -> Option<SourceChannel> {
        match self {
            Endpoint::Json => None,
            Endpoint::Email => Some(SourceChannel::Email),
            Endpoint::Sms => Some(SourceChannel::Sms),
        }
    }
}

/// `POST /api/v1/intake`: a report as JSON.
#[utoipa::path(
    post,
    path = "/api/v1/intake",
    request_body(content = JsonReport, content_type = "application/json"),
    responses(
        (status = 201, description = "Incident created", body = Accepted),
        (status = 200, description = "Repeated delivery: the incident created before", body = Accepted),
        (status = 400, description = "Malformed JSON, invalid UTF-8 or invalid fields", body = ApiError),
        (status = 401, description = "Missing, unknown, paused or revoked token", body = ApiError,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 409, description = "`channel` is not the source's channel", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 415, description = "Not application/json", body = ApiError),
        (status = 429, description = "Over this source's rate, or too many requests from this address", body = ApiError,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 500, description = "Unexpected failure, logged under `reference`", body = ApiError),
    )
)]
async fn json_report(
    State(state): State<IntakeState>,
    client: Option<Extension<ClientInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    deliver(state, client, headers, body, Endpoint::Json).await
}

/// `POST /api/v1/intake/email`: one raw RFC 5322 message, as mail providers' inbound webhooks
/// deliver it. Subject becomes the title, the text (or HTML) body the description, From the
/// reporter and Message-ID the external id.
#[utoipa::path(
    post,
    path = "/api/v1/intake/email",
    request_body(content = String, content_type = "message/rfc822", description = "The raw message"),
    responses(
        (status = 201, description = "Incident created", body = Accepted),
        (status = 200, description = "Repeated delivery (same Message-ID)", body = Accepted),
        (status = 400, description = "Not a readable message, no sender, or empty", body = ApiError),
        (status = 401, description = "Missing, unknown, paused or revoked token", body = ApiError,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 409, description = "The source is not an email source", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 415, description = "Not message/rfc822", body = ApiError),
        (status = 429, description = "Over this source's rate, or too many requests from this address", body = ApiError,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 500, description = "Unexpected failure, logged under `reference`", body = ApiError),
    )
)]
async fn email_report(
    State(state): State<IntakeState>,
    client: Option<Extension<ClientInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    deliver(state, client, headers, body, Endpoint::Email).await
}

/// `POST /api/v1/intake/sms`: a text message (sender number and text).
#[utoipa::path(
    post,
    path = "/api/v1/intake/sms",
    request_body(content = SmsReport, content_type = "application/json"),
    responses(
        (status = 201, description = "Incident created", body = Accepted),
        (status = 200, description = "Repeated delivery (same message_id)", body = Accepted),
        (status = 400, description = "Malformed JSON, invalid UTF-8 or invalid fields", body = ApiError),
        (status = 401, description = "Missing, unknown, paused or revoked token", body = ApiError,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 409, description = "The source is not an SMS source", body = ApiError),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 415, description = "Not application/json", body = ApiError),
        (status = 429, description = "Over this source's rate, or too many requests from this address", body = ApiError,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 500, description = "Unexpected failure, logged under `reference`", body = ApiError),
    )
)]
async fn sms_report(
    State(state): State<IntakeState>,
    client: Option<Extension<ClientInfo>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    deliver(state, client, headers, body, Endpoint::Sms).await
}

async fn deliver(
    state: IntakeState,
    client: Option<Extension<ClientInfo>>,
    headers: HeaderMap,
    body: Body,
    endpoint: Endpoint,
) -> Response {
    let client = client.map(|c| c.0).unwrap_or_default();
    match accept(&state, &client, &headers, body, endpoint).await {
        Ok(accepted) => {
            let status = if accepted.created { StatusCode::CREATED } else { StatusCode::OK };
            (status, Json(accepted)).into_response()
        }
        Err(err) => err.into_response(),
    }
}

async fn accept(
    state: &IntakeState,
    client: &ClientInfo,
    headers: &HeaderMap,
    body: Body,
    endpoint: Endpoint,
) -> Result<Accepted, ApiError> {
    let source = authenticate(&state.app, client, headers, endpoint).await?;
    let verdict = rate::check(&state.app.db, source.id, state.app.config.intake_rate_per_minute, state.app.clock.now())
        .await
        .map_err(|err| ApiError::internal(err.into()))?;
    if let Err(wait) = verdict {
        metrics::counter!("baton_rate_limited_total", "limiter" => "intake").increment(1);
        let secs = wait.as_secs() + 1;
        return Err(ApiError {
            retry_after_seconds: Some(secs),
            ..ApiError::new(ErrorCode::RateLimited, "this source sent more reports than its rate allows")
        });
    }
    if endpoint.channel().is_some_and(|c| c != source.channel) {
        return Err(channel_mismatch(source.channel));
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media_type != endpoint.media_type() {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("this endpoint takes {}", endpoint.media_type()),
        ));
    }
    let bytes = read_body(body).await?;
    let max_file = state.app.config.attachment_max_bytes;
    let (mut report, delivered) = match endpoint {
        Endpoint::Json => {
            let (mut report, uploads) = json_fields(&bytes, source.channel)?;
            report.attachments = prepare_strictly(uploads, max_file).await?;
            (report, Vec::new())
        }
        Endpoint::Sms => (sms_fields(&bytes)?, Vec::new()),
        Endpoint::Email => {
            let report = parse::email(&bytes).map_err(|e| {
                let message = match e {
                    EmailError::Unreadable => "not a readable RFC 5322 message",
                    EmailError::NoSender => "the message has no From address",
                    EmailError::Empty => "the message has neither subject nor text",
                };
                ApiError::new(ErrorCode::InvalidMessage, message)
            })?;
            (report, parse::email_attachments(&bytes))
        }
    };
    // A mail's files are kept as far as they can be; one that cannot never costs the report.
    if !delivered.is_empty() {
        report.attachments = files::prepare_delivered(delivered, max_file).await;
    }
    let delivered =
        engine::create_from_intake(&state.app.db, &*state.app.blobs, &source, client, &report, state.app.clock.now())
            .await
            .map_err(|err| match err {
                AppError::Refused(Refusal::Invalid { field, problem }) => {
                    ApiError::fields(vec![FieldMessage::new(&field, problem)])
                }
                other => ApiError::internal(other),
            })?;
    if delivered.created {
        // Committed: open queues reload and the ops notification goes out now, not at the next poll.
        state.app.events.publish(app::workflow::live::IncidentChanged {
            id: delivered.incident.id,
            version: 1,
            activity: 0,
        });
        state.app.mail.wake();
    }
    let key = delivered.incident.key;
    Ok(Accepted {
        incident_url: format!("{}/incidents/{key}", state.app.config.base_url),
        incident_key: key,
        created: delivered.created,
    })
}

fn channel_mismatch(channel: SourceChannel) -> ApiError {
    ApiError::new(ErrorCode::ChannelMismatch, format!("this source's channel is {}", channel.as_str()))
}

/// The source of the bearer token, or a refusal that is recorded in the audit log.
async fn authenticate(
    app: &AppState,
    client: &ClientInfo,
    headers: &HeaderMap,
    endpoint: Endpoint,
) -> Result<Source, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let (name, reason) = match token {
        None => (String::new(), "missing_token"),
        Some(token) => match store::authenticate(&app.db, token).await {
            Ok(Authenticated::Valid(source)) => return Ok(source),
            Ok(Authenticated::Revoked(name)) => (name, "revoked"),
            Ok(Authenticated::Disabled(name)) => (name, "paused"),
            Ok(Authenticated::Unknown) => (String::new(), "unknown_token"),
            Err(err) => return Err(ApiError::internal(AppError::internal(err))),
        },
    };
    tracing::warn!(source = %name, reason, path = endpoint.path(), "refused an intake delivery");
    let recorded = Record::new(&Origin::intake(&name, client), event::INTAKE_REFUSED)
        .target("intake_source", &name)
        .outcome(Outcome::Denied)
        .details(serde_json::json!({ "reason": reason, "path": endpoint.path() }))
        .record_refusal(&app.db, &app.refusals, reason, chrono::Utc::now())
        .await;
    if let Err(err) = recorded {
        tracing::error!("cannot record a refused intake delivery in the audit log: {err}");
    }
    Err(ApiError::new(ErrorCode::Unauthorized, "a valid intake token is required (Authorization: Bearer ...)"))
}

/// Reads the whole body; the app's body limit has wrapped it already.
async fn read_body(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, usize::MAX).await.map_err(|err| {
        let inner = err.into_inner();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
        while let Some(e) = cause {
            if e.is::<http_body_util::LengthLimitError>() {
                return ApiError::too_large();
            }
            cause = e.source();
        }
        ApiError::new(ErrorCode::UnreadableBody, "the request body could not be read")
    })
}

/// The JSON object of a body, or the error for invalid UTF-8 or malformed JSON.
fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| ApiError::new(ErrorCode::InvalidUtf8, "the body is not UTF-8"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::new(ErrorCode::InvalidJson, "the body must be a JSON object")),
        Err(_) => Err(ApiError::new(ErrorCode::InvalidJson, "the body is not valid JSON")),
    }
}

/// Reads fields of a JSON object, collecting every problem rather than stopping at the first.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    problems: Vec<FieldMessage>,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>) -> Self {
        Fields { map, problems: Vec::new() }
    }

    /// A text field: `null` counts as absent; other types are refused.
    fn text(&mut self, name: &str, required: bool, max: usize) -> Option<String> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.problems.push(FieldMessage::new(name, FieldProblem::Required));
                }
                None
            }
            Some(Value::String(s)) => {
                if required && s.trim().is_empty() {
                    self.problems.push(FieldMessage::new(name, FieldProblem::Required));
                } else if s.chars().count() > max {
                    self.problems.push(FieldMessage::new(name, FieldProblem::TooLong(max)));
                } else if app::text::forbidden_char(s).is_some() {
                    self.problems.push(FieldMessage::new(name, FieldProblem::ControlCharacter));
                }
                Some(s.clone())
            }
            Some(_) => {
                self.problems.push(FieldMessage::new(name, FieldProblem::WrongType));
                None
            }
        }
    }

    /// The RFC 3339 time in `text`, read from field `name`.
    fn time(&mut self, name: &str, text: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
        let text = text?;
        match chrono::DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(_) => {
                self.problems.push(FieldMessage::new(name, FieldProblem::InvalidDate));
                None
            }
        }
    }

    /// The `attachments` array: each a `name` and its `content_base64`, at most [`MAX_FILES`].
    fn attachments(&mut self) -> Vec<Upload> {
        use base64::{alphabet, engine, Engine as _};
        // Padded standard base64, as the schema's pattern says; unused bits at the end are not
        // held against the sender.
        let lenient = engine::GeneralPurpose::new(
            &alphabet::STANDARD,
            engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let items = match self.map.get("attachments") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.problems.push(FieldMessage::new("attachments", FieldProblem::WrongType));
                return Vec::new();
            }
        };
        if items.len() > MAX_FILES {
            self.problems.push(FieldMessage::new("attachments", FieldProblem::TooMany(MAX_FILES)));
            return Vec::new();
        }
        let mut uploads = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let Value::Object(map) = item else {
                self.problems.push(FieldMessage::new(&format!("attachments[{n}]"), FieldProblem::WrongType));
                continue;
            };
            let mut fields = Fields::new(map);
            let name = fields.text("name", true, MAX_SHORT);
            let content = fields.text("content_base64", true, usize::MAX);
            for mut problem in fields.problems {
                problem.field = format!("attachments[{n}].{}", problem.field);
                self.problems.push(problem);
            }
            let (Some(name), Some(content)) = (name, content) else { continue };
            match lenient.decode(content.trim()) {
                Ok(bytes) if !bytes.is_empty() => uploads.push(Upload { name, bytes }),
                _ => self
                    .problems
                    .push(FieldMessage::new(&format!("attachments[{n}].content_base64"), FieldProblem::WrongType)),
            }
        }
        uploads
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::fields(self.problems))
        }
    }
}

/// The files of a JSON report, each checked: a file the sender must fix is a field error.
async fn prepare_strictly(uploads: Vec<Upload>, max: usize) -> Result<Vec<Prepared>, ApiError> {
    let mut prepared = Vec::with_capacity(uploads.len());
    for (n, upload) in uploads.into_iter().enumerate() {
        match files::prepare(upload, max).await {
            Ok(p) => prepared.push(p),
            Err(AppError::Invalid { problem, .. }) => {
                return Err(ApiError::fields(vec![FieldMessage::new(
                    &format!("attachments[{n}].content_base64"),
                    problem,
                )]))
            }
            Err(other) => return Err(ApiError::internal(other)),
        }
    }
    Ok(prepared)
}

/// A report as JSON, and the files that came with it (not yet checked).
fn json_fields(bytes: &[u8], channel: SourceChannel) -> Result<(Report, Vec<Upload>), ApiError> {
    let map = json_object(bytes)?;
    let mut f = Fields::new(&map);
    let report = JsonReport {
        title: f.text("title", true, MAX_SHORT).unwrap_or_default(),
        body: f.text("body", true, MAX_TEXT).unwrap_or_default(),
        reporter_name: f.text("reporter_name", false, MAX_SHORT),
        reporter_email: f.text("reporter_email", false, MAX_SHORT),
        reporter_phone: f.text("reporter_phone", false, MAX_SHORT),
        external_id: f.text("external_id", false, MAX_SHORT),
        received_at: f.text("received_at", false, MAX_SHORT),
        // Exactly one of the documented names: p0-p3, in either case.
        severity: f.text("severity", false, MAX_SHORT).and_then(|s| match s.as_str() {
            "p0" | "P0" => Some(SeverityHint::P0),
            "p1" | "P1" => Some(SeverityHint::P1),
            "p2" | "P2" => Some(SeverityHint::P2),
            "p3" | "P3" => Some(SeverityHint::P3),
            _ => {
                f.problems.push(FieldMessage::new("severity", FieldProblem::InvalidChoice));
                None
            }
        }),
        channel: f.text("channel", false, MAX_SHORT),
        attachments: None,
    };
    let uploads = f.attachments();
    let received_at = f.time("received_at", report.received_at.as_deref());
    let given_channel = match report.channel.as_deref() {
        None => None,
        Some(name) => match SourceChannel::ALL.into_iter().find(|c| c.as_str() == name) {
            Some(c) => Some(c),
            None => {
                f.problems.push(FieldMessage::new("channel", FieldProblem::InvalidChoice));
                None
            }
        },
    };
    f.finish()?;
    if given_channel.is_some_and(|c| c != channel) {
        return Err(channel_mismatch(channel));
    }
    let report = Report {
        title: report.title,
        description: report.body,
        severity: report.severity.map(|s| match s {
            SeverityHint::P0 => Severity::P0,
            SeverityHint::P1 => Severity::P1,
            SeverityHint::P2 => Severity::P2,
            SeverityHint::P3 => Severity::P3,
        }),
        reporter_name: report.reporter_name.unwrap_or_default(),
        reporter_email: report.reporter_email.unwrap_or_default(),
        reporter_phone: report.reporter_phone.unwrap_or_default(),
        external_id: report.external_id.unwrap_or_default(),
        received_at,
        attachments: Vec::new(),
    };
    Ok((report, uploads))
}

fn sms_fields(bytes: &[u8]) -> Result<Report, ApiError> {
    let map = json_object(bytes)?;
    let mut f = Fields::new(&map);
    let sms = SmsReport {
        from: f.text("from", true, MAX_SHORT).unwrap_or_default(),
        text: f.text("text", true, MAX_TEXT).unwrap_or_default(),
        message_id: f.text("message_id", false, MAX_SHORT),
        received_at: f.text("received_at", false, MAX_SHORT),
    };
    let received_at = f.time("received_at", sms.received_at.as_deref());
    f.finish()?;
    Ok(Report {
        title: parse::derived_title(&sms.text),
        description: sms.text.trim().to_owned(),
        severity: None,
        reporter_name: String::new(),
        reporter_email: String::new(),
        reporter_phone: sms.from.trim().to_owned(),
        external_id: sms.message_id.unwrap_or_default(),
        received_at,
        attachments: Vec::new(),
    })
}

/// Oversized bodies larger than this are not read before refusing them.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;
/// How long reading an oversized body to its end may take.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Refuses an intake body whose announced length is over the app's limit with the API's JSON 413.
///
/// Runs before the app-wide body limit, whose own refusal is plain text and sent without reading
/// the body: a webhook sender still writing its upload then sees the connection reset, not the
/// 413, and retries forever. So a moderately oversized body is read to its end and discarded
/// first (up to [`DRAIN_LIMIT`], within [`DRAIN_TIMEOUT`]). Bodies without a length are limited
/// while the handler reads them ([`read_body`]).
pub async fn refuse_oversized(State(max_body): State<usize>, request: Request, next: Next) -> Response {
    let announced =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let too_large = announced.is_some_and(|n| n > max_body as u64);
    if !too_large || !request.uri().path().starts_with(PREFIX) {
        return next.run(request).await;
    }
    if announced.is_some_and(|n| n <= DRAIN_LIMIT) {
        let mut stream = request.into_body().into_data_stream();
        let drain = async { while let Some(Ok(_)) = futures::StreamExt::next(&mut stream).await {} };
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
    }
    ApiError::too_large().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_a_json_report_is_named() {
        let err =
            json_fields(br#"{"title": 5, "severity": "urgent", "received_at": "yesterday"}"#, SourceChannel::Other)
                .unwrap_err();
        let named: Vec<(&str, &str)> = err.fields.iter().map(|f| (f.field.as_str(), f.problem.as_str())).collect();
        assert_eq!(
            named,
            [
                ("title", "wrong_type"),
                ("body", "required"),
                ("severity", "invalid_choice"),
                ("received_at", "invalid_date")
            ]
        );
    }

    #[test]
    fn the_document_lists_the_three_endpoints() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for path in ["/api/v1/intake", "/api/v1/intake/email", "/api/v1/intake/sms"] {
            assert!(doc["paths"][path]["post"].is_object(), "{path}");
        }
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
}
