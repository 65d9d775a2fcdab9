//! The chat sender: posts the outbox's chat messages to their channels.
//!
//! One sender at a time works a channel (a lease on the channel row, so several instances never
//! interleave one channel's messages), taking its waiting messages in order. A transient failure
//! (timeout, 5xx, 429, the platform's "too fast" code) holds the channel's later messages behind
//! the failed one, so a receiver that was down gets every message in order once it is back; a
//! permanent failure (bad signature, invalid token) fails that message for good, visible on the
//! outbox page. Each platform's per-minute limit is counted in the channel row (shared by every
//! instance); when more messages wait than the minute allows, the last allowed request carries
//! all the rest as one digest, so none is dropped.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use super::{
    destination,
    message::ChatMessage,
    sealed::SecretKey,
    sign::{self, Answer},
    store, wire, ChannelKind,
};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
        Outcome,
    },
    clock::Clock,
    db::Db,
    error::AppError,
    i18n::{fill, Locale},
    mail::{sender::Tuning, Wakeup},
    on_db, on_tx,
};

/// Longest remote answer kept (status and body).
const ANSWER_LIMIT: usize = 300;

/// The one HTTP client of chat deliveries: rustls, timeouts, never a redirect (a redirect could
/// lead away from the allowed host).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Baton/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Delivers the outbox's chat messages.
#[derive(Clone)]
pub struct ChatSender {
    db: Db,
    client: reqwest::Client,
    key: Option<SecretKey>,
    clock: Arc<dyn Clock>,
    tuning: Tuning,
    /// This sender's lease token on channel rows.
    token: String,
}

/// A waiting message, as loaded for sending.
#[derive(sqlx::FromRow)]
struct Pending {
    id: i64,
    payload: Option<String>,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
}

/// The rate window of a channel, as stored.
#[derive(sqlx::FromRow)]
struct Window {
    window_started_at: Option<DateTime<Utc>>,
    window_sent: i64,
    language: String,
}

impl ChatSender {
    /// A sender over `db`, opening credentials with `key`, telling time by `clock`.
    pub fn new(db: Db, key: Option<SecretKey>, clock: Arc<dyn Clock>, tuning: Tuning) -> Result<Self, String> {
        let client = http_client(Duration::from_secs(10))?;
        Ok(Self { db, client, key, clock, tuning, token: uuid::Uuid::new_v4().simple().to_string() })
    }

    /// Production timing: retries from 10 s doubling up to 10 min, for about a day.
    pub fn default_tuning() -> Tuning {
        Tuning {
            lease: Duration::from_secs(120),
            poll: Duration::from_secs(5),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
            max_attempts: 150,
            batch: 200,
        }
    }

    /// One pass over every channel with a message due; returns how many requests were made.
    pub async fn run_once(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let channels: Vec<i64> = on_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT DISTINCT channel_id FROM outbox WHERE transport = 'chat' AND channel_id IS NOT NULL \
             AND ((status = 'queued' AND next_attempt_at <= $1) OR (status = 'sending' AND lease_until <= $1)) \
             ORDER BY channel_id",
        )
        .bind(now)
        .fetch_all(pool)
        .await?);
        let mut sent = 0;
        for channel in channels {
            sent += self.work_channel(channel).await?;
        }
        Ok(sent)
    }

    /// Works one channel if no other sender does; returns how many requests were made.
    pub async fn work_channel(&self, channel: i64) -> Result<usize, AppError> {
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(self.tuning.lease).map_err(AppError::internal)?;
        let mut tx = self.db.begin_write().await?;
        let taken = on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE chat_channels SET lease_until = $1, lease_token = $2 WHERE id = $3 \
             AND (lease_until IS NULL OR lease_until <= $4)",
        )
        .bind(until)
        .bind(&self.token)
        .bind(channel)
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected());
        tx.commit().await?;
        if taken == 0 {
            return Ok(0);
        }
        let result = self.drain(channel).await;
        let mut tx = self.db.begin_write().await?;
        on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE chat_channels SET lease_until = NULL, lease_token = NULL WHERE id = $1 AND lease_token = $2",
        )
        .bind(channel)
        .bind(&self.token)
        .execute(conn)
        .await
        .map(|_| ()))?;
        tx.commit().await?;
        result
    }

    /// Sends the channel's waiting messages in order, within its rate limit.
    async fn drain(&self, channel: i64) -> Result<usize, AppError> {
        let now = self.clock.now();
        let pending: Vec<Pending> = on_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, payload, attempts, next_attempt_at FROM outbox WHERE channel_id = $1 AND transport = 'chat' \
             AND status IN ('queued', 'sending') ORDER BY id LIMIT 500",
        )
        .bind(channel)
        .fetch_all(pool)
        .await?);
        // The first waiting message holds the rest back until it is due (a retry's backoff).
        match pending.first() {
            None => return Ok(0),
            Some(first) if first.next_attempt_at > now => return Ok(0),
            Some(_) => {}
        }
        let Some(key) = &self.key else {
            self.fail_all(channel, &pending, "no secret key is configured (BATON_SECRET_KEY)").await?;
            return Ok(0);
        };
        let Some(creds) = store::credentials(&self.db, key, channel).await? else {
            self.fail_all(channel, &pending, "channel removed").await?;
            return Ok(0);
        };
        if !creds.enabled {
            self.fail_all(channel, &pending, "channel disabled").await?;
            return Ok(0);
        }
        let allowed = store::allowed_hosts(&self.db).await?;
        if let Err(refused) = destination::check(creds.url.expose_secret(), &allowed) {
            self.fail_all(channel, &pending, &format!("not sent: {refused}")).await?;
            return Ok(0);
        }
        let window: Window = on_db!(&self.db, pool => sqlx::query_as(
            "SELECT window_started_at, window_sent, language FROM chat_channels WHERE id = $1",
        )
        .bind(channel)
        .fetch_one(pool)
        .await?);
        let limit = i64::from(creds.kind.per_minute());
        let minute = chrono::Duration::seconds(60);
        let (mut started, mut used) = match window.window_started_at {
            Some(at) if at + minute > now => (at, window.window_sent),
            _ => (now, 0),
        };
        let mut requests = 0;
        let mut next = 0;
        while next < pending.len() {
            let budget = limit - used;
            if budget <= 0 {
                // The minute is used up: everything waits for the next one, where it may merge.
                self.defer(&pending[next..], started + minute).await?;
                break;
            }
            let waiting = pending.len() - next;
            // The last request of the minute carries everything still waiting.
            let take = if (waiting as i64) > budget && budget == 1 { waiting } else { 1 };
            let batch = &pending[next..next + take];
            let answer = self.deliver(channel, &creds, &window.language, batch).await?;
            requests += 1;
            if self.clock.now() >= started + minute {
                started = self.clock.now();
                used = 0;
            }
            used += 1;
            if !self.hold(channel, started, used).await? {
                // The lease ran out during a slow delivery and another sender has the channel now:
                // going on would interleave its messages with that sender's.
                tracing::warn!(channel, "channel lease lost mid-delivery; leaving the rest to its new holder");
                break;
            }
            match answer {
                Answer::Transient(_) => break,
                Answer::Delivered | Answer::Permanent(_) => next += take,
            }
        }
        Ok(requests)
    }

    /// Posts `batch` (one message, or several as a digest) and records the outcome.
    async fn deliver(
        &self,
        channel: i64,
        creds: &store::Credentials,
        language: &str,
        batch: &[Pending],
    ) -> Result<Answer, AppError> {
        let now = self.clock.now();
        let lease = now + chrono::Duration::from_std(self.tuning.lease).map_err(AppError::internal)?;
        let ids: Vec<i64> = batch.iter().map(|p| p.id).collect();
        let mut messages = Vec::with_capacity(batch.len());
        let mut unreadable = Vec::new();
        for p in batch {
            match p.payload.as_deref().and_then(|json| serde_json::from_str::<ChatMessage>(json).ok()) {
                Some(m) => messages.push(m),
                None => unreadable.push(p.id),
            }
        }
        if !unreadable.is_empty() {
            tracing::error!(channel, rows = ?unreadable, "chat messages not sent: their stored payload cannot be read");
            self.finish(&unreadable, Finish::Failed("stored message unreadable"), None).await?;
            if messages.is_empty() {
                return Ok(Answer::Permanent("stored message unreadable".into()));
            }
        }
        let readable: Vec<i64> = ids.iter().copied().filter(|id| !unreadable.contains(id)).collect();
        self.claim(&readable, lease).await?;
        let heading = fill(
            Locale::from_tag(language).unwrap_or_default().strings().chat_digest_heading,
            &[("n", &messages.len().to_string())],
        );
        let body = wire::render(creds.kind, &messages, &heading);
        // A digest is an event of its own, with its own id in the body; the header must match it.
        let webhook_id = match messages.as_slice() {
            [one] => one.id.clone(),
            _ => body["id"].as_str().map(str::to_owned).unwrap_or_else(super::message::new_message_id),
        };
        let outgoing = sign::build(
            creds.kind,
            creds.url.expose_secret(),
            creds.secret.as_ref().map(|s| s.expose_secret()),
            &body,
            &webhook_id,
            Utc::now(),
        );
        let (answer, remote) = self.post(creds.kind, outgoing).await;
        let attempt = batch.iter().map(|p| p.attempts).max().unwrap_or(0) + 1;
        let (finish, outcome, shown) = match &answer {
            Answer::Delivered => (Finish::Sent(now), "delivered", String::new()),
            Answer::Transient(error) if attempt < self.tuning.max_attempts => {
                let delay = chrono::Duration::from_std(self.tuning.backoff(attempt)).map_err(AppError::internal)?;
                (Finish::Retry(now + delay, error), "retrying", error.clone())
            }
            Answer::Transient(error) | Answer::Permanent(error) => (Finish::Failed(error), "failed", error.clone()),
        };
        let label = if outcome == "delivered" { "sent" } else { outcome };
        metrics::counter!("baton_outbox_deliveries_total", "transport" => "chat", "outcome" => label)
            .increment(readable.len() as u64);
        let digest_of = (readable.len() > 1).then(|| readable[0]);
        self.finish(&readable, finish, digest_of).await?;
        let mut tx = self.db.begin_write().await?;
        on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE chat_channels SET last_outcome = $1, last_answer = $2, last_attempt_at = $3 WHERE id = $4",
        )
        .bind(outcome)
        .bind(&remote)
        .bind(now)
        .bind(channel)
        .execute(conn)
        .await
        .map(|_| ()))?;
        let (ev, result) = match answer {
            Answer::Delivered => (event::CHAT_SENT, Outcome::Ok),
            _ => (event::CHAT_FAILED, Outcome::Failed),
        };
        let mut details = serde_json::json!({
            "channel": creds.name,
            "kind": creds.kind.as_str(),
            "messages": readable,
            "attempt": attempt,
            "outcome": outcome,
        });
        if !shown.is_empty() {
            details["answer"] = shown.into();
        }
        Record::new(&Origin::system("chat"), ev)
            .target("chat_channel", channel.to_string())
            .outcome(result)
            .details(details)
            .append(&mut tx, now)
            .await?;
        tx.commit().await?;
        match outcome {
            "delivered" => tracing::info!(channel, messages = readable.len(), "chat message delivered"),
            other => tracing::warn!(channel, messages = readable.len(), outcome = other, "chat message not delivered"),
        }
        Ok(answer)
    }

    /// Sends the request: how it ended, and the remote answer as admins see it (status and body,
    /// trimmed, on one line). Never reports the URL (it holds the robot's token).
    async fn post(&self, kind: ChannelKind, outgoing: sign::Outgoing) -> (Answer, String) {
        let mut request = self.client.post(&outgoing.url).body(outgoing.body);
        for (name, value) in &outgoing.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let failed = |err: reqwest::Error| {
            let error = describe(&err.without_url());
            (Answer::Transient(error.clone()), error)
        };
        match request.send().await {
            Err(err) => failed(err),
            Ok(response) => {
                let status = response.status().as_u16();
                let body = match response.bytes().await {
                    Ok(bytes) => String::from_utf8_lossy(&bytes[..bytes.len().min(16 * 1024)]).into_owned(),
                    Err(err) => return failed(err),
                };
                let answer = sign::classify(kind, status, &body);
                let remote = match &answer {
                    Answer::Delivered => {
                        let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
                        let shown = format!("HTTP {status}: {line}");
                        wire::truncate_bytes(shown.trim_end_matches([':', ' ']), ANSWER_LIMIT).to_owned()
                    }
                    Answer::Transient(e) | Answer::Permanent(e) => e.clone(),
                };
                (answer, remote)
            }
        }
    }

    async fn claim(&self, ids: &[i64], lease: DateTime<Utc>) -> Result<(), AppError> {
        if ids.is_empty() {
            return Ok(());
        }
        let list = id_list(ids);
        let mut tx = self.db.begin_write().await?;
        on_tx!(&mut tx, conn => sqlx::query(&format!(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $1 WHERE id IN ({list}) \
             AND status IN ('queued', 'sending')"
        ))
        .bind(lease)
        .execute(conn)
        .await
        .map(|_| ()))?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish(&self, ids: &[i64], finish: Finish<'_>, digest_of: Option<i64>) -> Result<(), AppError> {
        if ids.is_empty() {
            return Ok(());
        }
        let list = id_list(ids);
        let mut tx = self.db.begin_write().await?;
        let sql = match &finish {
            Finish::Sent(_) => format!(
                "UPDATE outbox SET status = 'sent', sent_at = $1, last_error = '', lease_until = NULL, digest_of = $2 \
                 WHERE id IN ({list}) AND status IN ('queued', 'sending')"
            ),
            Finish::Retry(..) => format!(
                "UPDATE outbox SET status = 'queued', next_attempt_at = $1, last_error = $2, lease_until = NULL \
                 WHERE id IN ({list}) AND status IN ('queued', 'sending')"
            ),
            Finish::Failed(_) => format!(
                "UPDATE outbox SET status = 'failed', last_error = $1, lease_until = NULL \
                 WHERE id IN ({list}) AND status IN ('queued', 'sending')"
            ),
        };
        on_tx!(&mut tx, conn => {
            let q = sqlx::query(&sql);
            let q = match &finish {
                Finish::Sent(at) => q.bind(*at).bind(digest_of),
                Finish::Retry(at, error) => q.bind(*at).bind(*error),
                Finish::Failed(error) => q.bind(*error),
            };
            q.execute(conn).await.map(|_| ())
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Fails every waiting message of a channel that cannot be sent to.
    async fn fail_all(&self, channel: i64, pending: &[Pending], why: &str) -> Result<(), AppError> {
        tracing::warn!(channel, messages = pending.len(), reason = why, "chat messages failed");
        let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
        self.finish(&ids, Finish::Failed(why), None).await
    }

    /// Moves the messages' next attempt to `at` (the next rate window).
    async fn defer(&self, pending: &[Pending], at: DateTime<Utc>) -> Result<(), AppError> {
        let list = id_list(&pending.iter().map(|p| p.id).collect::<Vec<_>>());
        let mut tx = self.db.begin_write().await?;
        on_tx!(&mut tx, conn => sqlx::query(&format!(
            "UPDATE outbox SET next_attempt_at = $1 WHERE id IN ({list}) AND status = 'queued' AND next_attempt_at < $1"
        ))
        .bind(at)
        .execute(conn)
        .await
        .map(|_| ()))?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the channel's rate window and renews the lease after a request; false when the
    /// lease is no longer this sender's.
    async fn hold(&self, channel: i64, started: DateTime<Utc>, used: i64) -> Result<bool, AppError> {
        let until = self.clock.now() + chrono::Duration::from_std(self.tuning.lease).map_err(AppError::internal)?;
        let mut tx = self.db.begin_write().await?;
        let held = on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE chat_channels SET window_started_at = $1, window_sent = $2, lease_until = $3 \
             WHERE id = $4 AND lease_token = $5",
        )
        .bind(started)
        .bind(used)
        .bind(until)
        .bind(channel)
        .bind(&self.token)
        .execute(conn)
        .await?
        .rows_affected());
        tx.commit().await?;
        Ok(held == 1)
    }

    /// Runs until `shutdown` completes: a pass whenever woken or every poll interval.
    pub async fn run(self, wakeup: Wakeup, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        loop {
            if let Err(err) = self.run_once().await {
                tracing::error!("chat sender pass failed: {err}");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = wakeup.wait_chat() => {}
                () = tokio::time::sleep(self.tuning.poll) => {}
            }
        }
        tracing::info!("chat sender stopped");
    }
}

enum Finish<'a> {
    Sent(DateTime<Utc>),
    Retry(DateTime<Utc>, &'a str),
    Failed(&'a str),
}

/// Row ids as a literal list (they are numbers the database gave: nothing to inject).
fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// A transport error in a few words, with its cause (the URL already removed).
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = format!("{kind}: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    wire::truncate_bytes(&text, ANSWER_LIMIT).to_owned()
}
