//! The SMTP side: one pooled async transport built from the settings, the MIME message of an
//! outbox row, and which failures are worth retrying.

use lettre::{
    address::Envelope,
    message::{header::ContentType, Mailbox, MultiPart, SinglePart},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
        PoolConfig,
    },
    Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use secrecy::ExposeSecret;

use super::outbox::Claimed;
use crate::config::{SmtpConfig, SmtpTls};

/// Why a delivery attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendError {
    /// Worth another try later: a 4xx answer, a timeout, a refused or dropped connection.
    Transient(String),
    /// Will fail again: a 5xx answer or an unusable address.
    Permanent(String),
}

impl SendError {
    /// The error text, for the outbox and the admins.
    pub fn message(&self) -> &str {
        match self {
            SendError::Transient(m) | SendError::Permanent(m) => m,
        }
    }
}

/// The mail server connection, shared by every delivery: lettre keeps a small pool of open
/// connections and reuses them, so a burst of emails does not open one connection each.
#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    /// Builds the transport; connects lazily on the first email. Must run inside the Tokio
    /// runtime (the pool starts a task that closes idle connections).
    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
        let from: Mailbox = config.from.parse().map_err(|e| format!("BATON_SMTP_FROM: {e}"))?;
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str()),
            SmtpTls::StartTls | SmtpTls::Tls => {
                let params = TlsParameters::new(config.host.clone()).map_err(|e| format!("BATON_SMTP_HOST: {e}"))?;
                let tls = if config.tls == SmtpTls::Tls { Tls::Wrapper(params) } else { Tls::Required(params) };
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str()).tls(tls)
            }
        };
        let mut builder =
            builder.port(config.port).timeout(Some(config.timeout)).pool_config(PoolConfig::new().max_size(4));
        if !config.username.is_empty() {
            let password = config.password.expose_secret().to_owned();
            builder = builder.credentials(Credentials::new(config.username.clone(), password));
        }
        Ok(Self { transport: builder.build(), from })
    }

    /// The formatted message of `email`, the same bytes for each of its recipients.
    pub fn prepare(&self, email: &Claimed) -> Result<Vec<u8>, SendError> {
        Ok(build_message(&self.from, email)?.formatted())
    }

    /// Sends the `prepared` message to `recipient` alone (the headers still name every
    /// recipient): one refused address then refuses only itself.
    pub async fn send_to(&self, prepared: &[u8], recipient: &str) -> Result<(), SendError> {
        let to: Address =
            recipient.parse().map_err(|e| SendError::Permanent(format!("invalid recipient {recipient:?}: {e}")))?;
        let envelope = Envelope::new(Some(self.from.email.clone()), vec![to])
            .map_err(|e| SendError::Permanent(format!("cannot build the envelope: {e}")))?;
        self.transport.send_raw(&envelope, prepared).await.map(|_| ()).map_err(|e| classify(&e))
    }
}

/// The MIME message of an outbox row: both parts, UTF-8, its fixed Message-ID.
pub fn build_message(from: &Mailbox, email: &Claimed) -> Result<Message, SendError> {
    let mut builder = Message::builder().from(from.clone()).subject(one_line(&email.subject));
    if email.recipients.is_empty() {
        return Err(SendError::Permanent("no recipients".into()));
    }
    for address in &email.recipients {
        let mailbox: Mailbox =
            address.parse().map_err(|e| SendError::Permanent(format!("invalid recipient {address:?}: {e}")))?;
        builder = builder.to(mailbox);
    }
    builder
        .message_id(Some(email.message_id.clone()))
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(email.body_text.clone()))
                .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(email.body_html.clone())),
        )
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
}

/// The text with line breaks and other control characters turned into spaces: a header value
/// must never start another header.
pub fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// 5xx answers are permanent; everything else (4xx, timeouts, connection and TLS trouble) may
/// pass on a later try.
fn classify(err: &lettre::transport::smtp::Error) -> SendError {
    let text = err.to_string();
    if err.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The pool's idle-connection reaper is a task: building the transport needs the runtime.
    #[tokio::test]
    async fn every_tls_mode_builds_a_transport_without_connecting() {
        for tls in [SmtpTls::None, SmtpTls::StartTls, SmtpTls::Tls] {
            let config = SmtpConfig {
                host: "mail.example.com".into(),
                port: 587,
                tls,
                username: "baton".into(),
                password: "secret".into(),
                from: "Baton <baton@example.com>".into(),
                timeout: std::time::Duration::from_secs(5),
            };
            assert!(Smtp::new(&config).is_ok(), "{tls:?}");
        }
    }

    #[test]
    fn a_subject_cannot_smuggle_headers_and_both_parts_are_utf8() {
        let email = Claimed {
            id: 1,
            recipients: vec!["a@example.com".into()],
            delivered: Vec::new(),
            subject: "标题\r\nBcc: victim@example.com".into(),
            body_text: "正文".into(),
            body_html: "<p>正文</p>".into(),
            message_id: "<outbox-1.INC-2026-0001@example.com>".into(),
            attempt: 1,
        };
        let from: Mailbox = "Baton <baton@example.com>".parse().unwrap();
        let raw = String::from_utf8(build_message(&from, &email).unwrap().formatted()).unwrap();
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        assert!(raw.contains("Message-ID: <outbox-1.INC-2026-0001@example.com>"), "{raw}");
        assert!(raw.contains("multipart/alternative"));
        assert_eq!(raw.matches("charset=utf-8").count(), 2, "{raw}");
        let bad = Claimed { recipients: vec!["not an address".into()], ..email };
        assert!(matches!(build_message(&from, &bad), Err(SendError::Permanent(_))));
    }
}
