//! Turning a delivery into a [`Report`]: raw email messages (MIME, RFC 2047 encoded words,
//! quoted-printable and base64 bodies, legacy Chinese charsets) and SMS texts.

use chrono::{DateTime, Utc};
use mail_parser::MessageParser;

use super::Report;
use crate::{
    text,
    workflow::input::{MAX_SHORT, MAX_TEXT},
};

/// Why a message cannot become a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Not a parseable RFC 5322 message.
    #[error("not a readable email message")]
    Unreadable,
    /// No sender address: nobody to reply to, so not a report.
    #[error("the message has no From address")]
    NoSender,
    /// Neither a subject nor a body.
    #[error("the message has neither subject nor text")]
    Empty,
}

/// Words of a text kept as a derived title.
const TITLE_WORDS: usize = 8;
/// Characters kept as a derived title when the text has no spaces (Chinese, Japanese).
const TITLE_CHARS: usize = 30;

/// Reads a raw RFC 5322 message: Subject → title, text body (or the HTML body as text) →
/// description, From → reporter, Message-ID → external id, Date → received time.
pub fn email(raw: &[u8]) -> Result<Report, EmailError> {
    // Something that is not mail at all (binary, JSON, a truncated upload) must not turn into an
    // incident: a message has headers, and the first line is one.
    let first_line = raw.split(|b| *b == b'\n').next().unwrap_or_default();
    if !first_line.contains(&b':') || raw.contains(&0) {
        return Err(EmailError::Unreadable);
    }
    let message = MessageParser::default().parse(raw).ok_or(EmailError::Unreadable)?;
    let from = message.from().and_then(|a| a.first()).ok_or(EmailError::NoSender)?;
    let address = from.address().map(str::trim).filter(|a| a.contains('@')).ok_or(EmailError::NoSender)?;
    // Decoded parts may still carry control characters (base64 hides a NUL from the check above):
    // a person's mail is kept with them dropped, as every other input would refuse them.
    let subject = text::without_controls(&message.subject().map(one_line).unwrap_or_default());
    let body = text::without_controls(message.body_text(0).map(|b| b.trim().to_owned()).unwrap_or_default().as_str());
    if subject.is_empty() && body.is_empty() {
        return Err(EmailError::Empty);
    }
    let title = if subject.is_empty() { derived_title(&body) } else { clip(&subject, MAX_SHORT) };
    let description = if body.is_empty() { subject.clone() } else { clip(&body, MAX_TEXT) };
    let received_at = message.date().and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0));
    Ok(Report {
        title,
        description,
        severity: None,
        reporter_name: clip(&text::without_controls(&from.name().map(one_line).unwrap_or_default()), MAX_SHORT),
        reporter_email: clip(&text::without_controls(address), MAX_SHORT),
        reporter_phone: String::new(),
        external_id: clip(&text::without_controls(message.message_id().unwrap_or_default().trim()), MAX_SHORT),
        received_at,
        // Checked and added by the caller, which knows the size limit (`email_attachments`).
        attachments: Vec::new(),
    })
}

/// The files of a raw message: its attachments and inline images (and text parts that are not
/// its body, such as an attached log), in order. A part without a name is named by its kind and
/// position (`inline-2.png`). Unreadable messages have none.
pub fn email_attachments(raw: &[u8]) -> Vec<crate::collab::files::Upload> {
    use mail_parser::{MimeHeaders, PartType};
    let Some(message) = MessageParser::default().parse(raw) else { return Vec::new() };
    message
        .attachments()
        .enumerate()
        .map(|(n, part)| {
            // An image the message's HTML shows (by Content-ID) or marks inline.
            let inline = matches!(part.body, PartType::InlineBinary(_))
                || part.content_id().is_some()
                || part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"));
            let subtype = part
                .content_type()
                .and_then(|ct| ct.subtype().map(str::to_ascii_lowercase))
                .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric()) && s.len() <= 10)
                .unwrap_or_else(|| "bin".to_owned());
            let name = part
                .attachment_name()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{}-{}.{subtype}", if inline { "inline" } else { "attachment" }, n + 1));
            crate::collab::files::Upload { name, bytes: part.contents().to_vec() }
        })
        .collect()
}

/// The first words of `text` as a title: up to eight words, or thirty characters of a text
/// without spaces, on one line.
pub fn derived_title(text: &str) -> String {
    let line = one_line(text);
    let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
    let title = if words.len() > 1 {
        let mut title = words.iter().take(TITLE_WORDS).copied().collect::<Vec<_>>().join(" ");
        if words.len() > TITLE_WORDS {
            title.push('…');
        }
        title
    } else {
        clip(&line, TITLE_CHARS)
    };
    clip(&title, MAX_SHORT)
}

/// `text` with line breaks and runs of white space folded into single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most `max` characters, marking the cut with an ellipsis.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_message_becomes_a_report() {
        let raw = b"From: Li Lei <lilei@example.com>\r\nTo: support@example.com\r\nSubject: Checkout fails\r\n\
Message-ID: <abc@example.com>\r\nDate: Fri, 27 Nov 2026 08:00:00 +0800\r\n\r\nThe pay button does nothing.\r\n";
        let r = email(raw).unwrap();
        assert_eq!(r.title, "Checkout fails");
        assert_eq!(r.description, "The pay button does nothing.");
        assert_eq!((r.reporter_name.as_str(), r.reporter_email.as_str()), ("Li Lei", "lilei@example.com"));
        assert_eq!(r.external_id, "abc@example.com");
        assert_eq!(r.received_at.map(|t| t.to_rfc3339()), Some("2026-11-27T00:00:00+00:00".into()));
    }

    #[test]
    fn an_html_only_message_arrives_as_text() {
        let raw = b"From: a@example.com\r\nSubject: Hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>Broken <b>login</b></p></body></html>\r\n";
        let r = email(raw).unwrap();
        assert!(r.description.contains("Broken") && r.description.contains("login"), "{}", r.description);
        assert!(!r.description.contains("<b>"), "{}", r.description);
    }

    #[test]
    fn broken_messages_are_refused() {
        assert_eq!(email(b"").unwrap_err(), EmailError::Unreadable);
        assert_eq!(email(b"just some words\r\nand more").unwrap_err(), EmailError::Unreadable);
        assert_eq!(email(b"{\"title\": \"json\"}").unwrap_err(), EmailError::NoSender);
        assert_eq!(email(b"Subject: x\r\n\r\nbody").unwrap_err(), EmailError::NoSender);
        assert_eq!(email(b"From: a@example.com\r\n\r\n").unwrap_err(), EmailError::Empty);
    }

    #[test]
    fn titles_are_the_first_words() {
        assert_eq!(derived_title("App crashes  when\nI open settings"), "App crashes when I open settings");
        assert_eq!(
            derived_title("one two three four five six seven eight nine"),
            "one two three four five six seven eight…"
        );
        assert_eq!(
            derived_title("支付页面打不开了一直转圈圈请尽快处理谢谢大家辛苦了我们的客户很着急呢真的"),
            "支付页面打不开了一直转圈圈请尽快处理谢谢大家辛苦了我们的客…"
        );
        assert_eq!(clip("abc", 2), "a…");
    }
}
