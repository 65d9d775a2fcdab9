//! Signing a rendered body for its platform, and reading what the platform answered.
//!
//! The chat platforms answer most failures with HTTP 200 and an error code in the body, so the
//! status alone cannot tell a delivered message from a refused one: [`classify`] reads both and
//! decides whether a retry can help.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;

use super::message::ChannelKind;
use super::wire::truncate_bytes;

/// What Python's `urllib.parse.quote_plus` leaves alone; DingTalk's documentation encodes the
/// signature with it, and its server compares the encoded form.
const QUOTE_PLUS: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// How much of a remote answer is kept for people reading the delivery log.
const ANSWER_MAX_BYTES: usize = 300;

/// An HTTP request ready to send (always a POST).
///
/// Its `Debug` shows only the URL's scheme and host: the rest holds credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Where to send it; it holds the channel's credentials (robot key, signature), so it must
    /// never be logged or shown.
    pub url: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The exact bytes to send: the webhook signature covers them, so they must not be
    /// re-serialised.
    pub body: Vec<u8>,
}

/// Builds the request for `kind` to the channel's `url` with its optional `secret`, at `now`.
///
/// `webhook_id` is only used by the generic webhook; pass the body's `"id"` so receivers can
/// match the header to the event. An empty secret counts as none.
pub fn build(
    kind: ChannelKind,
    url: &str,
    secret: Option<&str>,
    body: &serde_json::Value,
    webhook_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Outgoing {
    let secret = secret.filter(|secret| !secret.is_empty());
    let json_utf8 = || vec![("content-type".to_owned(), "application/json; charset=utf-8".to_owned())];
    match kind {
        ChannelKind::Dingtalk => {
            let url = match secret {
                Some(secret) => {
                    let timestamp = now.timestamp_millis();
                    let separator = match url.find('?') {
                        None => "?",
                        Some(_) if url.ends_with('?') || url.ends_with('&') => "",
                        Some(_) => "&",
                    };
                    format!("{url}{separator}timestamp={timestamp}&sign={}", dingtalk_sign(secret, timestamp))
                }
                None => url.to_owned(),
            };
            Outgoing { url, headers: json_utf8(), body: to_bytes(body) }
        }
        ChannelKind::Wecom => Outgoing { url: url.to_owned(), headers: json_utf8(), body: to_bytes(body) },
        ChannelKind::Feishu => {
            let mut body = body.clone();
            if let (Some(secret), Some(fields)) = (secret, body.as_object_mut()) {
                let timestamp = now.timestamp();
                fields.insert("timestamp".to_owned(), timestamp.to_string().into());
                fields.insert("sign".to_owned(), feishu_sign(secret, timestamp).into());
            }
            Outgoing { url: url.to_owned(), headers: json_utf8(), body: to_bytes(&body) }
        }
        ChannelKind::Webhook => {
            let body = to_bytes(body);
            let timestamp = now.timestamp();
            let mut headers = vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("webhook-id".to_owned(), webhook_id.to_owned()),
                ("webhook-timestamp".to_owned(), timestamp.to_string()),
            ];
            if let Some(secret) = secret {
                let signature = standard_webhook_signature(secret, webhook_id, timestamp, &body);
                headers.push(("webhook-signature".to_owned(), signature));
            }
            Outgoing { url: url.to_owned(), headers, body }
        }
    }
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host_start = self.url.find("://").map_or(0, |scheme| scheme + 3);
        let host_end = self.url[host_start..].find(['/', '?', '#']).map_or(self.url.len(), |end| host_start + end);
        let origin = &self.url[..host_end];
        f.debug_struct("Outgoing")
            .field("url", &format_args!("{origin}/…"))
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

fn to_bytes(body: &serde_json::Value) -> Vec<u8> {
    // Serialising a Value cannot fail: its map keys are always strings.
    serde_json::to_vec(body).unwrap_or_default()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this never fails.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// DingTalk's `sign` query value for `timestamp_ms`: base64 HMAC-SHA256 of
/// "timestamp\nsecret" keyed with the secret, already URL-encoded (the form that goes into the URL).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let mac = hmac_sha256(secret.as_bytes(), format!("{timestamp_ms}\n{secret}").as_bytes());
    utf8_percent_encode(&BASE64.encode(mac), QUOTE_PLUS).to_string()
}

/// Feishu's `sign` body field for `timestamp_s`: base64 HMAC-SHA256 of nothing, keyed with
/// "timestamp\nsecret" (Feishu's documented way round, unlike DingTalk's).
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    BASE64.encode(hmac_sha256(format!("{timestamp_s}\n{secret}").as_bytes(), b""))
}

/// The Standard Webhooks `webhook-signature` value, `v1,<base64>`, over `id.timestamp.body`.
///
/// A "whsec_" secret is base64 of the real key (as the spec's libraries generate them); any other
/// secret, or one that does not decode, is used as raw bytes so a receiver's hand-made secret
/// still works.
pub fn standard_webhook_signature(secret: &str, id: &str, timestamp_s: i64, body: &[u8]) -> String {
    let key = secret.strip_prefix("whsec_").and_then(|encoded| BASE64.decode(encoded).ok());
    let key = key.as_deref().unwrap_or(secret.as_bytes());
    let mut message = Vec::with_capacity(id.len() + body.len() + 24);
    message.extend_from_slice(format!("{id}.{timestamp_s}.").as_bytes());
    message.extend_from_slice(body);
    format!("v1,{}", BASE64.encode(hmac_sha256(key, &message)))
}

/// A new generic-webhook secret: "whsec_" and base64 of 24 random bytes.
///
/// The bytes come from two v4 UUIDs (the operating system's generator), skipping the bytes that
/// hold their fixed version and variant bits so all 192 bits are random.
pub fn new_webhook_secret() -> String {
    let mut key = Vec::with_capacity(24);
    for _ in 0..2 {
        let bytes = *uuid::Uuid::new_v4().as_bytes();
        key.extend_from_slice(&bytes[..6]);
        key.extend_from_slice(&bytes[9..15]);
    }
    format!("whsec_{}", BASE64.encode(key))
}

/// How a delivery attempt ended, read from the remote answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The platform accepted the message.
    Delivered,
    /// Worth retrying later (rate limit, server trouble); holds the remote answer for the log.
    Transient(String),
    /// Retrying cannot help (bad key, bad signature, refused body); holds the remote answer.
    Permanent(String),
}

/// Reads the answer to one attempt: `status` is the HTTP status and `body` the response text
/// (may be empty or not JSON).
pub fn classify(kind: ChannelKind, status: u16, body: &str) -> Answer {
    match status {
        200..=299 => {}
        300..=399 => return Answer::Permanent(format!("HTTP {status}: redirect not followed")),
        408 | 429 | 500..=599 => return Answer::Transient(summary(kind, status, body)),
        _ => return Answer::Permanent(summary(kind, status, body)),
    }
    let code = || remote_code(kind, body).map(|(code, _)| code);
    let transient = match kind {
        ChannelKind::Webhook => return Answer::Delivered,
        ChannelKind::Dingtalk => match code() {
            Some(0) => return Answer::Delivered,
            // 130101: sending too fast.
            code => code == Some(130101),
        },
        ChannelKind::Wecom => match code() {
            Some(0) => return Answer::Delivered,
            // 45009: frequency limit; -1: system busy.
            code => matches!(code, Some(45009 | -1)),
        },
        ChannelKind::Feishu => match code() {
            Some(0) => return Answer::Delivered,
            // 9499 and 11232: rate limited.
            code => matches!(code, Some(9499 | 11232)),
        },
    };
    let summary = summary(kind, status, body);
    if transient {
        Answer::Transient(summary)
    } else {
        Answer::Permanent(summary)
    }
}

/// The platform's error code and message from a JSON answer, when it has one.
fn remote_code(kind: ChannelKind, body: &str) -> Option<(i64, String)> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    let pick = |code: &str, message: &str| {
        let text = json.get(message).and_then(|m| m.as_str()).unwrap_or_default().to_owned();
        json.get(code).and_then(serde_json::Value::as_i64).map(|code| (code, text))
    };
    match kind {
        ChannelKind::Dingtalk | ChannelKind::Wecom => pick("errcode", "errmsg"),
        // Older Feishu bots answer with StatusCode/StatusMessage.
        ChannelKind::Feishu => pick("code", "msg").or_else(|| pick("StatusCode", "StatusMessage")),
        ChannelKind::Webhook => None,
    }
}

/// "HTTP 200: errcode 310000 sign not match": the platform's code and message when the answer
/// has them, else the raw body; one line and short. Only the answer is used, never the request
/// URL, which holds the channel's credentials.
fn summary(kind: ChannelKind, status: u16, body: &str) -> String {
    let detail = match remote_code(kind, body) {
        Some((code, message)) => {
            let name = if matches!(kind, ChannelKind::Feishu) { "code" } else { "errcode" };
            format!("{name} {code} {message}")
        }
        None => body.to_owned(),
    };
    let detail: String = detail
        .chars()
        .filter_map(|c| if c.is_whitespace() { Some(' ') } else { (!c.is_control()).then_some(c) })
        .collect();
    match truncate_bytes(detail.trim(), ANSWER_MAX_BYTES).trim_end() {
        "" => format!("HTTP {status}"),
        detail => format!("HTTP {status}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(seconds: i64, millis: u32) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(seconds, millis * 1_000_000).unwrap()
    }

    fn header<'a>(request: &'a Outgoing, name: &str) -> Option<&'a str> {
        request.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    // python3 -c "import hmac,hashlib,base64,urllib.parse as u; s='SECtest0123456789abcdef'; t='1700000000000';
    //   print(u.quote_plus(base64.b64encode(hmac.new(s.encode(), (t+'\n'+s).encode(), hashlib.sha256).digest())))"
    const DINGTALK_SIGN: &str = "%2FlfnxUUu80FwVTsIlv2F1cMGBb%2BPxEKAwYh%2FbsRxXcc%3D";

    // python3 -c "import hmac,hashlib,base64;
    //   print(base64.b64encode(hmac.new(('1700000000'+'\n'+'demo-secret').encode(), b'', hashlib.sha256).digest()).decode())"
    const FEISHU_SIGN: &str = "mYHw2R2SOm8Rw/sne3lQdmz4sOfntKR+1P/8RKKTwmA=";

    #[test]
    fn dingtalk_signature_matches_python() {
        // The expected value has '/', '+' and '=' in it, so it also checks the quote_plus encoding.
        assert_eq!(dingtalk_sign("SECtest0123456789abcdef", 1_700_000_000_000), DINGTALK_SIGN);
    }

    #[test]
    fn feishu_signature_matches_python() {
        assert_eq!(feishu_sign("demo-secret", 1_700_000_000), FEISHU_SIGN);
    }

    #[test]
    fn standard_webhooks_signature_matches_the_published_example() {
        // The example from the Standard Webhooks specification, checked with:
        // python3 -c "import hmac,hashlib,base64; k=base64.b64decode('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
        //   print('v1,'+base64.b64encode(hmac.new(k, b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}',
        //   hashlib.sha256).digest()).decode())"
        let signature = standard_webhook_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_without_the_whsec_prefix_is_used_as_raw_bytes() {
        // python3 -c "import hmac,hashlib,base64;
        //   print('v1,'+base64.b64encode(hmac.new(b'plain-secret', b'msg_1.1700000000.{}', hashlib.sha256).digest()).decode())"
        let expected = "v1,p6NQsMzLWth/nlsTq5oslSVPNvyHmbQZrni4qovDPj4=";
        assert_eq!(standard_webhook_signature("plain-secret", "msg_1", 1_700_000_000, b"{}"), expected);
        // "whsec_" followed by something that is not base64 falls back to the whole secret's bytes.
        assert_ne!(standard_webhook_signature("whsec_not base64!", "msg_1", 1_700_000_000, b"{}"), expected);
        assert_eq!(
            standard_webhook_signature("whsec_not base64!", "msg_1", 1_700_000_000, b"{}"),
            format!("v1,{}", BASE64.encode(hmac_sha256(b"whsec_not base64!", b"msg_1.1700000000.{}")))
        );
    }

    #[test]
    fn new_webhook_secrets_decode_to_24_fresh_bytes() {
        let (a, b) = (new_webhook_secret(), new_webhook_secret());
        assert_ne!(a, b);
        let key = BASE64.decode(a.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(key.len(), 24);
        // A generated secret must be usable as a key, not fall back to raw bytes.
        let signature = standard_webhook_signature(&a, "msg_1", 1, b"{}");
        assert_eq!(signature, format!("v1,{}", BASE64.encode(hmac_sha256(&key, b"msg_1.1.{}"))));
    }

    #[test]
    fn dingtalk_request_appends_timestamp_and_sign_to_the_query() {
        let body = json!({"msgtype": "markdown"});
        let now = at(1_700_000_000, 0);
        let secret = Some("SECtest0123456789abcdef");
        let request = build(
            ChannelKind::Dingtalk,
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
            secret,
            &body,
            "",
            now,
        );
        assert_eq!(
            request.url,
            format!(
                "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000&sign={DINGTALK_SIGN}"
            )
        );
        assert_eq!(header(&request, "content-type"), Some("application/json; charset=utf-8"));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&request.body).unwrap(), body);

        let bare = build(ChannelKind::Dingtalk, "http://127.0.0.1:9/ding", secret, &body, "", now);
        assert_eq!(bare.url, format!("http://127.0.0.1:9/ding?timestamp=1700000000000&sign={DINGTALK_SIGN}"));
        let unsigned = build(ChannelKind::Dingtalk, "http://127.0.0.1:9/ding?access_token=abc", None, &body, "", now);
        assert_eq!(unsigned.url, "http://127.0.0.1:9/ding?access_token=abc");
        let empty_secret = build(ChannelKind::Dingtalk, "http://127.0.0.1:9/ding", Some(""), &body, "", now);
        assert_eq!(empty_secret.url, "http://127.0.0.1:9/ding");
    }

    #[test]
    fn feishu_request_carries_timestamp_and_sign_in_the_body() {
        let body = json!({"msg_type": "interactive", "card": {}});
        let request = build(
            ChannelKind::Feishu,
            "https://open.feishu.cn/hook/x",
            Some("demo-secret"),
            &body,
            "",
            at(1_700_000_000, 999),
        );
        assert_eq!(request.url, "https://open.feishu.cn/hook/x");
        assert_eq!(header(&request, "content-type"), Some("application/json; charset=utf-8"));
        let sent: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(sent["timestamp"], "1700000000");
        assert_eq!(sent["sign"], FEISHU_SIGN);
        assert_eq!(sent["msg_type"], "interactive");

        let unsigned =
            build(ChannelKind::Feishu, "https://open.feishu.cn/hook/x", None, &body, "", at(1_700_000_000, 0));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&unsigned.body).unwrap(), body);
    }

    #[test]
    fn wecom_request_is_the_body_as_is() {
        let body = json!({"msgtype": "text", "text": {"content": "hi"}});
        let url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k";
        let request = build(ChannelKind::Wecom, url, Some("ignored"), &body, "", at(1, 0));
        assert_eq!(request.url, url);
        assert_eq!(request.headers, vec![("content-type".to_owned(), "application/json; charset=utf-8".to_owned())]);
        assert_eq!(request.body, serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn webhook_request_signs_the_exact_body_bytes() {
        let body = json!({"type": "channel.test", "version": 1, "id": "msg_1", "data": {"text": "中文 @all"}});
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let request =
            build(ChannelKind::Webhook, "https://hooks.example/in", Some(secret), &body, "msg_1", at(1_614_265_330, 5));
        assert_eq!(request.url, "https://hooks.example/in");
        assert_eq!(header(&request, "content-type"), Some("application/json"));
        assert_eq!(header(&request, "webhook-id"), Some("msg_1"));
        assert_eq!(header(&request, "webhook-timestamp"), Some("1614265330"));
        let expected = standard_webhook_signature(secret, "msg_1", 1_614_265_330, &request.body);
        assert_eq!(header(&request, "webhook-signature"), Some(expected.as_str()));

        let unsigned =
            build(ChannelKind::Webhook, "https://hooks.example/in", None, &body, "msg_1", at(1_614_265_330, 0));
        assert_eq!(header(&unsigned, "webhook-id"), Some("msg_1"));
        assert_eq!(header(&unsigned, "webhook-timestamp"), Some("1614265330"));
        assert_eq!(header(&unsigned, "webhook-signature"), None);
    }

    #[test]
    fn debug_output_hides_the_credentials_in_the_url() {
        let body = json!({});
        for url in [
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETKEY",
            "https://open.feishu.cn/open-apis/bot/v2/hook/SECRETKEY",
        ] {
            let request = build(ChannelKind::Wecom, url, None, &body, "", at(1, 0));
            let shown = format!("{request:?}");
            assert!(!shown.contains("SECRETKEY") && shown.contains("https://"), "{shown}");
        }
        let request = build(
            ChannelKind::Dingtalk,
            "https://oapi.dingtalk.com?access_token=SECRETKEY",
            Some("SECx"),
            &body,
            "",
            at(1, 0),
        );
        assert!(!format!("{request:?}").contains("SECRETKEY"));
        assert!(!format!("{request:?}").contains("sign="));
    }

    #[test]
    fn classify_reads_status_and_platform_codes() {
        use Answer::{Delivered as D, Permanent as P, Transient as T};
        use ChannelKind::{Dingtalk, Feishu, Webhook, Wecom};
        let ok = |answer: &Answer| matches!(answer, D);
        let transient = |answer: &Answer| matches!(answer, T(_));
        let permanent = |answer: &Answer| matches!(answer, P(_));
        type Check = fn(&Answer) -> bool;
        let table: &[(ChannelKind, u16, &str, Check)] = &[
            (Dingtalk, 200, r#"{"errcode":0,"errmsg":"ok"}"#, ok),
            (Dingtalk, 200, r#"{"errcode":130101,"errmsg":"send too fast"}"#, transient),
            (Dingtalk, 200, r#"{"errcode":310000,"errmsg":"sign not match"}"#, permanent),
            (Dingtalk, 200, r#"{"errmsg":"ok"}"#, permanent),
            (Dingtalk, 200, "", permanent),
            (Wecom, 200, r#"{"errcode":0,"errmsg":"ok"}"#, ok),
            (Wecom, 200, r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#, transient),
            (Wecom, 200, r#"{"errcode":-1,"errmsg":"system busy"}"#, transient),
            (Wecom, 200, r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#, permanent),
            (Wecom, 200, "not json", permanent),
            (Feishu, 200, r#"{"code":0,"msg":"success","data":{}}"#, ok),
            (Feishu, 200, r#"{"StatusCode":0,"StatusMessage":"success"}"#, ok),
            (Feishu, 200, r#"{"code":9499,"msg":"too many request"}"#, transient),
            (Feishu, 200, r#"{"code":11232,"msg":"frequency limited"}"#, transient),
            (Feishu, 200, r#"{"code":19021,"msg":"sign match fail"}"#, permanent),
            (Feishu, 200, r#"{"msg":"success"}"#, permanent),
            (Webhook, 200, "", ok),
            (Webhook, 204, "", ok),
            (Webhook, 202, r#"{"errcode":1}"#, ok),
            (Dingtalk, 429, "", transient),
            (Webhook, 429, "slow down", transient),
            (Wecom, 408, "", transient),
            (Feishu, 500, "", transient),
            (Webhook, 502, "<html>bad gateway</html>", transient),
            (Webhook, 503, "", transient),
            (Webhook, 400, "bad", permanent),
            (Webhook, 401, "", permanent),
            (Webhook, 404, "", permanent),
            (Dingtalk, 413, "", permanent),
            (Webhook, 301, "", permanent),
            (Webhook, 302, "", permanent),
            (Webhook, 100, "", permanent),
        ];
        for (kind, status, body, check) in table {
            let answer = classify(*kind, *status, body);
            assert!(check(&answer), "{kind:?} {status} {body:?} gave {answer:?}");
        }
    }

    #[test]
    fn answers_are_short_single_lines() {
        assert_eq!(
            classify(ChannelKind::Dingtalk, 200, r#"{"errcode":310000,"errmsg":"sign not match"}"#),
            Answer::Permanent("HTTP 200: errcode 310000 sign not match".into())
        );
        assert_eq!(
            classify(ChannelKind::Feishu, 200, r#"{"code":9499,"msg":"too many request"}"#),
            Answer::Transient("HTTP 200: code 9499 too many request".into())
        );
        assert_eq!(classify(ChannelKind::Webhook, 503, ""), Answer::Transient("HTTP 503".into()));
        assert_eq!(
            classify(ChannelKind::Webhook, 302, "<a>moved</a>"),
            Answer::Permanent("HTTP 302: redirect not followed".into())
        );
        assert_eq!(
            classify(ChannelKind::Webhook, 500, "  line one\r\nline\ttwo\u{1b}[0m\n"),
            Answer::Transient("HTTP 500: line one  line two[0m".into())
        );
        let long = "中".repeat(200);
        let Answer::Transient(text) = classify(ChannelKind::Webhook, 502, &long) else { panic!("not transient") };
        let detail = text.strip_prefix("HTTP 502: ").unwrap();
        assert!(detail.len() <= 300 && detail.len() > 290, "{}", detail.len());
        assert!(detail.chars().all(|c| c == '中'));
    }
}
