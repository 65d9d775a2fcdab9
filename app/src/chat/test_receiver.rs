//! A local HTTP receiver that stands in for the chat platforms in tests.
//!
//! One in-process server on 127.0.0.1 plays DingTalk, WeCom, Feishu/Lark and a Standard Webhooks
//! endpoint at once: each registered path checks the platform's signature and message shape, records
//! what arrived and answers the way the platform would. The checks are coded here from the platforms'
//! documentation on purpose, without `sign.rs` or `wire.rs`: a test that verified requests with the
//! code that built them would pass whatever that code got wrong.
//!
//! Tests can also script failures and delays per path, and take the whole server down (connections
//! refused) and back up on the same port, to exercise retries.

use std::{
    collections::{HashMap, VecDeque},
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::{net::TcpListener, task::JoinHandle};

use super::message::ChannelKind;

type HmacSha256 = Hmac<Sha256>;

/// DingTalk and Feishu refuse a signature whose timestamp is more than an hour from their clock.
const PLATFORM_WINDOW_S: i64 = 3600;
/// Standard Webhooks receivers accept five minutes of clock skew (the replay-protection window).
const WEBHOOK_WINDOW_S: i64 = 300;
/// WeCom rejects markdown content over 4096 bytes (bytes, not characters).
const WECOM_MARKDOWN_MAX: usize = 4096;
/// WeCom rejects text content over 2048 bytes.
const WECOM_TEXT_MAX: usize = 2048;
/// How often `wait_for` looks again, and how long `resume` waits between bind attempts.
const POLL: Duration = Duration::from_millis(20);
/// How long `resume` keeps trying to get its old port back before giving up.
const REBIND_FOR: Duration = Duration::from_secs(5);

/// An answer scripted for the next request to one endpoint, in place of the normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scripted {
    /// HTTP status with a body (e.g. 503 "", or 200 r#"{"errcode":130101,"errmsg":"send too fast"}"#).
    Status(u16, String),
    /// Wait this long before answering normally (to trigger client timeouts).
    Delay(Duration),
}

/// One request that reached the receiver, with what the receiver made of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// Request path, e.g. "/dingtalk/ops".
    pub path: String,
    /// Raw query string ("" when none); DingTalk's timestamp and sign travel here.
    pub query: String,
    /// Request headers in arrival order, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body parsed as JSON; `Null` when it is not JSON.
    pub body: Value,
    /// The kind's signature verified (true when no secret is registered; false at an unknown path).
    pub signature_ok: bool,
    /// Why the signature did not verify, so a failing test says more than `false`; `None` when it did.
    pub signature_error: Option<String>,
    /// Shape problems found (empty = valid); signature failures are not repeated here.
    pub problems: Vec<String>,
    /// The HTTP status the receiver answered with.
    pub answered: u16,
}

impl Received {
    /// The first value of header `name` (case-insensitive), if the request had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A local chat-platform receiver for tests; stops its server on drop.
pub struct Receiver {
    addr: SocketAddr,
    state: Shared,
    /// The running server task; `None` while down. An async mutex so that `go_down` and `resume`,
    /// which await while holding it, cannot interleave (two binds of one port would fight).
    server: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Receiver {
    /// Starts on a free 127.0.0.1 port.
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("test receiver: bind 127.0.0.1");
        let addr = listener.local_addr().expect("test receiver: local address");
        let state = Shared::default();
        let server = serve(listener, state.clone());
        Receiver { addr, state, server: tokio::sync::Mutex::new(Some(server)) }
    }

    /// Base URL, e.g. "http://127.0.0.1:43127".
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Registers an endpoint: `path` like "/dingtalk/ops" (any path, matched without the query), its
    /// kind and its secret (None for WeCom, or to skip verification). Requests to unknown paths
    /// answer 404. Registering a path again replaces its kind and secret.
    pub fn endpoint(&self, path: &str, kind: ChannelKind, secret: Option<&str>) {
        // A path without the slash could never match a request: fail here rather than with a 404 later.
        assert!(path.starts_with('/'), "test receiver: endpoint path {path:?} must start with '/'");
        let endpoint = Endpoint { kind, secret: secret.map(str::to_owned) };
        lock(&self.state).endpoints.insert(path.to_owned(), endpoint);
    }

    /// Scripts the next answers of `path`, used in order before returning to normal success.
    /// Calling it again appends to what is still queued.
    pub fn script(&self, path: &str, answers: Vec<Scripted>) {
        for answer in &answers {
            if let Scripted::Status(code, _) = answer {
                // Caught here, in the test that wrote it, instead of as a puzzling 500 at request time.
                assert!(StatusCode::from_u16(*code).is_ok(), "test receiver: {code} is not an HTTP status");
            }
        }
        lock(&self.state).scripts.entry(path.to_owned()).or_default().extend(answers);
    }

    /// Makes the whole server refuse connections (listener closed) until `resume`, keeping the port.
    ///
    /// Every answer carries `connection: close`, so no kept-alive connection survives to slip a
    /// request past the outage; a request already being answered (e.g. a scripted delay) still finishes.
    pub async fn go_down(&self) {
        let mut server = self.server.lock().await;
        if let Some(task) = server.take() {
            task.abort();
            // The listener lives in the task's future: once the aborted task is joined it is dropped,
            // so the next connection attempt is refused rather than left waiting in the backlog.
            let _ = task.await;
        }
    }

    /// Brings the server back after `go_down`, on the same port (so the URLs tests hold stay valid).
    pub async fn resume(&self) {
        let mut server = self.server.lock().await;
        if server.is_none() {
            let listener = rebind(self.addr).await;
            *server = Some(serve(listener, self.state.clone()));
        }
    }

    /// Everything accepted so far for `path` (verified or not), in arrival order.
    pub fn received(&self, path: &str) -> Vec<Received> {
        lock(&self.state).received.get(path).cloned().unwrap_or_default()
    }

    /// Waits (polling every 20 ms) until `path` has at least `n` received requests or `timeout` passes.
    pub async fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received(path);
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Aborting drops the listener, freeing the port, without needing an async context here.
        if let Some(task) = self.server.get_mut().take() {
            task.abort();
        }
    }
}

/// One registered path.
#[derive(Clone)]
struct Endpoint {
    kind: ChannelKind,
    secret: Option<String>,
}

/// Everything the handlers and the test share. Locked only briefly and never across an `.await`.
#[derive(Default)]
struct Registry {
    endpoints: HashMap<String, Endpoint>,
    scripts: HashMap<String, VecDeque<Scripted>>,
    received: HashMap<String, Vec<Received>>,
}

type Shared = Arc<Mutex<Registry>>;

/// Locks the registry even after a panic elsewhere: the data stays consistent (every update is a
/// single insert or push), and refusing it would bury the first failure under lock errors.
fn lock(state: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn serve(listener: TcpListener, state: Shared) -> JoinHandle<()> {
    let app = Router::new().fallback(handle).with_state(state);
    tokio::spawn(async move {
        // axum's accept loop only returns if accepting fails for good; clients then see no server,
        // which is what a test would look into anyway.
        let _ = axum::serve(listener, app).await;
    })
}

/// Binds `addr` again. The old listener was just dropped, and the port may briefly stay busy.
async fn rebind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + REBIND_FOR;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
            Err(e) => panic!("test receiver: cannot bind {addr} again: {e}"),
        }
    }
}

/// Answers every request: verifies it, records it, then answers as scripted or as the platform would.
async fn handle(State(state): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, raw: Bytes) -> Response {
    let (delay, status, answer) = admit(&state, &method, &uri, &headers, &raw);
    // Recorded before the delay: a client that times out and hangs up still leaves its request on
    // record, which is exactly what a timeout test wants to see.
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    respond(status, answer)
}

/// Verifies and records one request, and decides its answer: an optional delay, a status and a body.
/// Synchronous so that the registry lock cannot be held across an `.await`.
fn admit(
    state: &Mutex<Registry>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    raw: &[u8],
) -> (Option<Duration>, u16, String) {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    let endpoint = lock(state).endpoints.get(&path).cloned();

    let verdict = match &endpoint {
        Some(ep) => inspect(ep, method, &query, headers, raw, &body, Utc::now()),
        None => Verdict {
            signature_error: Some("no endpoint is registered at this path".into()),
            problems: vec![format!("no endpoint is registered at {path}")],
        },
    };
    let signature_ok = verdict.signature_error.is_none();

    // Taking the script and recording happen under one lock, so the recorded order is the order in
    // which requests consumed the script.
    let mut registry = lock(state);
    let (delay, status, answer) = match &endpoint {
        None => (None, 404, "no such endpoint".to_owned()),
        Some(_) if *method != Method::POST => (None, 405, "method not allowed".to_owned()),
        Some(ep) => match registry.scripts.get_mut(&path).and_then(VecDeque::pop_front) {
            Some(Scripted::Status(status, answer)) => (None, status, answer),
            Some(Scripted::Delay(delay)) => {
                let (status, answer) = normal_answer(ep.kind, signature_ok);
                (Some(delay), status, answer)
            }
            None => {
                let (status, answer) = normal_answer(ep.kind, signature_ok);
                (None, status, answer)
            }
        },
    };
    let header_list = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let received = Received {
        path: path.clone(),
        query,
        headers: header_list,
        body,
        signature_ok,
        signature_error: verdict.signature_error,
        problems: verdict.problems,
        answered: status,
    };
    registry.received.entry(path).or_default().push(received);
    (delay, status, answer)
}

/// The platform's answer to a request it accepted (or refused for its signature).
fn normal_answer(kind: ChannelKind, signature_ok: bool) -> (u16, String) {
    let (status, body) = match (kind, signature_ok) {
        (ChannelKind::Dingtalk, true) => (200, r#"{"errcode":0,"errmsg":"ok"}"#),
        (ChannelKind::Dingtalk, false) => (200, r#"{"errcode":310000,"errmsg":"sign not match"}"#),
        // WeCom has no signature: the key in the URL is the only credential.
        (ChannelKind::Wecom, _) => (200, r#"{"errcode":0,"errmsg":"ok"}"#),
        (ChannelKind::Feishu, true) => (200, r#"{"code":0,"msg":"success","data":{}}"#),
        (ChannelKind::Feishu, false) => {
            (200, r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#)
        }
        // 204 rather than 200 "{}": senders must not expect a JSON answer from a generic webhook.
        (ChannelKind::Webhook, true) => (204, ""),
        (ChannelKind::Webhook, false) => (401, "invalid signature"),
    };
    (status, body.to_owned())
}

fn respond(status: u16, body: String) -> Response {
    let json = !body.is_empty() && serde_json::from_str::<Value>(&body).is_ok();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    if json {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    }
    // One request per connection: a kept-alive connection would outlive `go_down` and let a client
    // through a server that is supposed to be down.
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// What the receiver concluded about one request, before any script applies.
struct Verdict {
    signature_error: Option<String>,
    problems: Vec<String>,
}

/// Checks a request to a registered endpoint: method, content type, the kind's shape and, with a
/// secret, its signature.
fn inspect(
    endpoint: &Endpoint,
    method: &Method,
    query: &str,
    headers: &HeaderMap,
    raw: &[u8],
    body: &Value,
    now: DateTime<Utc>,
) -> Verdict {
    let mut problems = Vec::new();
    if method != Method::POST {
        problems.push(format!("method is {method}, not POST"));
    }
    match header_str(headers, "content-type") {
        Some(ct) if ct.to_ascii_lowercase().starts_with("application/json") => {}
        other => problems.push(format!("content-type is {other:?}, not application/json")),
    }
    if !body.is_object() {
        problems.push("body is not a JSON object".into());
    }
    match endpoint.kind {
        ChannelKind::Dingtalk => dingtalk_shape(body, &mut problems),
        ChannelKind::Wecom => wecom_shape(body, &mut problems),
        ChannelKind::Feishu => feishu_shape(body, &mut problems),
        ChannelKind::Webhook => webhook_shape(headers, body, &mut problems),
    }
    let signature = match (endpoint.kind, endpoint.secret.as_deref()) {
        (_, None) | (ChannelKind::Wecom, _) => Ok(()),
        (ChannelKind::Dingtalk, Some(secret)) => dingtalk_signature(query, secret, now.timestamp_millis()),
        (ChannelKind::Feishu, Some(secret)) => feishu_signature(body, secret, now.timestamp()),
        (ChannelKind::Webhook, Some(secret)) => webhook_signature(headers, raw, secret, now.timestamp()),
    };
    Verdict { signature_error: signature.err(), problems }
}

// ---- Signatures -------------------------------------------------------------------------------

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// Parses integer `text` and checks it lies within `window` of `now` (same unit).
fn timestamp_within(text: &str, now: i64, window: i64, unit: &str) -> Result<(), String> {
    let ts: i64 = text.parse().map_err(|_| format!("timestamp {text:?} is not an integer in {unit}"))?;
    if (now - ts).abs() > window {
        return Err(format!("timestamp {ts} is more than {window} {unit} from now ({now})"));
    }
    Ok(())
}

/// DingTalk: `timestamp` (ms) and `sign` in the query; sign = urlencode(base64(HMAC-SHA256(key =
/// secret, msg = timestamp + "\n" + secret))).
fn dingtalk_signature(query: &str, secret: &str, now_ms: i64) -> Result<(), String> {
    let timestamp = query_param(query, "timestamp").ok_or("query has no timestamp")?;
    let sign = query_param(query, "sign").ok_or("query has no sign")?;
    timestamp_within(timestamp, now_ms, PLATFORM_WINDOW_S * 1000, "ms")?;
    // DingTalk decodes the query as a form: an unencoded '+' of the base64 arrives as a space and
    // the signature fails there too, so decoding the same way catches a sender that forgot to encode.
    let spaced = sign.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map_err(|_| format!("sign {sign:?} is not percent-encoded UTF-8"))?;
    let expected = BASE64.encode(hmac_sha256(secret.as_bytes(), format!("{timestamp}\n{secret}").as_bytes()));
    if decoded != expected {
        return Err(format!("sign {sign:?} decodes to {decoded:?}, expected {expected:?}"));
    }
    Ok(())
}

/// The raw (still encoded) value of the first `name=value` pair in a query string.
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(key, _)| *key == name).map(|(_, value)| value)
}

/// Feishu: string `timestamp` (s) and `sign` at the top of the body; sign = base64(HMAC-SHA256(key =
/// timestamp + "\n" + secret, msg = "")): the key and message are the other way round from DingTalk.
fn feishu_signature(body: &Value, secret: &str, now_s: i64) -> Result<(), String> {
    let timestamp = match body.get("timestamp") {
        Some(Value::String(ts)) => ts,
        Some(other) => return Err(format!("timestamp must be a JSON string, got {other}")),
        None => return Err("body has no timestamp".into()),
    };
    let sign = body.get("sign").and_then(Value::as_str).ok_or("body has no string sign")?;
    timestamp_within(timestamp, now_s, PLATFORM_WINDOW_S, "s")?;
    let expected = BASE64.encode(hmac_sha256(format!("{timestamp}\n{secret}").as_bytes(), b""));
    if sign != expected {
        return Err(format!("sign {sign:?}, expected {expected:?}"));
    }
    Ok(())
}

/// Standard Webhooks: `webhook-signature` lists space-separated "v1,<base64>" entries, one of which
/// must be HMAC-SHA256(key, id + "." + timestamp + "." + raw body). The key is the base64 after
/// "whsec_", or the secret's own bytes when it is not in that form.
fn webhook_signature(headers: &HeaderMap, raw: &[u8], secret: &str, now_s: i64) -> Result<(), String> {
    let id = header_str(headers, "webhook-id").ok_or("no webhook-id header")?;
    let timestamp = header_str(headers, "webhook-timestamp").ok_or("no webhook-timestamp header")?;
    let signatures = header_str(headers, "webhook-signature").ok_or("no webhook-signature header")?;
    timestamp_within(timestamp, now_s, WEBHOOK_WINDOW_S, "s")?;
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|encoded| BASE64.decode(encoded).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(raw);
    let expected = BASE64.encode(hmac_sha256(&key, &signed));
    // Several entries let a sender sign with an old and a new secret while rotating: one match suffices.
    if signatures.split(' ').filter_map(|entry| entry.strip_prefix("v1,")).any(|sig| sig == expected) {
        Ok(())
    } else {
        Err(format!("no v1 entry of {signatures:?} is {expected:?}"))
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

// ---- Shapes -----------------------------------------------------------------------------------

/// The string at JSON `pointer`, noting a problem when there is none.
fn need_str<'a>(body: &'a Value, pointer: &str, problems: &mut Vec<String>) -> Option<&'a str> {
    let found = body.pointer(pointer).and_then(Value::as_str);
    if found.is_none() {
        problems.push(format!("{pointer} must be a string"));
    }
    found
}

/// Notes a problem unless the value at JSON `pointer` passes `check`; `what` names what was expected.
fn need(body: &Value, pointer: &str, check: fn(&Value) -> bool, what: &str, problems: &mut Vec<String>) {
    if !body.pointer(pointer).is_some_and(check) {
        problems.push(format!("{pointer} must be {what}"));
    }
}

/// The strings of an optional array at `pointer`, noting a problem when it is there but not an array
/// of strings.
fn optional_strings<'a>(body: &'a Value, pointer: &str, problems: &mut Vec<String>) -> Vec<&'a str> {
    match body.pointer(pointer) {
        None => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).collect()
        }
        Some(other) => {
            problems.push(format!("{pointer} must be an array of strings, got {other}"));
            Vec::new()
        }
    }
}

fn need_kind<'a>(body: &'a Value, field: &str, problems: &mut Vec<String>) -> Option<&'a str> {
    let found = body.get(field).and_then(Value::as_str);
    if found.is_none() && body.is_object() {
        problems.push(format!("{field} must be a string"));
    }
    found
}

fn dingtalk_shape(body: &Value, problems: &mut Vec<String>) {
    let text = match need_kind(body, "msgtype", problems) {
        Some("markdown") => {
            need_str(body, "/markdown/title", problems);
            need_str(body, "/markdown/text", problems)
        }
        Some("actionCard") => {
            need_str(body, "/actionCard/title", problems);
            need_str(body, "/actionCard/text", problems)
        }
        Some("text") => need_str(body, "/text/content", problems),
        Some(other) => {
            problems.push(format!("msgtype {other:?} is not markdown, actionCard or text"));
            None
        }
        None => None,
    };
    let Some(at) = body.get("at") else { return };
    if !at.is_object() {
        problems.push(format!("at must be an object, got {at}"));
        return;
    }
    // DingTalk only notifies a mobile in atMobiles when the text also says "@<mobile>"; without it
    // the message arrives but nobody is pinged, which no answer code reveals.
    for mobile in optional_strings(body, "/at/atMobiles", problems) {
        if !text.unwrap_or_default().contains(&format!("@{mobile}")) {
            problems.push(format!("at.atMobiles has {mobile} but the text has no \"@{mobile}\""));
        }
    }
    optional_strings(body, "/at/atUserIds", problems);
    if at.get("isAtAll").is_some_and(|v| !v.is_boolean()) {
        problems.push("at.isAtAll must be a boolean".into());
    }
}

fn wecom_shape(body: &Value, problems: &mut Vec<String>) {
    match need_kind(body, "msgtype", problems) {
        Some("markdown") => {
            if let Some(content) = need_str(body, "/markdown/content", problems) {
                if content.len() > WECOM_MARKDOWN_MAX {
                    problems.push(format!("markdown.content is {} bytes, over {WECOM_MARKDOWN_MAX}", content.len()));
                }
            }
        }
        Some("text") => {
            if let Some(content) = need_str(body, "/text/content", problems) {
                if content.len() > WECOM_TEXT_MAX {
                    problems.push(format!("text.content is {} bytes, over {WECOM_TEXT_MAX}", content.len()));
                }
            }
            optional_strings(body, "/text/mentioned_list", problems);
            optional_strings(body, "/text/mentioned_mobile_list", problems);
        }
        Some(other) => problems.push(format!("msgtype {other:?} is not markdown or text")),
        None => {}
    }
}

fn feishu_shape(body: &Value, problems: &mut Vec<String>) {
    match need_kind(body, "msg_type", problems) {
        Some("interactive") => {
            need_str(body, "/card/header/title/content", problems);
            need(body, "/card/elements", Value::is_array, "an array", problems);
        }
        Some("text") => {
            need_str(body, "/content/text", problems);
        }
        Some("post") => need(body, "/content/post", Value::is_object, "an object", problems),
        Some(other) => problems.push(format!("msg_type {other:?} is not interactive, text or post")),
        None => {}
    }
}

/// The Standard Webhooks headers (without a secret too) and Baton's versioned event envelope.
fn webhook_shape(headers: &HeaderMap, body: &Value, problems: &mut Vec<String>) {
    let header_id = header_str(headers, "webhook-id");
    if header_id.is_none() {
        problems.push("no webhook-id header".into());
    }
    match header_str(headers, "webhook-timestamp") {
        None => problems.push("no webhook-timestamp header".into()),
        Some(ts) if ts.parse::<i64>().is_err() => {
            problems.push(format!("webhook-timestamp {ts:?} is not integer seconds"))
        }
        Some(_) => {}
    }
    if !body.is_object() {
        return;
    }
    let kind = need_str(body, "/type", problems);
    need(body, "/version", Value::is_number, "a number", problems);
    let id = need_str(body, "/id", problems);
    // A digest gets its own id, so only single events must repeat the header's.
    if let (Some(id), Some(header_id)) = (id, header_id) {
        if kind != Some("digest") && id != header_id {
            problems.push(format!("body id {id:?} differs from the webhook-id header {header_id:?}"));
        }
    }
    if let Some(at) = need_str(body, "/occurred_at", problems) {
        if DateTime::parse_from_rfc3339(at).is_err() {
            problems.push(format!("occurred_at {at:?} is not RFC 3339"));
        }
    }
    need(body, "/data", Value::is_object, "an object", problems);
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read, Write};

    use axum::http::HeaderName;
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    use serde_json::json;

    use super::*;

    /// Sends one HTTP/1.1 request on a fresh connection; returns the status and the body.
    ///
    /// Plain std sockets on a blocking thread: no HTTP client dependency, and nothing shared with the
    /// code under test.
    async fn send(
        addr: SocketAddr,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr)?;
            stream.write_all(request.as_bytes())?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer)?;
            let answer = String::from_utf8_lossy(&answer).into_owned();
            let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
            Ok((status, body))
        })
        .await
        .expect("client thread")
    }

    const JSON: (&str, &str) = ("content-type", "application/json; charset=utf-8");

    fn addr(receiver: &Receiver) -> SocketAddr {
        receiver.addr
    }

    fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    fn dingtalk_markdown() -> Value {
        json!({"msgtype":"markdown","markdown":{"title":"INC-1 t","text":"**INC-1** @13800000000"},
               "at":{"atMobiles":["13800000000"],"isAtAll":false}})
    }

    fn webhook_event(id: &str) -> Value {
        json!({"type":"channel.test","version":1,"id":id,"occurred_at":"2024-01-02T03:04:05Z","data":{}})
    }

    // Expected values computed independently with Python's hmac:
    // python3 -c 'import hmac,hashlib,base64,urllib.parse as u;s="SECtest0123456789abcdef";
    //   print(u.quote_plus(base64.b64encode(hmac.new(s.encode(),("1700000000000\n"+s).encode(),hashlib.sha256).digest())))'
    const DINGTALK_SIGN: &str = "%2FlfnxUUu80FwVTsIlv2F1cMGBb%2BPxEKAwYh%2FbsRxXcc%3D";
    const DINGTALK_SIGN_RAW: &str = "/lfnxUUu80FwVTsIlv2F1cMGBb+PxEKAwYh/bsRxXcc=";
    // python3 -c 'import hmac,hashlib,base64;
    //   print(base64.b64encode(hmac.new(b"1700000000\ndemo-secret",b"",hashlib.sha256).digest()).decode())'
    const FEISHU_SIGN: &str = "mYHw2R2SOm8Rw/sne3lQdmz4sOfntKR+1P/8RKKTwmA=";
    // The Standard Webhooks specification's published example (checked with Python's hmac too).
    const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const WEBHOOK_SIGN: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn dingtalk_check_matches_python_and_rejects_mistakes() {
        let secret = "SECtest0123456789abcdef";
        let now = 1_700_000_000_000;
        let good = format!("access_token=abc&timestamp=1700000000000&sign={DINGTALK_SIGN}");
        assert_eq!(dingtalk_signature(&good, secret, now), Ok(()));
        // Within the hour either way, but not beyond.
        assert!(dingtalk_signature(&good, secret, now + 3_599_000).is_ok());
        assert!(dingtalk_signature(&good, secret, now + 3_601_000).is_err());
        // Base64 pasted without URL-encoding: its '+' reads as a space, as on DingTalk.
        let unencoded = format!("timestamp=1700000000000&sign={DINGTALK_SIGN_RAW}");
        assert!(dingtalk_signature(&unencoded, secret, now).is_err());
        assert!(dingtalk_signature(&good, "SECother", now).is_err());
        assert!(dingtalk_signature(&good.replace("1700000000000", "1700000000001"), secret, now).is_err());
        assert!(dingtalk_signature("timestamp=1700000000000", secret, now).is_err());
        // Seconds instead of milliseconds are far outside the window.
        assert!(dingtalk_signature(&format!("timestamp=1700000000&sign={DINGTALK_SIGN}"), secret, now).is_err());
    }

    #[test]
    fn feishu_check_matches_python_and_rejects_mistakes() {
        let now = 1_700_000_000;
        let good = json!({"timestamp":"1700000000","sign":FEISHU_SIGN,"msg_type":"text"});
        assert_eq!(feishu_signature(&good, "demo-secret", now), Ok(()));
        assert!(feishu_signature(&good, "other-secret", now).is_err());
        assert!(feishu_signature(&good, "demo-secret", now + 3_601).is_err());
        let numeric = json!({"timestamp":1_700_000_000,"sign":FEISHU_SIGN});
        assert!(feishu_signature(&numeric, "demo-secret", now).is_err());
        assert!(feishu_signature(&json!({"timestamp":"1700000000"}), "demo-secret", now).is_err());
    }

    #[test]
    fn webhook_check_matches_the_published_example() {
        let body = br#"{"test": 2432232314}"#;
        let now = 1_614_265_330;
        let headers = |signature: &str| {
            header_map(&[
                ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
                ("webhook-timestamp", "1614265330"),
                ("webhook-signature", signature),
            ])
        };
        assert_eq!(webhook_signature(&headers(WEBHOOK_SIGN), body, WEBHOOK_SECRET, now), Ok(()));
        // One matching entry among several is enough (secret rotation).
        let rotated = format!("v1,AAAA {WEBHOOK_SIGN}");
        assert!(webhook_signature(&headers(&rotated), body, WEBHOOK_SECRET, now).is_ok());
        assert!(webhook_signature(&headers(WEBHOOK_SIGN), br#"{"test": 2432232315}"#, WEBHOOK_SECRET, now).is_err());
        assert!(webhook_signature(&headers(WEBHOOK_SIGN), body, WEBHOOK_SECRET, now + 301).is_err());
        assert!(webhook_signature(&headers(&WEBHOOK_SIGN.replace("v1,", "v2,")), body, WEBHOOK_SECRET, now).is_err());
        // The raw bytes of "whsec_..." are not the key.
        let raw_key =
            BASE64.encode(hmac_sha256(WEBHOOK_SECRET.as_bytes(), b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330."));
        assert!(webhook_signature(&headers(&format!("v1,{raw_key}")), b"", WEBHOOK_SECRET, now).is_err());
        // A secret not in whsec_ form is used as raw bytes.
        let plain = BASE64.encode(hmac_sha256(b"plain", b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330."));
        assert!(webhook_signature(&headers(&format!("v1,{plain}")), b"", "plain", now).is_ok());
    }

    #[test]
    fn shapes_report_what_the_platforms_would_refuse() {
        let mut problems = Vec::new();
        dingtalk_shape(&dingtalk_markdown(), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let mut silent = dingtalk_markdown();
        silent["markdown"]["text"] = json!("**INC-1** no mention");
        dingtalk_shape(&silent, &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("@13800000000"));

        let mut problems = Vec::new();
        wecom_shape(&json!({"msgtype":"markdown","markdown":{"content":"é".repeat(2048)}}), &mut problems);
        assert!(problems.is_empty(), "4096 bytes exactly is allowed: {problems:?}");
        wecom_shape(&json!({"msgtype":"markdown","markdown":{"content":"é".repeat(2048) + "x"}}), &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let mut problems = Vec::new();
        wecom_shape(&json!({"msgtype":"text","text":{"content":"hi","mentioned_list":["a",1]}}), &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");

        let mut problems = Vec::new();
        let card = json!({"msg_type":"interactive","card":{"header":{"title":{"content":"x"}},"elements":[]}});
        feishu_shape(&card, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        feishu_shape(&json!({"msg_type":"interactive","card":{"header":{}}}), &mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");

        let headers = header_map(&[("webhook-id", "msg_1"), ("webhook-timestamp", "1700000000")]);
        let mut problems = Vec::new();
        webhook_shape(&headers, &webhook_event("msg_1"), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        webhook_shape(&headers, &webhook_event("msg_2"), &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let mut digest = webhook_event("msg_2");
        digest["type"] = json!("digest");
        let mut problems = Vec::new();
        webhook_shape(&headers, &digest, &mut problems);
        assert!(problems.is_empty(), "a digest has its own id: {problems:?}");
    }

    #[tokio::test]
    async fn dingtalk_request_verifies_and_a_tampered_one_does_not() {
        let receiver = Receiver::start().await;
        let secret = "SECabc";
        receiver.endpoint("/dingtalk/ops", ChannelKind::Dingtalk, Some(secret));
        let ts = Utc::now().timestamp_millis();
        let sign = BASE64.encode(hmac_sha256(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes()));
        let sign = utf8_percent_encode(&sign, NON_ALPHANUMERIC).to_string();
        let body = dingtalk_markdown().to_string();

        let good = format!("/dingtalk/ops?access_token=t&timestamp={ts}&sign={sign}");
        let (status, answer) = send(addr(&receiver), "POST", &good, &[JSON], &body).await.unwrap();
        assert_eq!((status, answer.as_str()), (200, r#"{"errcode":0,"errmsg":"ok"}"#));

        let tampered = format!("/dingtalk/ops?access_token=t&timestamp={}&sign={sign}", ts + 1);
        let (status, answer) = send(addr(&receiver), "POST", &tampered, &[JSON], &body).await.unwrap();
        assert_eq!(status, 200);
        assert!(answer.contains("310000"), "{answer}");

        let got = receiver.received("/dingtalk/ops");
        assert_eq!(got.len(), 2);
        assert!(got[0].signature_ok && got[0].problems.is_empty(), "{:?}", got[0]);
        assert_eq!(got[0].query, good.split_once('?').unwrap().1);
        assert_eq!(got[0].body, dingtalk_markdown());
        assert!(!got[1].signature_ok && got[1].signature_error.is_some());
        assert_eq!(got[1].answered, 200);
    }

    #[tokio::test]
    async fn feishu_and_webhook_requests_verify_and_tampered_ones_do_not() {
        let receiver = Receiver::start().await;
        receiver.endpoint("/feishu", ChannelKind::Feishu, Some("fs"));
        receiver.endpoint("/hook", ChannelKind::Webhook, Some(WEBHOOK_SECRET));
        let now = Utc::now().timestamp();

        let sign = BASE64.encode(hmac_sha256(format!("{now}\nfs").as_bytes(), b""));
        let card = json!({"timestamp":now.to_string(),"sign":sign,"msg_type":"interactive",
                          "card":{"header":{"title":{"tag":"plain_text","content":"x"}},"elements":[]}});
        let (status, answer) = send(addr(&receiver), "POST", "/feishu", &[JSON], &card.to_string()).await.unwrap();
        assert_eq!((status, answer.as_str()), (200, r#"{"code":0,"msg":"success","data":{}}"#));
        let mut forged = card.clone();
        forged["timestamp"] = json!((now - 7200).to_string());
        let (_, answer) = send(addr(&receiver), "POST", "/feishu", &[JSON], &forged.to_string()).await.unwrap();
        assert!(answer.contains("19021"), "{answer}");
        let got = receiver.received("/feishu");
        assert!(got[0].signature_ok && got[0].problems.is_empty(), "{:?}", got[0]);
        assert!(!got[1].signature_ok);

        let body = webhook_event("msg_live").to_string();
        let key = BASE64.decode(WEBHOOK_SECRET.trim_start_matches("whsec_")).unwrap();
        let signature = format!("v1,{}", BASE64.encode(hmac_sha256(&key, format!("msg_live.{now}.{body}").as_bytes())));
        let ts = now.to_string();
        let headers = [("content-type", "application/json"), ("webhook-id", "msg_live"), ("webhook-timestamp", &ts)];
        let signed = [headers[0], headers[1], headers[2], ("webhook-signature", signature.as_str())];
        let (status, _) = send(addr(&receiver), "POST", "/hook", &signed, &body).await.unwrap();
        assert_eq!(status, 204);
        let altered = body.replace("channel.test", "channel.tset");
        let (status, _) = send(addr(&receiver), "POST", "/hook", &signed, &altered).await.unwrap();
        assert_eq!(status, 401);
        let (status, _) = send(addr(&receiver), "POST", "/hook", &headers, &body).await.unwrap();
        assert_eq!(status, 401, "a missing signature fails when a secret is registered");
        let got = receiver.received("/hook");
        assert!(got[0].signature_ok && got[0].problems.is_empty(), "{:?}", got[0]);
        assert_eq!(got[0].header("Webhook-Id"), Some("msg_live"));
        assert_eq!((got[1].signature_ok, got[1].answered, got[2].signature_ok), (false, 401, false));
    }

    #[tokio::test]
    async fn unknown_paths_wrong_methods_and_unsigned_endpoints() {
        let receiver = Receiver::start().await;
        receiver.endpoint("/wecom", ChannelKind::Wecom, None);
        let body = json!({"msgtype":"text","text":{"content":"hi","mentioned_mobile_list":["138"]}}).to_string();
        let (status, _) = send(addr(&receiver), "POST", "/wecom?key=k", &[JSON], &body).await.unwrap();
        assert_eq!(status, 200);
        let (status, _) = send(addr(&receiver), "POST", "/nowhere", &[JSON], &body).await.unwrap();
        assert_eq!(status, 404);
        let (status, _) = send(addr(&receiver), "GET", "/wecom", &[], "").await.unwrap();
        assert_eq!(status, 405);
        let (status, _) =
            send(addr(&receiver), "POST", "/wecom", &[("content-type", "text/plain")], "hi").await.unwrap();
        assert_eq!(status, 200, "WeCom itself answers ok; the problems say what is wrong");

        let got = receiver.received("/wecom");
        assert_eq!(got.len(), 3);
        assert!(got[0].signature_ok && got[0].problems.is_empty(), "{:?}", got[0]);
        assert_eq!(got[0].query, "key=k");
        assert_eq!(got[1].answered, 405);
        assert_eq!(got[2].body, Value::Null);
        assert!(got[2].problems.len() >= 2, "{:?}", got[2].problems);
        let stray = receiver.received("/nowhere");
        assert_eq!((stray.len(), stray[0].answered, stray[0].signature_ok), (1, 404, false));
    }

    #[tokio::test]
    async fn scripted_answers_come_in_order_and_the_server_stays_concurrent() {
        let receiver = Receiver::start().await;
        receiver.endpoint("/d", ChannelKind::Dingtalk, None);
        let busy = r#"{"errcode":130101,"errmsg":"send too fast"}"#;
        receiver.script("/d", vec![Scripted::Status(503, String::new()), Scripted::Status(200, busy.into())]);
        let body = dingtalk_markdown().to_string();
        let mut answers = Vec::new();
        for _ in 0..3 {
            answers.push(send(addr(&receiver), "POST", "/d", &[JSON], &body).await.unwrap());
        }
        assert_eq!(answers[0].0, 503);
        assert_eq!(answers[1], (200, busy.to_owned()));
        assert_eq!(answers[2], (200, r#"{"errcode":0,"errmsg":"ok"}"#.to_owned()));
        let answered: Vec<u16> = receiver.received("/d").iter().map(|r| r.answered).collect();
        assert_eq!(answered, [503, 200, 200]);

        // A delayed answer must not hold up other requests.
        let delay = Duration::from_millis(1000);
        receiver.script("/d", vec![Scripted::Delay(delay)]);
        let started = Instant::now();
        let server = addr(&receiver);
        let slow_body = body.clone();
        let slow = tokio::spawn(async move { send(server, "POST", "/d", &[JSON], &slow_body).await });
        receiver.wait_for("/d", 4, Duration::from_secs(5)).await;
        let (status, _) = send(addr(&receiver), "POST", "/d", &[JSON], &body).await.unwrap();
        assert_eq!(status, 200);
        assert!(started.elapsed() < delay, "the quick request waited for the slow one");
        let (status, _) = slow.await.unwrap().unwrap();
        assert_eq!(status, 200);
        assert!(started.elapsed() >= delay);
    }

    #[tokio::test]
    async fn going_down_refuses_connections_and_resume_keeps_the_port() {
        let receiver = Receiver::start().await;
        receiver.endpoint("/w", ChannelKind::Wecom, None);
        let body = json!({"msgtype":"markdown","markdown":{"content":"hi"}}).to_string();
        let url = receiver.base_url();
        assert_eq!(send(addr(&receiver), "POST", "/w", &[JSON], &body).await.unwrap().0, 200);

        receiver.go_down().await;
        receiver.go_down().await;
        let refused = send(addr(&receiver), "POST", "/w", &[JSON], &body).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

        receiver.resume().await;
        receiver.resume().await;
        assert_eq!(receiver.base_url(), url);
        assert_eq!(send(addr(&receiver), "POST", "/w", &[JSON], &body).await.unwrap().0, 200);
        assert_eq!(receiver.received("/w").len(), 2);
    }

    #[tokio::test]
    async fn answers_close_the_connection_so_none_outlives_an_outage() {
        let receiver = Receiver::start().await;
        receiver.endpoint("/w", ChannelKind::Wecom, None);
        let server = addr(&receiver);
        let answer = tokio::task::spawn_blocking(move || {
            // An HTTP/1.1 client keeps connections alive unless told otherwise; this one does not ask.
            let body = r#"{"msgtype":"text","text":{"content":"x"}}"#;
            let request = format!(
                "POST /w HTTP/1.1\r\nhost: {server}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let mut stream = std::net::TcpStream::connect(server).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = Vec::new();
            // Returns only if the server closes the connection (else the read times out with an error).
            stream.read_to_end(&mut answer).map(|_| String::from_utf8_lossy(&answer).into_owned())
        })
        .await
        .unwrap()
        .expect("the server closed the connection after answering");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    }

    #[tokio::test]
    async fn wait_for_returns_as_soon_as_enough_arrived_or_at_the_timeout() {
        let receiver = Receiver::start().await;
        receiver.endpoint("/w", ChannelKind::Wecom, None);
        let started = Instant::now();
        assert!(receiver.wait_for("/w", 1, Duration::from_millis(100)).await.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(100));

        let server = addr(&receiver);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            send(server, "POST", "/w", &[JSON], r#"{"msgtype":"text","text":{"content":"x"}}"#).await
        });
        let started = Instant::now();
        assert_eq!(receiver.wait_for("/w", 1, Duration::from_secs(5)).await.len(), 1);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
