//! Typed configuration, read once at start-up.
//!
//! Sources, later ones winning: built-in defaults, an optional TOML file named by `BATON_CONFIG`,
//! then environment variables. Every setting is validated here so that a bad value stops start-up
//! with a message naming the setting, instead of failing later in some request.

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// File name of the embedded SQLite database inside the data directory.
pub const SQLITE_FILE_NAME: &str = "baton.sqlite3";

/// The effective configuration of one server process.
#[derive(Clone)]
pub struct Config {
    /// Address the HTTP server listens on (`BATON_LISTEN`).
    pub listen: SocketAddr,
    /// Directory for the embedded database and other local state (`BATON_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Database connection URL (`DATABASE_URL`); defaults to a SQLite file in the data directory.
    pub database_url: DatabaseUrl,
    /// Public base URL users reach the app at, without a trailing slash (`BATON_BASE_URL`).
    /// Used for links in emails and for the same-origin check on state-changing requests.
    pub base_url: String,
    /// Log filter in `tracing` syntax, e.g. `info` or `info,sqlx=warn` (`BATON_LOG`).
    pub log: String,
    /// Log output format (`BATON_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Directory holding the built site: WASM, JS and CSS (`BATON_SITE_ROOT`).
    pub site_root: PathBuf,
    /// Largest accepted request body in bytes (`BATON_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Largest attachment in bytes (`BATON_ATTACHMENT_MAX_BYTES`, default 20 MiB).
    pub attachment_max_bytes: usize,
    /// A session ends after this long without a request (`BATON_SESSION_IDLE`, e.g. `60m`).
    pub session_idle: Duration,
    /// A session ends this long after sign-in, however active (`BATON_SESSION_ABSOLUTE`, e.g. `12h`).
    pub session_absolute: Duration,
    /// Proxies whose `X-Forwarded-For` is believed (`BATON_TRUSTED_PROXIES`, comma-separated IPs).
    pub trusted_proxies: Vec<IpAddr>,
    /// How many password hashes may run at once (`BATON_LOGIN_CONCURRENCY`); default: the cores.
    pub login_concurrency: usize,
    /// Outgoing mail server (`BATON_SMTP_*`); `None` keeps every email in the outbox, unsent.
    pub smtp: Option<SmtpConfig>,
    /// Reports each intake source may deliver per minute, also its burst
    /// (`BATON_INTAKE_RATE_PER_MINUTE`, default 60; see [`crate::intake::rate`]).
    pub intake_rate_per_minute: u32,
    /// The zone times are shown in for users who chose none, and in emails (`BATON_TIME_ZONE`,
    /// an IANA name; default Asia/Shanghai).
    pub time_zone: String,
    /// A file outside the data directory the audit head is appended to (`BATON_AUDIT_ANCHOR_FILE`;
    /// see [`crate::audit::anchor`]); `None`: no anchoring.
    pub audit_anchor_file: Option<PathBuf>,
    /// How often the head is anchored while it moves (`BATON_AUDIT_ANCHOR_EVERY`, default 15m).
    pub audit_anchor_every: Duration,
    /// Repeated refusals of anonymous requests of one kind from one address are recorded as one
    /// entry per window of this length (`BATON_AUDIT_COALESCE_WINDOW`, default 60s).
    pub audit_coalesce_window: Duration,
    /// Requests without a session (and intake deliveries) each client address may send per
    /// second, with a burst of ten seconds' worth (`BATON_ANONYMOUS_RATE_PER_SECOND`, default 10).
    pub anonymous_rate_per_second: u32,
    /// The key chat channels' credentials are sealed with (`BATON_SECRET_KEY`, base64 of 32
    /// bytes, or `BATON_SECRET_KEY_FILE`, a file holding it); `None`: channels cannot be added,
    /// and start-up is refused while channels exist.
    pub secret_key: Option<crate::chat::sealed::SecretKey>,
    /// Ended session records and stale sign-in throttle rows are deleted this long after they
    /// ended (`BATON_PURGE_AFTER`, default 30d; see [`crate::housekeeping`]).
    pub purge_after: Duration,
    /// The bearer token `GET /metrics` requires (`BATON_METRICS_TOKEN`, at least 16 characters);
    /// `None`: the metrics endpoint answers 404.
    pub metrics_token: Option<SecretString>,
    /// How often a backup of the SQLite database is written into `<data dir>/backups`
    /// (`BATON_BACKUP_EVERY`); `None`: no scheduled backups.
    pub backup_every: Option<Duration>,
    /// How many scheduled backups are kept, the oldest deleted first (`BATON_BACKUP_KEEP`,
    /// default 7).
    pub backup_keep: usize,
    /// After SIGTERM, how long the server keeps answering (with `/healthz` at 503) before it
    /// stops accepting connections, so a load balancer's health check sees it leave
    /// (`BATON_DRAIN_DELAY`, default 0s).
    pub drain_delay: Duration,
    /// Longest wait for requests in flight once the server stops accepting; past it they are cut
    /// and the process exits (`BATON_SHUTDOWN_TIMEOUT`, default 30s).
    pub shutdown_timeout: Duration,
}

/// How the outgoing mail server is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text, for a relay on the same host or network.
    None,
    /// Plain connection upgraded with STARTTLS (required, never skipped).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// Settings of the outgoing mail server. `Debug` masks the password.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Host name (`BATON_SMTP_HOST`); setting it turns sending on.
    pub host: String,
    /// Port (`BATON_SMTP_PORT`); default 25, 587 or 465 by TLS mode.
    pub port: u16,
    /// TLS mode (`BATON_SMTP_TLS`: none, starttls or tls; default starttls).
    pub tls: SmtpTls,
    /// User name for authentication (`BATON_SMTP_USERNAME`); empty means no authentication.
    pub username: String,
    /// Password (`BATON_SMTP_PASSWORD`). Never logged.
    pub password: SecretString,
    /// The `From` address (`BATON_SMTP_FROM`), e.g. `Baton <baton@example.com>`.
    pub from: String,
    /// Time limit of one SMTP command (`BATON_SMTP_TIMEOUT`, default 30s).
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &if self.password.expose_secret().is_empty() { "" } else { "****" })
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// A database URL whose password never reaches logs or `Debug` output.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

/// The database product a URL points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one SQLite file.
    Sqlite,
    /// PostgreSQL, for deployments with several server instances.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

impl DatabaseUrl {
    /// Wraps a URL after checking that it names a supported back end.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self(url.into()))
        } else {
            Err("must start with sqlite: or postgres://".into())
        }
    }

    /// The URL of the default SQLite database inside `data_dir`.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self(format!("sqlite://{}", data_dir.join(SQLITE_FILE_NAME).display()).into())
    }

    /// The back end this URL selects.
    pub fn backend(&self) -> Backend {
        if self.expose().starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// The full URL, password included. Only for opening connections.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with any password replaced by `****`.
    pub fn masked(&self) -> String {
        let url = self.expose();
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_owned();
        };
        // userinfo ends at the last '@' before the first '/'.
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let user = userinfo.split(':').next().unwrap_or_default();
                let shown = if userinfo.contains(':') { format!("{user}:****") } else { user.to_owned() };
                format!("{scheme}://{shown}{}", &rest[at..])
            }
            None => url.to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.masked())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url)
            .field("base_url", &self.base_url)
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("site_root", &self.site_root)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("attachment_max_bytes", &self.attachment_max_bytes)
            .field("session_idle", &self.session_idle)
            .field("session_absolute", &self.session_absolute)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("login_concurrency", &self.login_concurrency)
            .field("smtp", &self.smtp)
            .field("intake_rate_per_minute", &self.intake_rate_per_minute)
            .field("time_zone", &self.time_zone)
            .field("audit_anchor_file", &self.audit_anchor_file)
            .field("audit_anchor_every", &self.audit_anchor_every)
            .field("audit_coalesce_window", &self.audit_coalesce_window)
            .field("anonymous_rate_per_second", &self.anonymous_rate_per_second)
            .field("secret_key", &self.secret_key)
            .field("purge_after", &self.purge_after)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "****"))
            .field("backup_every", &self.backup_every)
            .field("backup_keep", &self.backup_keep)
            .field("drain_delay", &self.drain_delay)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

/// Why the configuration was refused. The message always names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a value that cannot be used.
    #[error("invalid setting {setting} = {value:?}: {reason}")]
    Invalid {
        /// Environment variable name of the setting.
        setting: &'static str,
        /// The value as given (never a secret).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration file could not be read or parsed.
    #[error("cannot read configuration file {path} (BATON_CONFIG): {reason}")]
    File {
        /// Path of the file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Settings as they may appear in the optional TOML file; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    base_url: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    site_root: Option<String>,
    max_body_bytes: Option<String>,
    attachment_max_bytes: Option<String>,
    session_idle: Option<String>,
    session_absolute: Option<String>,
    trusted_proxies: Option<String>,
    login_concurrency: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<String>,
    smtp_tls: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    smtp_from: Option<String>,
    smtp_timeout: Option<String>,
    intake_rate_per_minute: Option<String>,
    time_zone: Option<String>,
    audit_anchor_file: Option<String>,
    audit_anchor_every: Option<String>,
    audit_coalesce_window: Option<String>,
    anonymous_rate_per_second: Option<String>,
    secret_key: Option<String>,
    secret_key_file: Option<String>,
    purge_after: Option<String>,
    metrics_token: Option<String>,
    backup_every: Option<String>,
    backup_keep: Option<String>,
    drain_delay: Option<String>,
    shutdown_timeout: Option<String>,
}

impl FileSettings {
    fn into_map(self) -> HashMap<&'static str, String> {
        [
            ("BATON_LISTEN", self.listen),
            ("BATON_DATA_DIR", self.data_dir),
            ("DATABASE_URL", self.database_url),
            ("BATON_BASE_URL", self.base_url),
            ("BATON_LOG", self.log),
            ("BATON_LOG_FORMAT", self.log_format),
            ("BATON_SITE_ROOT", self.site_root),
            ("BATON_MAX_BODY_BYTES", self.max_body_bytes),
            ("BATON_ATTACHMENT_MAX_BYTES", self.attachment_max_bytes),
            ("BATON_SESSION_IDLE", self.session_idle),
            ("BATON_SESSION_ABSOLUTE", self.session_absolute),
            ("BATON_TRUSTED_PROXIES", self.trusted_proxies),
            ("BATON_LOGIN_CONCURRENCY", self.login_concurrency),
            ("BATON_SMTP_HOST", self.smtp_host),
            ("BATON_SMTP_PORT", self.smtp_port),
            ("BATON_SMTP_TLS", self.smtp_tls),
            ("BATON_SMTP_USERNAME", self.smtp_username),
            ("BATON_SMTP_PASSWORD", self.smtp_password),
            ("BATON_SMTP_FROM", self.smtp_from),
            ("BATON_SMTP_TIMEOUT", self.smtp_timeout),
            ("BATON_INTAKE_RATE_PER_MINUTE", self.intake_rate_per_minute),
            ("BATON_TIME_ZONE", self.time_zone),
            ("BATON_AUDIT_ANCHOR_FILE", self.audit_anchor_file),
            ("BATON_AUDIT_ANCHOR_EVERY", self.audit_anchor_every),
            ("BATON_AUDIT_COALESCE_WINDOW", self.audit_coalesce_window),
            ("BATON_ANONYMOUS_RATE_PER_SECOND", self.anonymous_rate_per_second),
            ("BATON_SECRET_KEY", self.secret_key),
            ("BATON_SECRET_KEY_FILE", self.secret_key_file),
            ("BATON_PURGE_AFTER", self.purge_after),
            ("BATON_METRICS_TOKEN", self.metrics_token),
            ("BATON_BACKUP_EVERY", self.backup_every),
            ("BATON_BACKUP_KEEP", self.backup_keep),
            ("BATON_DRAIN_DELAY", self.drain_delay),
            ("BATON_SHUTDOWN_TIMEOUT", self.shutdown_timeout),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

impl Config {
    /// Reads the configuration from the process environment (and the file it may name).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the configuration through `env`, which returns the value of an environment
    /// variable. Tests pass a map here instead of touching the process environment.
    pub fn from_lookup(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let file = match env("BATON_CONFIG").filter(|p| !p.is_empty()) {
            Some(path) => read_file(Path::new(&path))?,
            None => HashMap::new(),
        };
        // Environment wins over the file; empty variables count as unset.
        let get = |key: &'static str| env(key).filter(|v| !v.is_empty()).or_else(|| file.get(key).cloned());

        let listen_raw = get("BATON_LISTEN")
            // cargo-leptos' `watch` and `serve` announce the address through this variable.
            .or_else(|| env("LEPTOS_SITE_ADDR").filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let listen: SocketAddr = listen_raw
            .parse()
            .map_err(|_| invalid("BATON_LISTEN", &listen_raw, "expected an address like 127.0.0.1:3000"))?;

        let data_dir = PathBuf::from(get("BATON_DATA_DIR").unwrap_or_else(|| "data".into()));

        let database_url = match get("DATABASE_URL") {
            Some(url) => DatabaseUrl::parse(&url).map_err(|reason| ConfigError::Invalid {
                setting: "DATABASE_URL",
                // The raw value may hold a password: show only the masked form.
                value: DatabaseUrl(url.as_str().into()).masked(),
                reason,
            })?,
            None => DatabaseUrl::sqlite_in(&data_dir),
        };

        let base_url_raw = get("BATON_BASE_URL").unwrap_or_else(|| format!("http://{listen}"));
        let base_url =
            parse_base_url(&base_url_raw).map_err(|reason| invalid("BATON_BASE_URL", &base_url_raw, &reason))?;

        let log = get("BATON_LOG").unwrap_or_else(|| "info".into());
        let log_format = match get("BATON_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("BATON_LOG_FORMAT", other, "expected text or json")),
        };

        let site_root = PathBuf::from(
            get("BATON_SITE_ROOT")
                .or_else(|| env("LEPTOS_SITE_ROOT").filter(|v| !v.is_empty()))
                .unwrap_or_else(|| "target/site".into()),
        );

        let max_body_raw = get("BATON_MAX_BODY_BYTES").unwrap_or_else(|| "1048576".into());
        let max_body_bytes = max_body_raw.parse::<usize>().ok().filter(|n| *n >= 1024).ok_or_else(|| {
            invalid("BATON_MAX_BODY_BYTES", &max_body_raw, "expected a whole number of bytes, at least 1024")
        })?;
        let attachment_raw = get("BATON_ATTACHMENT_MAX_BYTES").unwrap_or_else(|| (20 * 1024 * 1024).to_string());
        let attachment_max_bytes = attachment_raw.parse::<usize>().ok().filter(|n| *n >= 1024).ok_or_else(|| {
            invalid("BATON_ATTACHMENT_MAX_BYTES", &attachment_raw, "expected a whole number of bytes, at least 1024")
        })?;

        let duration = |setting: &'static str, default: &str| {
            let raw = get(setting).unwrap_or_else(|| default.to_owned());
            parse_duration(&raw).ok_or_else(|| invalid(setting, &raw, "expected a duration like 90s, 30m or 12h"))
        };
        let session_idle = duration("BATON_SESSION_IDLE", "60m")?;
        let session_absolute = duration("BATON_SESSION_ABSOLUTE", "12h")?;
        if session_absolute < session_idle {
            return Err(invalid(
                "BATON_SESSION_ABSOLUTE",
                &format!("{session_absolute:?}"),
                "must not be shorter than BATON_SESSION_IDLE",
            ));
        }

        let proxies_raw = get("BATON_TRUSTED_PROXIES").unwrap_or_default();
        let trusted_proxies = proxies_raw
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<IpAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid("BATON_TRUSTED_PROXIES", &proxies_raw, "expected comma-separated IP addresses"))?;

        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let concurrency_raw = get("BATON_LOGIN_CONCURRENCY").unwrap_or_else(|| cores.to_string());
        let login_concurrency =
            concurrency_raw.parse::<usize>().ok().filter(|n| (1..=256).contains(n)).ok_or_else(|| {
                invalid("BATON_LOGIN_CONCURRENCY", &concurrency_raw, "expected a whole number from 1 to 256")
            })?;

        let smtp = match get("BATON_SMTP_HOST") {
            None => None,
            Some(host) => {
                let tls = match get("BATON_SMTP_TLS").as_deref() {
                    None | Some("starttls") => SmtpTls::StartTls,
                    Some("tls") => SmtpTls::Tls,
                    Some("none") => SmtpTls::None,
                    Some(other) => return Err(invalid("BATON_SMTP_TLS", other, "expected none, starttls or tls")),
                };
                let default_port = match tls {
                    SmtpTls::None => 25,
                    SmtpTls::StartTls => 587,
                    SmtpTls::Tls => 465,
                };
                let port = match get("BATON_SMTP_PORT") {
                    None => default_port,
                    Some(raw) => raw
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| invalid("BATON_SMTP_PORT", &raw, "expected a port number"))?,
                };
                let from = get("BATON_SMTP_FROM").unwrap_or_default();
                if from.parse::<lettre::message::Mailbox>().is_err() {
                    return Err(invalid(
                        "BATON_SMTP_FROM",
                        &from,
                        "expected an address like baton@example.com or Baton <baton@example.com>",
                    ));
                }
                let username = get("BATON_SMTP_USERNAME").unwrap_or_default();
                let password = get("BATON_SMTP_PASSWORD").unwrap_or_default();
                if !password.is_empty() && username.is_empty() {
                    return Err(invalid("BATON_SMTP_USERNAME", "", "a password needs a user name"));
                }
                Some(SmtpConfig {
                    host: host.trim().to_owned(),
                    port,
                    tls,
                    username,
                    password: password.into(),
                    from,
                    timeout: duration("BATON_SMTP_TIMEOUT", "30s")?,
                })
            }
        };
        let intake_rate_raw = get("BATON_INTAKE_RATE_PER_MINUTE").unwrap_or_else(|| "60".into());
        let intake_rate_per_minute =
            intake_rate_raw.parse::<u32>().ok().filter(|n| (1..=1_000_000).contains(n)).ok_or_else(|| {
                invalid("BATON_INTAKE_RATE_PER_MINUTE", &intake_rate_raw, "expected a whole number from 1 to 1000000")
            })?;

        let time_zone = get("BATON_TIME_ZONE").unwrap_or_else(|| crate::clock::DEFAULT_ZONE.into()).trim().to_owned();
        if !crate::clock::zone::is_known(&time_zone) {
            return Err(invalid("BATON_TIME_ZONE", &time_zone, "expected an IANA time zone like Asia/Shanghai or UTC"));
        }

        let audit_anchor_every = duration("BATON_AUDIT_ANCHOR_EVERY", "15m")?;
        let audit_coalesce_window = duration("BATON_AUDIT_COALESCE_WINDOW", "60s")?;
        let rate_raw = get("BATON_ANONYMOUS_RATE_PER_SECOND").unwrap_or_else(|| "10".into());
        let anonymous_rate_per_second =
            rate_raw.parse::<u32>().ok().filter(|n| (1..=100_000).contains(n)).ok_or_else(|| {
                invalid("BATON_ANONYMOUS_RATE_PER_SECOND", &rate_raw, "expected a whole number from 1 to 100000")
            })?;
        let audit_anchor_file = match get("BATON_AUDIT_ANCHOR_FILE").map(|f| f.trim().to_owned()) {
            None => None,
            Some(file) if file.is_empty() => None,
            Some(file) => {
                let path = PathBuf::from(&file);
                // An anchor beside the database is lost with it, or rewritten with it.
                let inside = match (std::path::absolute(&path), std::path::absolute(&data_dir)) {
                    (Ok(anchor), Ok(data)) => anchor.starts_with(data),
                    _ => false,
                };
                if inside {
                    return Err(invalid(
                        "BATON_AUDIT_ANCHOR_FILE",
                        &file,
                        "must be outside BATON_DATA_DIR: an anchor kept with the database proves nothing about it",
                    ));
                }
                Some(path)
            }
        };

        let secret_key = match (get("BATON_SECRET_KEY"), get("BATON_SECRET_KEY_FILE")) {
            (Some(key), _) => Some(
                crate::chat::sealed::SecretKey::from_base64(&key)
                    // Never echo the value: it is the key.
                    .map_err(|reason| invalid("BATON_SECRET_KEY", "****", &reason))?,
            ),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file.trim())
                    .map_err(|e| invalid("BATON_SECRET_KEY_FILE", &file, &format!("cannot read it: {e}")))?;
                Some(
                    crate::chat::sealed::SecretKey::from_base64(&text)
                        .map_err(|reason| invalid("BATON_SECRET_KEY_FILE", &file, &reason))?,
                )
            }
            (None, None) => None,
        };

        let purge_after = duration("BATON_PURGE_AFTER", "30d")?;
        let metrics_token = match get("BATON_METRICS_TOKEN").map(|t| t.trim().to_owned()) {
            None => None,
            Some(token) if token.is_empty() => None,
            // Never echo the value: it is the credential.
            Some(token) if token.chars().count() < 16 => {
                return Err(invalid("BATON_METRICS_TOKEN", "****", "must be at least 16 characters long"))
            }
            Some(token) => Some(SecretString::from(token)),
        };
        let backup_every = match get("BATON_BACKUP_EVERY").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(_) => Some(duration("BATON_BACKUP_EVERY", "")?),
        };
        let keep_raw = get("BATON_BACKUP_KEEP").unwrap_or_else(|| "7".into());
        let backup_keep = keep_raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| invalid("BATON_BACKUP_KEEP", &keep_raw, "expected a whole number from 1 to 1000"))?;

        let drain_delay = match get("BATON_DRAIN_DELAY").map(|v| v.trim().to_owned()) {
            None => Duration::ZERO,
            Some(raw) if raw == "0" || raw == "0s" || raw.is_empty() => Duration::ZERO,
            Some(_) => duration("BATON_DRAIN_DELAY", "")?,
        };
        let shutdown_timeout = duration("BATON_SHUTDOWN_TIMEOUT", "30s")?;

        Ok(Self {
            secret_key,
            drain_delay,
            shutdown_timeout,
            purge_after,
            metrics_token,
            backup_every,
            backup_keep,
            listen,
            data_dir,
            database_url,
            base_url,
            log,
            log_format,
            site_root,
            max_body_bytes,
            attachment_max_bytes,
            session_idle,
            session_absolute,
            trusted_proxies,
            login_concurrency,
            smtp,
            intake_rate_per_minute,
            time_zone,
            audit_anchor_file,
            audit_anchor_every,
            audit_coalesce_window,
            anonymous_rate_per_second,
        })
    }

    /// Creates the data directory if needed and proves it is writable, so that a bad directory
    /// stops start-up with a clear message rather than failing on the first write.
    pub fn prepare_data_dir(&self) -> Result<(), ConfigError> {
        let fail = |reason: String| invalid("BATON_DATA_DIR", &self.data_dir.display().to_string(), &reason);
        std::fs::create_dir_all(&self.data_dir).map_err(|e| fail(format!("cannot create it: {e}")))?;
        let probe = self.data_dir.join(format!(".write-check-{}", std::process::id()));
        std::fs::write(&probe, b"ok").map_err(|e| fail(format!("not writable: {e}")))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }

    /// True when users reach the app over HTTPS, so cookies must be `Secure`.
    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

fn invalid(setting: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { setting, value: value.to_owned(), reason: reason.to_owned() }
}

fn read_file(path: &Path) -> Result<HashMap<&'static str, String>, ConfigError> {
    let fail = |reason: String| ConfigError::File { path: path.to_owned(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let settings: FileSettings = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
    Ok(settings.into_map())
}

/// Parses `90s`, `30m`, `12h` or `7d` (a bare number means seconds).
fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&raw[..i], raw[i..].trim()),
        None => (raw, "s"),
    };
    let n: u64 = number.parse().ok().filter(|n| *n > 0)?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Accepts `http(s)://host[:port][/path]` and returns it without a trailing slash.
fn parse_base_url(raw: &str) -> Result<String, String> {
    let uri: http::Uri = raw.parse().map_err(|_| "not a URL".to_owned())?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must start with http:// or https://".into()),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err("must name a host".into());
    }
    if uri.query().is_some() {
        return Err("must not have a query".into());
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn refused_setting(pairs: &[(&str, &str)]) -> &'static str {
        match config_from(pairs) {
            Err(ConfigError::Invalid { setting, .. }) => setting,
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn defaults_give_sqlite_in_the_data_dir_on_localhost_3000() {
        let c = config_from(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url.backend(), Backend::Sqlite);
        assert_eq!(c.database_url.expose(), format!("sqlite://{}", Path::new("data").join(SQLITE_FILE_NAME).display()));
        assert_eq!(c.base_url, "http://127.0.0.1:3000");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.time_zone, "Asia/Shanghai");
        assert!(!c.is_https());
    }

    #[test]
    fn environment_values_are_used() {
        let c = config_from(&[
            ("BATON_LISTEN", "0.0.0.0:8080"),
            ("DATABASE_URL", "postgres://baton:s3cret@db:5432/baton"),
            ("BATON_BASE_URL", "https://baton.example.com/"),
            ("BATON_LOG_FORMAT", "json"),
            ("BATON_TIME_ZONE", "Europe/Berlin"),
        ])
        .unwrap();
        assert_eq!(c.time_zone, "Europe/Berlin");
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(c.database_url.backend(), Backend::Postgres);
        assert_eq!(c.base_url, "https://baton.example.com");
        assert!(c.is_https());
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn each_bad_value_is_refused_naming_its_setting() {
        assert_eq!(refused_setting(&[("BATON_LISTEN", "localhost")]), "BATON_LISTEN");
        assert_eq!(refused_setting(&[("DATABASE_URL", "mysql://x")]), "DATABASE_URL");
        assert_eq!(refused_setting(&[("BATON_BASE_URL", "ftp://x")]), "BATON_BASE_URL");
        assert_eq!(refused_setting(&[("BATON_BASE_URL", "not a url")]), "BATON_BASE_URL");
        assert_eq!(refused_setting(&[("BATON_LOG_FORMAT", "xml")]), "BATON_LOG_FORMAT");
        assert_eq!(refused_setting(&[("BATON_MAX_BODY_BYTES", "lots")]), "BATON_MAX_BODY_BYTES");
        assert_eq!(refused_setting(&[("BATON_INTAKE_RATE_PER_MINUTE", "0")]), "BATON_INTAKE_RATE_PER_MINUTE");
        assert_eq!(refused_setting(&[("BATON_TIME_ZONE", "Shanghai")]), "BATON_TIME_ZONE");
    }

    #[test]
    fn durations_and_proxies_are_parsed() {
        let c = config_from(&[
            ("BATON_SESSION_IDLE", "90s"),
            ("BATON_SESSION_ABSOLUTE", "2h"),
            ("BATON_TRUSTED_PROXIES", "10.0.0.1, ::1"),
        ])
        .unwrap();
        assert_eq!(c.session_idle, Duration::from_secs(90));
        assert_eq!(c.session_absolute, Duration::from_secs(7200));
        assert_eq!(c.trusted_proxies.len(), 2);
        let d = config_from(&[]).unwrap();
        assert_eq!(d.session_idle, Duration::from_secs(3600));
        assert!(d.trusted_proxies.is_empty());
    }

    #[test]
    fn a_refused_database_url_does_not_echo_its_password() {
        let err = config_from(&[("DATABASE_URL", "mysql://u:hunter2@h/db")]).unwrap_err().to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn debug_output_masks_the_database_password() {
        let c = config_from(&[("DATABASE_URL", "postgres://baton:s3cret@db:5432/baton")]).unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("postgres://baton:****@db:5432/baton"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn smtp_is_off_by_default_and_read_with_its_defaults() {
        assert!(config_from(&[]).unwrap().smtp.is_none());
        let c =
            config_from(&[("BATON_SMTP_HOST", "mail.example.com"), ("BATON_SMTP_FROM", "Baton <baton@example.com>")])
                .unwrap();
        let smtp = c.smtp.unwrap();
        assert_eq!((smtp.port, smtp.tls, smtp.timeout), (587, SmtpTls::StartTls, Duration::from_secs(30)));
        let c = config_from(&[
            ("BATON_SMTP_HOST", "127.0.0.1"),
            ("BATON_SMTP_TLS", "none"),
            ("BATON_SMTP_PORT", "2525"),
            ("BATON_SMTP_FROM", "baton@example.com"),
            ("BATON_SMTP_TIMEOUT", "5s"),
        ])
        .unwrap();
        let smtp = c.smtp.unwrap();
        assert_eq!((smtp.port, smtp.tls, smtp.timeout), (2525, SmtpTls::None, Duration::from_secs(5)));
    }

    #[test]
    fn bad_smtp_settings_are_refused_and_the_password_never_shown() {
        let host = ("BATON_SMTP_HOST", "mail.example.com");
        let from = ("BATON_SMTP_FROM", "baton@example.com");
        assert_eq!(refused_setting(&[host, ("BATON_SMTP_FROM", "not an address")]), "BATON_SMTP_FROM");
        assert_eq!(refused_setting(&[host, from, ("BATON_SMTP_TLS", "ssl3")]), "BATON_SMTP_TLS");
        assert_eq!(refused_setting(&[host, from, ("BATON_SMTP_PORT", "99999")]), "BATON_SMTP_PORT");
        assert_eq!(refused_setting(&[host, from, ("BATON_SMTP_PASSWORD", "x")]), "BATON_SMTP_USERNAME");
        let c =
            config_from(&[host, from, ("BATON_SMTP_USERNAME", "baton"), ("BATON_SMTP_PASSWORD", "hunter2")]).unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("mail.example.com") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn smtp_settings_may_come_from_the_file() {
        let dir = std::env::temp_dir().join(format!("baton-smtp-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("baton.toml");
        std::fs::write(
            &file,
            "smtp_host = \"mail.example.com\"\nsmtp_tls = \"tls\"\nsmtp_from = \"baton@example.com\"\n\
             smtp_username = \"baton\"\nsmtp_password = \"from-file\"\nsmtp_timeout = \"10s\"\n",
        )
        .unwrap();
        let c = config_from(&[("BATON_CONFIG", &file.display().to_string())]).unwrap();
        let smtp = c.smtp.clone().unwrap();
        assert_eq!((smtp.port, smtp.tls, smtp.password.expose_secret()), (465, SmtpTls::Tls, "from-file"));
        assert_eq!(smtp.timeout, Duration::from_secs(10));
        assert!(!format!("{c:?}").contains("from-file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_settings_apply_and_environment_overrides_them() {
        let dir = std::env::temp_dir().join(format!("baton-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("baton.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:4000\"\nlog = \"debug\"\n").unwrap();
        let path = file.display().to_string();
        let c = config_from(&[("BATON_CONFIG", &path), ("BATON_LOG", "warn")]).unwrap();
        assert_eq!(c.listen.port(), 4000);
        assert_eq!(c.log, "warn");
        std::fs::write(&file, "lsten = \"typo\"\n").unwrap();
        assert!(matches!(config_from(&[("BATON_CONFIG", &path)]), Err(ConfigError::File { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_data_dir_is_refused() {
        // A path below a regular file can never be created as a directory.
        let file = std::env::temp_dir().join(format!("baton-not-a-dir-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        let dir = file.join("data");
        let c = config_from(&[("BATON_DATA_DIR", dir.to_str().unwrap())]).unwrap();
        match c.prepare_data_dir() {
            Err(ConfigError::Invalid { setting: "BATON_DATA_DIR", .. }) => {}
            other => panic!("expected BATON_DATA_DIR to be refused, got {other:?}"),
        }
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn the_audit_anchor_must_live_outside_the_data_directory() {
        let c = config_from(&[("BATON_DATA_DIR", "/srv/baton"), ("BATON_AUDIT_ANCHOR_FILE", "/var/log/baton-anchors")])
            .unwrap();
        assert_eq!(c.audit_anchor_file, Some(PathBuf::from("/var/log/baton-anchors")));
        assert_eq!(c.audit_anchor_every, Duration::from_secs(15 * 60));
        let inside = config_from(&[("BATON_DATA_DIR", "/srv/baton"), ("BATON_AUDIT_ANCHOR_FILE", "/srv/baton/a.log")]);
        assert!(inside.unwrap_err().to_string().contains("BATON_AUDIT_ANCHOR_FILE"));
        assert_eq!(config_from(&[]).unwrap().audit_anchor_file, None);
    }

    #[test]
    fn operations_settings_have_safe_defaults_and_are_checked() {
        let c = config_from(&[]).unwrap();
        assert_eq!(c.purge_after, Duration::from_secs(30 * 86_400));
        assert!(c.metrics_token.is_none(), "metrics are off unless a token is set");
        assert_eq!((c.backup_every, c.backup_keep), (None, 7));
        assert_eq!((c.drain_delay, c.shutdown_timeout), (Duration::ZERO, Duration::from_secs(30)));

        let token = "a-long-enough-token-1234";
        let c = config_from(&[
            ("BATON_PURGE_AFTER", "7d"),
            ("BATON_METRICS_TOKEN", token),
            ("BATON_BACKUP_EVERY", "6h"),
            ("BATON_BACKUP_KEEP", "3"),
            ("BATON_DRAIN_DELAY", "5s"),
            ("BATON_SHUTDOWN_TIMEOUT", "10s"),
        ])
        .unwrap();
        assert_eq!(c.purge_after, Duration::from_secs(7 * 86_400));
        assert_eq!(c.metrics_token.as_ref().map(|t| t.expose_secret().to_owned()), Some(token.to_owned()));
        assert_eq!((c.backup_every, c.backup_keep), (Some(Duration::from_secs(6 * 3600)), 3));
        assert_eq!((c.drain_delay, c.shutdown_timeout), (Duration::from_secs(5), Duration::from_secs(10)));
        assert!(!format!("{c:?}").contains(token), "the token is never logged");
        assert_eq!(config_from(&[("BATON_DRAIN_DELAY", "0")]).unwrap().drain_delay, Duration::ZERO);

        assert_eq!(refused_setting(&[("BATON_METRICS_TOKEN", "short")]), "BATON_METRICS_TOKEN");
        assert!(!config_from(&[("BATON_METRICS_TOKEN", "short")]).unwrap_err().to_string().contains("short"));
        assert_eq!(refused_setting(&[("BATON_BACKUP_KEEP", "0")]), "BATON_BACKUP_KEEP");
        assert_eq!(refused_setting(&[("BATON_BACKUP_EVERY", "often")]), "BATON_BACKUP_EVERY");
        assert_eq!(refused_setting(&[("BATON_PURGE_AFTER", "forever")]), "BATON_PURGE_AFTER");
    }
}
