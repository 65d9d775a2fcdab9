//! Turns stored [`ChatMessage`]s into the JSON body each platform expects.
//!
//! Incident titles come from intake and names from people's profiles, and every one of these
//! platforms gives markup in a message power: `@all` or `<at id=all>` pages a whole group, a
//! markdown link hides where it points. So every such string goes through [`neutralise`] before
//! Baton wraps its own markup (bold, links, mentions) around it, and mentions are only ever built
//! from identities that pass a strict shape check.

use serde_json::{json, Value};

use super::message::{new_message_id, ChannelKind, ChatMessage, Person};

/// WeCom rejects markdown content longer than this many bytes.
pub const WECOM_MARKDOWN_MAX_BYTES: usize = 4096;
/// WeCom rejects text content longer than this many bytes.
pub const WECOM_TEXT_MAX_BYTES: usize = 2048;

/// DingTalk shows the title in notifications and the chat list, where long ones are cut anyway.
const DINGTALK_TITLE_MAX_CHARS: usize = 64;
const ELLIPSIS: &str = "…";
/// Between the parts of a digest: a blank line in every format.
const SECTION_BREAK: &str = "\n\n";

/// Makes untrusted text inert in every platform's markup: the characters that start mentions,
/// links, HTML, emphasis or headings become their full-width look-alikes (still readable to a
/// person, meaningless to the parser), line breaks become spaces so nothing can start its own
/// heading or quote line, and control characters and bidi overrides (which can make text display
/// differently from what it is) are dropped.
///
/// `&` is also replaced, beyond the list of the others, because some of these renderers decode
/// HTML entities and `&lt;at id=all&gt;` must not turn back into a tag.
pub fn neutralise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '@' => out.push('＠'),
            '<' => out.push('＜'),
            '>' => out.push('＞'),
            '[' => out.push('［'),
            ']' => out.push('］'),
            '(' => out.push('（'),
            ')' => out.push('）'),
            '*' => out.push('＊'),
            '_' => out.push('＿'),
            '#' => out.push('＃'),
            '`' => out.push('｀'),
            '|' => out.push('｜'),
            '~' => out.push('～'),
            '\\' => out.push('＼'),
            '!' => out.push('！'),
            '&' => out.push('＆'),
            other => push_one_line(&mut out, other),
        }
    }
    out
}

/// Baton's own wording (headings, labels) carries no markup worth escaping, but it still must not
/// break the layout with a line break or hide a control character.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    s.chars().for_each(|c| push_one_line(&mut out, c));
    out
}

fn push_one_line(out: &mut String, c: char) {
    match c {
        // U+0085, U+2028 and U+2029 are line breaks too for some renderers.
        '\r' | '\n' | '\t' | '\u{85}' | '\u{2028}' | '\u{2029}' => out.push(' '),
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {}
        c if c.is_control() => {}
        c => out.push(c),
    }
}

/// The longest prefix of `s` that is at most `max` bytes and ends at a char boundary, for the
/// platforms whose limits count bytes (WeCom) so a cut never splits a character.
pub fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Renders `messages` as the JSON body for a channel of `kind`.
///
/// One message renders normally. Any other number (a digest after a rate-limit burst, or an
/// empty one) renders as ONE message that starts with `digest_heading` (Baton's own text),
/// followed by a short section per message, and mentions everyone who must act in any of them,
/// once each. A webhook digest gets a fresh id: read it from the body's `"id"` for `webhook-id`.
pub fn render(kind: ChannelKind, messages: &[ChatMessage], digest_heading: &str) -> Value {
    let content = match messages {
        [single] => Content::Single(single),
        _ => Content::Digest { heading: digest_heading, messages },
    };
    match kind {
        ChannelKind::Dingtalk => dingtalk(&content),
        ChannelKind::Wecom => wecom(&content),
        ChannelKind::Feishu => feishu(&content),
        ChannelKind::Webhook => match content {
            Content::Single(message) => webhook_event(message),
            Content::Digest { heading, messages } => json!({
                "type": "digest",
                "version": 1,
                "id": new_message_id(),
                "occurred_at": rfc3339(chrono::Utc::now()),
                "data": {
                    "heading": heading,
                    "events": messages.iter().map(webhook_event).collect::<Vec<_>>(),
                },
            }),
        },
    }
}

enum Content<'a> {
    Single(&'a ChatMessage),
    Digest { heading: &'a str, messages: &'a [ChatMessage] },
}

impl<'a> Content<'a> {
    fn messages(&self) -> &'a [ChatMessage] {
        match self {
            Content::Single(message) => std::slice::from_ref(*message),
            Content::Digest { messages, .. } => messages,
        }
    }

    /// Everyone who must act, once each, in the order they were first named.
    fn must_act(&self) -> Vec<&'a Person> {
        let mut people: Vec<&Person> = Vec::new();
        for person in self.messages().iter().flat_map(|m| &m.must_act) {
            if !people.iter().any(|known| same_person(known, person)) {
                people.push(person);
            }
        }
        people
    }
}

fn same_person(a: &Person, b: &Person) -> bool {
    if a.username.is_empty() || b.username.is_empty() {
        a == b
    } else {
        a.username == b.username
    }
}

/// How a format writes structure; untrusted text is neutralised before it gets here.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// DingTalk markdown: single line breaks are not reliably shown, so lines are paragraphs.
    Dingtalk,
    /// WeCom markdown and Feishu lark_md.
    Markdown,
    /// WeCom text.
    Plain,
}

impl Style {
    fn line_break(self) -> &'static str {
        match self {
            Style::Dingtalk => "\n\n",
            Style::Markdown | Style::Plain => "\n",
        }
    }

    fn bold(self, text: &str) -> String {
        match self {
            Style::Plain => text.to_owned(),
            Style::Dingtalk | Style::Markdown => format!("**{text}**"),
        }
    }

    /// The message's link, or nothing when it has no usable URL.
    fn link(self, message: &ChatMessage) -> Option<String> {
        let url = safe_url(&message.url)?;
        let label = match neutralise(&message.open_label) {
            label if label.trim().is_empty() => url.clone(),
            label => label,
        };
        Some(match self {
            Style::Plain => format!("{label}: {url}"),
            Style::Dingtalk | Style::Markdown => format!("[{label}]({url})"),
        })
    }
}

/// Baton's own link, re-checked anyway: only http(s) (a `javascript:` or `dingtalk:` link would
/// run or open something), and with the characters that end a markdown link target encoded.
fn safe_url(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return None;
    };
    if rest.is_empty() || url.chars().any(char::is_control) {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '(' => out.push_str("%28"),
            ')' => out.push_str("%29"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '"' => out.push_str("%22"),
            c => out.push(c),
        }
    }
    Some(out)
}

/// "[P1] INC-42 title", neutralised, leaving out the parts a message does not have.
fn title_line(message: &ChatMessage) -> String {
    let severity = match message.severity.trim() {
        "" => String::new(),
        severity => format!("[{}]", neutralise(&severity.to_uppercase())),
    };
    let parts = [severity, neutralise(message.incident_key.trim()), neutralise(message.title.trim())];
    parts.into_iter().filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A name to show for someone who cannot be (or is not) mentioned.
fn display_name(person: &Person) -> Option<String> {
    let name = if person.name.trim().is_empty() { &person.username } else { &person.name };
    let name = neutralise(name.trim());
    (!name.is_empty()).then_some(name)
}

/// A mobile number as the platforms match it: digits, maybe a leading '+'; spaces and dashes
/// people type are dropped. Anything else (such as "@all") is no mobile at all.
fn mobile(person: &Person) -> Option<String> {
    let compact: String = person.mobile.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    ((5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())).then_some(compact)
}

/// WeCom's own rule for a UserID: 1 to 64 bytes of letters, digits and "_-@.", starting with a
/// letter or digit; that rule is also what keeps "@all" out of the mention lists.
fn wecom_userid(person: &Person) -> Option<&str> {
    let id = person.wecom_userid.trim();
    let starts_well = id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    let valid = id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-@.".contains(&b));
    (starts_well && valid).then_some(id)
}

/// A Feishu open_id ("ou_" and letters or digits); `all` or a user_id would mention someone else.
fn feishu_open_id(person: &Person) -> Option<&str> {
    let id = person.feishu_open_id.trim();
    let rest = id.strip_prefix("ou_")?;
    let valid = !rest.is_empty() && id.len() <= 96;
    (valid && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')).then_some(id)
}

/// The lines every format shares, before mentions and the final link.
fn body(content: &Content, style: Style, with_title: bool) -> String {
    match content {
        Content::Single(message) => {
            let mut lines = Vec::new();
            if with_title {
                let title = title_line(message);
                if !title.is_empty() {
                    lines.push(style.bold(&title));
                }
            }
            let headline = neutralise(message.headline.trim());
            if !headline.is_empty() {
                lines.push(headline);
            }
            for fact in &message.facts {
                let line = format!("{}: {}", neutralise(fact.label.trim()), neutralise(fact.value.trim()));
                lines.push(if style == Style::Dingtalk { format!("- {line}") } else { line });
            }
            lines.join(style.line_break())
        }
        Content::Digest { heading, messages } => {
            let mut sections = Vec::new();
            if with_title {
                sections.push(one_line(heading.trim()));
            }
            for message in *messages {
                let mut lines = Vec::new();
                let title = title_line(message);
                if !title.is_empty() {
                    lines.push(style.bold(&title));
                }
                let headline = neutralise(message.headline.trim());
                if !headline.is_empty() {
                    lines.push(headline);
                }
                lines.extend(style.link(message));
                sections.push(lines.join(style.line_break()));
            }
            sections.retain(|section| !section.is_empty());
            sections.join(SECTION_BREAK)
        }
    }
}

fn join_nonempty(parts: &[&str], separator: &str) -> String {
    parts.iter().filter(|part| !part.is_empty()).copied().collect::<Vec<_>>().join(separator)
}

/// `body` then `tail`, cut to `max` bytes by shortening the body (marked with "…") so the
/// mentions and the link, the parts people act on, survive.
fn fit(body: &str, tail: &str, separator: &str, max: usize) -> String {
    let whole = join_nonempty(&[body, tail], separator);
    if whole.len() <= max {
        return whole;
    }
    let kept = if tail.is_empty() { 0 } else { separator.len() + tail.len() };
    match max.checked_sub(kept + ELLIPSIS.len()) {
        Some(room) if !tail.is_empty() => format!("{}{ELLIPSIS}{separator}{tail}", truncate_bytes(body, room)),
        Some(room) => format!("{}{ELLIPSIS}", truncate_bytes(body, room)),
        None => format!("{}{ELLIPSIS}", truncate_bytes(&whole, max.saturating_sub(ELLIPSIS.len()))),
    }
}

fn dingtalk(content: &Content) -> Value {
    let style = Style::Dingtalk;
    let mut mobiles: Vec<String> = Vec::new();
    let mut mentions = Vec::new();
    for person in content.must_act() {
        match mobile(person) {
            // DingTalk only notifies a listed mobile when the text also says "@<mobile>".
            Some(number) => {
                mentions.push(format!("@{number}"));
                if !mobiles.contains(&number) {
                    mobiles.push(number);
                }
            }
            None => mentions.extend(display_name(person)),
        }
    }
    let (title, link) = match content {
        Content::Single(message) => {
            let short = join_nonempty(&[message.incident_key.trim(), message.title.trim()], " ");
            let short = if short.is_empty() { message.headline.trim().to_owned() } else { short };
            (neutralise(&short), style.link(message))
        }
        Content::Digest { heading, .. } => (one_line(heading.trim()), None),
    };
    let title = match title.char_indices().nth(DINGTALK_TITLE_MAX_CHARS) {
        Some((end, _)) => format!("{}{ELLIPSIS}", &title[..end]),
        None => title,
    };
    let text = join_nonempty(
        &[&body(content, style, true), &mentions.join(" "), link.as_deref().unwrap_or("")],
        style.line_break(),
    );
    json!({
        "msgtype": "markdown",
        "markdown": { "title": title, "text": text },
        "at": { "atMobiles": mobiles, "isAtAll": false },
    })
}

fn wecom(content: &Content) -> Value {
    let people = content.must_act();
    // Markdown can only mention by userid; someone reachable only by mobile needs the text form.
    let markdown = people.iter().all(|person| wecom_userid(person).is_some() || mobile(person).is_none());
    let style = if markdown { Style::Markdown } else { Style::Plain };
    let link = match content {
        Content::Single(message) => style.link(message),
        Content::Digest { .. } => None,
    };
    if markdown {
        let mentions: Vec<String> = people
            .iter()
            .filter_map(|person| match wecom_userid(person) {
                Some(id) => Some(format!("<@{id}>")),
                None => display_name(person),
            })
            .collect();
        let tail = join_nonempty(&[&mentions.join(" "), link.as_deref().unwrap_or("")], style.line_break());
        let content = fit(&body(content, style, true), &tail, style.line_break(), WECOM_MARKDOWN_MAX_BYTES);
        return json!({ "msgtype": "markdown", "markdown": { "content": content } });
    }
    let (mut ids, mut mobiles, mut unreachable) = (Vec::<String>::new(), Vec::<String>::new(), Vec::new());
    for person in people {
        if let Some(id) = wecom_userid(person) {
            if !ids.iter().any(|known| known == id) {
                ids.push(id.to_owned());
            }
        } else if let Some(number) = mobile(person) {
            if !mobiles.contains(&number) {
                mobiles.push(number);
            }
        } else {
            // WeCom appends the mentioned people itself; the others can at least be named.
            unreachable.extend(display_name(person));
        }
    }
    let tail = join_nonempty(&[&unreachable.join(" "), link.as_deref().unwrap_or("")], style.line_break());
    let text = fit(&body(content, style, true), &tail, style.line_break(), WECOM_TEXT_MAX_BYTES);
    json!({
        "msgtype": "text",
        "text": { "content": text, "mentioned_list": ids, "mentioned_mobile_list": mobiles },
    })
}

/// Feishu's header colours, most urgent first.
const FEISHU_TEMPLATES: [&str; 4] = ["red", "orange", "yellow", "blue"];

/// Feishu's header colour: red, orange, yellow for P1..P3 so the worst stands out in a busy chat.
fn feishu_template(severity: &str) -> &'static str {
    match severity.trim().to_ascii_lowercase().as_str() {
        "p1" => "red",
        "p2" => "orange",
        "p3" => "yellow",
        _ => "blue",
    }
}

fn feishu(content: &Content) -> Value {
    let style = Style::Markdown;
    let mentions: Vec<String> = content
        .must_act()
        .into_iter()
        .filter_map(|person| match feishu_open_id(person) {
            Some(id) => Some(format!("<at id={id}></at>")),
            None => display_name(person),
        })
        .collect();
    let (title, template, button) = match content {
        Content::Single(message) => {
            let button = safe_url(&message.url).map(|url| {
                let label = if message.open_label.trim().is_empty() { &url } else { &message.open_label };
                json!({
                    "tag": "action",
                    "actions": [{
                        "tag": "button",
                        "text": { "tag": "plain_text", "content": neutralise(label.trim()) },
                        "url": url,
                        "type": "primary",
                    }],
                })
            });
            let title = match title_line(message) {
                title if title.is_empty() => neutralise(message.headline.trim()),
                title => title,
            };
            (title, feishu_template(&message.severity), button)
        }
        Content::Digest { heading, messages } => {
            // The digest is as urgent as the most urgent message in it.
            let used: Vec<&str> = messages.iter().map(|m| feishu_template(&m.severity)).collect();
            let worst = FEISHU_TEMPLATES.into_iter().find(|colour| used.contains(colour)).unwrap_or("blue");
            (one_line(heading.trim()), worst, None)
        }
    };
    let text = join_nonempty(&[&body(content, style, false), &mentions.join(" ")], style.line_break());
    let mut elements = Vec::new();
    if !text.is_empty() {
        elements.push(json!({ "tag": "div", "text": { "tag": "lark_md", "content": text } }));
    }
    elements.extend(button);
    json!({
        "msg_type": "interactive",
        "card": {
            "config": { "wide_screen_mode": true },
            "header": { "title": { "tag": "plain_text", "content": title }, "template": template },
            "elements": elements,
        },
    })
}

fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The receiver parses JSON, so nothing is escaped here: it gets the texts exactly as stored.
fn webhook_event(message: &ChatMessage) -> Value {
    let people = |people: &[Person]| -> Vec<Value> {
        people.iter().map(|p| json!({ "username": p.username, "name": p.name, "role": p.role })).collect()
    };
    let incident = if message.incident_key.is_empty() {
        Value::Null
    } else {
        json!({
            "key": message.incident_key,
            "title": message.title,
            "severity": message.severity,
            "stage": message.stage,
            "url": message.url,
        })
    };
    json!({
        "type": message.event.webhook_type(),
        "version": 1,
        "id": message.id,
        "occurred_at": rfc3339(message.occurred_at),
        "data": {
            "incident": incident,
            // What the message is about, also when it is not an incident (a pool item, a test).
            "title": message.title,
            "url": message.url,
            "headline": message.headline,
            "must_act": people(&message.must_act),
            "owners": people(&message.owners),
            "time_left_seconds": message.time_left_seconds,
            "language": message.language,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::message::{ChatEvent, Fact};
    use super::*;

    const URL: &str = "https://baton.example/incidents/INC-42";

    fn person(username: &str, name: &str, mobile: &str, wecom: &str, feishu: &str) -> Person {
        Person {
            username: username.into(),
            name: name.into(),
            role: "ops".into(),
            mobile: mobile.into(),
            wecom_userid: wecom.into(),
            feishu_open_id: feishu.into(),
        }
    }

    fn ana() -> Person {
        person("ana", "Ana", "13800000000", "ana.w", "ou_ana123")
    }

    /// Named but reachable on no platform.
    fn bob() -> Person {
        person("bob", "Bob", "", "", "")
    }

    fn message() -> ChatMessage {
        ChatMessage {
            id: "msg_0123456789abcdef0123456789abcdef".into(),
            event: ChatEvent::ClockBreach,
            occurred_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            language: "en".into(),
            incident_key: "INC-42".into(),
            title: "Checkout down".into(),
            severity: "p1".into(),
            stage: "fixing".into(),
            headline: "Ana must act now".into(),
            facts: vec![
                Fact { label: "Severity".into(), value: "P1".into() },
                Fact { label: "Stage".into(), value: "Fixing".into() },
            ],
            must_act: vec![ana(), bob()],
            owners: vec![ana(), bob(), person("cy", "Cy", "", "", "")],
            time_left_seconds: Some(-120),
            url: URL.into(),
            open_label: "Open INC-42".into(),
        }
    }

    fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
        value.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no string at {pointer} in {value}"))
    }

    fn strings(value: &Value) -> Vec<String> {
        match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().flat_map(strings).collect(),
            Value::Object(fields) => fields.values().flat_map(strings).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn neutralise_replaces_markup_and_flattens_lines() {
        assert_eq!(neutralise(r"@<>[]()*_#`|~\!&"), "＠＜＞［］（）＊＿＃｀｜～＼！＆");
        assert_eq!(neutralise("a\r\nb\tc\u{2028}d"), "a  b c d");
        assert_eq!(neutralise("x\0y\u{1b}z\u{7f}\u{9b}"), "xyz");
        assert_eq!(neutralise("ab\u{202E}cd\u{202A}\u{2066}\u{2069}e"), "abcde");
        assert_eq!(neutralise("支付失败 – 50% of users, v2.1 \"quoted\""), "支付失败 – 50% of users, v2.1 \"quoted\"");
    }

    #[test]
    fn truncate_bytes_stops_at_a_char_boundary() {
        assert_eq!(truncate_bytes("中文", 4), "中");
        assert_eq!(truncate_bytes("中文", 6), "中文");
        assert_eq!(truncate_bytes("中文", 2), "");
        assert_eq!(truncate_bytes("abc", 0), "");
        assert_eq!(truncate_bytes("abc", 99), "abc");
    }

    #[test]
    fn only_http_links_are_kept_and_they_cannot_end_the_markdown_early() {
        assert_eq!(safe_url("https://b.example/a b)c(d"), Some("https://b.example/a%20b%29c%28d".into()));
        assert_eq!(safe_url(" HTTP://b.example/x "), Some("HTTP://b.example/x".into()));
        for bad in ["", "javascript:alert(1)", "dingtalk://dingtalkclient/page", "https://", "ftp://x", "https://a\nb"]
        {
            assert_eq!(safe_url(bad), None, "{bad:?}");
        }
        let mut evil = message();
        evil.url = "javascript:alert(1)".into();
        for kind in [ChannelKind::Dingtalk, ChannelKind::Wecom, ChannelKind::Feishu] {
            let rendered = render(kind, std::slice::from_ref(&evil), "");
            assert!(!rendered.to_string().contains("javascript"), "{kind:?}: {rendered}");
        }
    }

    #[test]
    fn identities_must_have_the_platforms_shape() {
        let with = |mobile: &str, wecom: &str, feishu: &str| person("u", "U", mobile, wecom, feishu);
        assert_eq!(mobile(&with("+86 138-0000-0000", "", "")), Some("+8613800000000".into()));
        assert_eq!(mobile(&with("@all", "", "")), None);
        assert_eq!(mobile(&with("138 abc", "", "")), None);
        assert_eq!(wecom_userid(&with("", "Zhang.San-1@corp", "")), Some("Zhang.San-1@corp"));
        assert_eq!(wecom_userid(&with("", "@all", "")), None);
        assert_eq!(wecom_userid(&with("", "a>b", "")), None);
        assert_eq!(wecom_userid(&with("", &"a".repeat(65), "")), None);
        assert_eq!(
            feishu_open_id(&with("", "", "ou_7d8a6e6df7621556ce0d21922b676706")),
            Some("ou_7d8a6e6df7621556ce0d21922b676706")
        );
        assert_eq!(feishu_open_id(&with("", "", "all")), None);
        assert_eq!(feishu_open_id(&with("", "", "ou_x></at><at id=all>")), None);
    }

    #[test]
    fn dingtalk_markdown_mentions_by_mobile_in_list_and_text() {
        let body = render(ChannelKind::Dingtalk, &[message()], "unused");
        assert_eq!(body["msgtype"], "markdown");
        assert_eq!(text(&body, "/markdown/title"), "INC-42 Checkout down");
        let markdown = text(&body, "/markdown/text");
        assert!(markdown.starts_with("**[P1] INC-42 Checkout down**\n\nAna must act now\n\n"), "{markdown}");
        assert!(markdown.contains("- Severity: P1\n\n- Stage: Fixing"), "{markdown}");
        assert!(markdown.contains("@13800000000 Bob"), "{markdown}");
        assert!(markdown.ends_with(&format!("[Open INC-42]({URL})")), "{markdown}");
        assert_eq!(body["at"], json!({ "atMobiles": ["13800000000"], "isAtAll": false }));
    }

    #[test]
    fn dingtalk_title_is_short() {
        let mut long = message();
        long.title = "x".repeat(500);
        let body = render(ChannelKind::Dingtalk, &[long], "");
        let title = text(&body, "/markdown/title");
        assert_eq!(title.chars().count(), DINGTALK_TITLE_MAX_CHARS + 1);
        assert!(title.starts_with("INC-42 xxx") && title.ends_with('…'));
    }

    #[test]
    fn wecom_uses_markdown_when_everyone_reachable_has_a_userid() {
        let body = render(ChannelKind::Wecom, &[message()], "");
        assert_eq!(body["msgtype"], "markdown");
        let content = text(&body, "/markdown/content");
        assert!(content.starts_with("**[P1] INC-42 Checkout down**\nAna must act now\nSeverity: P1\nStage: Fixing\n"));
        assert!(content.contains("<@ana.w> Bob"), "{content}");
        assert!(content.ends_with(&format!("[Open INC-42]({URL})")), "{content}");
        // Nobody to mention is fine for markdown too.
        let mut quiet = message();
        quiet.must_act.clear();
        assert_eq!(render(ChannelKind::Wecom, &[quiet], "")["msgtype"], "markdown");
    }

    #[test]
    fn wecom_falls_back_to_text_for_someone_reachable_only_by_mobile() {
        let mut m = message();
        m.must_act.push(person("dee", "Dee", "13900000000", "", ""));
        let body = render(ChannelKind::Wecom, &[m], "");
        assert_eq!(body["msgtype"], "text");
        assert_eq!(body["text"]["mentioned_list"], json!(["ana.w"]));
        assert_eq!(body["text"]["mentioned_mobile_list"], json!(["13900000000"]));
        let content = text(&body, "/text/content");
        assert!(content.starts_with("[P1] INC-42 Checkout down\nAna must act now\n"), "{content}");
        assert!(!content.contains("**") && !content.contains("<@"), "{content}");
        // WeCom names mentioned people itself; only those it cannot reach are named in the text.
        assert!(content.contains("\nBob\n") && !content.contains("Dee"), "{content}");
        assert!(content.ends_with(&format!("Open INC-42: {URL}")), "{content}");
    }

    #[test]
    fn wecom_content_is_capped_in_bytes_and_keeps_the_link() {
        let mut big = message();
        big.title = "很长的标题".repeat(400);
        big.headline = "支付失败 ".repeat(400);
        big.facts.push(Fact { label: "Detail".into(), value: "é".repeat(3000) });
        let body = render(ChannelKind::Wecom, std::slice::from_ref(&big), "");
        let content = text(&body, "/markdown/content");
        assert!(content.len() <= WECOM_MARKDOWN_MAX_BYTES && content.len() > WECOM_MARKDOWN_MAX_BYTES - 4);
        assert!(content.ends_with(&format!("…\n<@ana.w> Bob\n[Open INC-42]({URL})")), "{}", &content[4000..]);

        big.must_act.push(person("dee", "Dee", "13900000000", "", ""));
        let body = render(ChannelKind::Wecom, &[big], "");
        let content = text(&body, "/text/content");
        assert!(content.len() <= WECOM_TEXT_MAX_BYTES && content.len() > WECOM_TEXT_MAX_BYTES - 4);
        assert!(content.ends_with(&format!("…\nBob\nOpen INC-42: {URL}")));
    }

    #[test]
    fn fit_keeps_the_tail_unless_it_alone_is_too_long() {
        assert_eq!(fit("body", "tail", "\n", 9), "body\ntail");
        assert_eq!(fit("bodyX", "tail", "\n", 9), "b…\ntail");
        assert_eq!(fit("body", "tail", "\n", 8), "…\ntail");
        assert_eq!(fit("body!", "", "\n", 4), "b…");
        assert_eq!(fit("body", "", "\n", 4), "body");
        assert_eq!(fit("body", "a long tail", "\n", 8), "body\n…");
    }

    #[test]
    fn feishu_card_has_header_colour_mentions_and_button() {
        let body = render(ChannelKind::Feishu, &[message()], "");
        assert_eq!(body["msg_type"], "interactive");
        assert_eq!(body["card"]["config"], json!({ "wide_screen_mode": true }));
        assert_eq!(
            body["card"]["header"],
            json!({ "title": { "tag": "plain_text", "content": "[P1] INC-42 Checkout down" }, "template": "red" })
        );
        let elements = body["card"]["elements"].as_array().unwrap();
        assert_eq!(elements.len(), 2);
        assert_eq!(elements[0]["tag"], "div");
        assert_eq!(elements[0]["text"]["tag"], "lark_md");
        assert_eq!(
            text(&elements[0], "/text/content"),
            "Ana must act now\nSeverity: P1\nStage: Fixing\n<at id=ou_ana123></at> Bob"
        );
        assert_eq!(
            elements[1],
            json!({ "tag": "action", "actions": [{ "tag": "button", "text": { "tag": "plain_text", "content": "Open INC-42" }, "url": URL, "type": "primary" }] })
        );
    }

    #[test]
    fn feishu_colour_follows_severity_and_no_url_means_no_button() {
        for (severity, colour) in [("p1", "red"), ("P2", "orange"), ("p3", "yellow"), ("p4", "blue"), ("", "blue")] {
            let mut m = message();
            m.severity = severity.into();
            m.url = String::new();
            let body = render(ChannelKind::Feishu, &[m], "");
            assert_eq!(body["card"]["header"]["template"], colour, "{severity}");
            let elements = body["card"]["elements"].as_array().unwrap();
            assert!(elements.iter().all(|e| e["tag"] != "action"), "{severity}");
        }
    }

    fn second() -> ChatMessage {
        let mut m = message();
        m.id = "msg_2".into();
        m.event = ChatEvent::StageEntered;
        m.incident_key = "INC-43".into();
        m.title = "Login slow".into();
        m.severity = "p2".into();
        m.headline = "Cy must act now".into();
        m.must_act = vec![ana(), person("cy", "Cy", "13700000000", "cy", "ou_cy")];
        m.url = "https://baton.example/incidents/INC-43".into();
        m.open_label = "Open INC-43".into();
        m
    }

    const HEADING: &str = "2 notifications (sent together: the robot's rate limit)";

    #[test]
    fn dingtalk_digest_starts_with_the_heading_and_mentions_everyone_once() {
        let body = render(ChannelKind::Dingtalk, &[message(), second()], HEADING);
        assert_eq!(text(&body, "/markdown/title"), HEADING);
        let markdown = text(&body, "/markdown/text");
        assert!(markdown.starts_with(&format!("{HEADING}\n\n**[P1] INC-42 Checkout down**\n\nAna must act now\n\n[Open INC-42]({URL})\n\n**[P2] INC-43 Login slow**")), "{markdown}");
        assert!(markdown.contains("[Open INC-43](https://baton.example/incidents/INC-43)"));
        assert!(markdown.ends_with("@13800000000 Bob @13700000000"), "{markdown}");
        assert_eq!(markdown.matches("@13800000000").count(), 1);
        assert_eq!(body["at"]["atMobiles"], json!(["13800000000", "13700000000"]));
    }

    #[test]
    fn wecom_and_feishu_digests_merge_mentions() {
        let body = render(ChannelKind::Wecom, &[message(), second()], HEADING);
        let content = text(&body, "/markdown/content");
        assert!(content.starts_with(&format!("{HEADING}\n\n**[P1] INC-42")), "{content}");
        assert!(content.ends_with("<@ana.w> Bob <@cy>"), "{content}");

        let body = render(ChannelKind::Feishu, &[second(), message()], HEADING);
        assert_eq!(body["card"]["header"]["title"]["content"], HEADING);
        assert_eq!(body["card"]["header"]["template"], "red", "the worst severity in the digest");
        let content = text(&body, "/card/elements/0/text/content");
        assert!(content.starts_with("**[P2] INC-43 Login slow**\nCy must act now\n[Open INC-43]("), "{content}");
        assert!(content.ends_with("<at id=ou_ana123></at> <at id=ou_cy></at> Bob"), "{content}");
        assert_eq!(content.matches("ou_ana123").count(), 1);
    }

    #[test]
    fn an_empty_digest_is_just_the_heading() {
        let body = render(ChannelKind::Dingtalk, &[], HEADING);
        assert_eq!(text(&body, "/markdown/text"), HEADING);
        assert_eq!(body["at"]["atMobiles"], json!([]));
        assert_eq!(text(&render(ChannelKind::Wecom, &[], HEADING), "/markdown/content"), HEADING);
        let feishu = render(ChannelKind::Feishu, &[], HEADING);
        assert_eq!(feishu["card"]["header"]["title"]["content"], HEADING);
        assert_eq!(feishu["card"]["elements"], json!([]));
        let webhook = render(ChannelKind::Webhook, &[], HEADING);
        assert_eq!(webhook["type"], "digest");
        assert_eq!(webhook["data"], json!({ "heading": HEADING, "events": [] }));
    }

    #[test]
    fn webhook_event_is_versioned_and_unescaped() {
        let mut m = message();
        m.title = "Checkout <down> @all".into();
        let body = render(ChannelKind::Webhook, &[m], "");
        assert_eq!(
            body,
            json!({
                "type": "incident.clock_breach",
                "version": 1,
                "id": "msg_0123456789abcdef0123456789abcdef",
                "occurred_at": "2023-11-14T22:13:20Z",
                "data": {
                    "incident": { "key": "INC-42", "title": "Checkout <down> @all", "severity": "p1", "stage": "fixing", "url": URL },
                    "title": "Checkout <down> @all",
                    "url": URL,
                    "headline": "Ana must act now",
                    "must_act": [
                        { "username": "ana", "name": "Ana", "role": "ops" },
                        { "username": "bob", "name": "Bob", "role": "ops" },
                    ],
                    "owners": [
                        { "username": "ana", "name": "Ana", "role": "ops" },
                        { "username": "bob", "name": "Bob", "role": "ops" },
                        { "username": "cy", "name": "Cy", "role": "ops" },
                    ],
                    "time_left_seconds": -120,
                    "language": "en",
                },
            })
        );
    }

    #[test]
    fn webhook_test_message_has_no_incident_and_digests_get_a_fresh_id() {
        let mut test = message();
        test.event = ChatEvent::Test;
        test.incident_key = String::new();
        test.time_left_seconds = None;
        let body = render(ChannelKind::Webhook, &[test], "");
        assert_eq!(body["type"], "channel.test");
        assert_eq!(body["data"]["incident"], Value::Null);
        assert_eq!(body["data"]["time_left_seconds"], Value::Null);

        let digest = render(ChannelKind::Webhook, &[message(), second()], HEADING);
        assert_eq!(digest["type"], "digest");
        assert_eq!(digest["version"], 1);
        let id = text(&digest, "/id");
        assert!(id.starts_with("msg_") && id != "msg_2" && id != message().id, "{id}");
        assert!(chrono::DateTime::parse_from_rfc3339(text(&digest, "/occurred_at")).is_ok());
        assert_eq!(digest["data"]["heading"], HEADING);
        assert_eq!(digest["data"]["events"][0], render(ChannelKind::Webhook, &[message()], ""));
        assert_eq!(digest["data"]["events"][1]["type"], "incident.stage_entered");
    }

    #[test]
    fn untrusted_text_cannot_mention_link_or_inject_markup() {
        let evil = "@all <at user_id=\"all\">x</at> <at id=all></at> [link](http://evil) <b>bold</b>\n# heading <@all>";
        let forbidden = ["@all", "<at", "[link](", "<b>", "\n# ", "<@all>", "](http://evil"];
        let mut m = message();
        m.title = evil.into();
        m.headline = evil.into();
        m.facts = vec![Fact { label: "Detail".into(), value: evil.into() }];
        // Someone whose name is hostile and whose identities are all "everyone".
        m.must_act = vec![person("mallory", evil, "@all", "@all", "all")];
        m.url = String::new();
        let mut wecom_text = m.clone();
        wecom_text.must_act.push(person("dee", evil, "13900000000", "", ""));

        let cases = [
            (ChannelKind::Dingtalk, m.clone()),
            (ChannelKind::Wecom, m.clone()),
            (ChannelKind::Wecom, wecom_text),
            (ChannelKind::Feishu, m.clone()),
        ];
        let mut seen_text_variant = false;
        for (kind, message) in cases {
            for messages in [vec![message.clone()], vec![message.clone(), second()]] {
                let body = render(kind, &messages, HEADING);
                for s in strings(&body) {
                    // Only the real people of `second()` may be mentioned.
                    let s = s.replace("<at id=ou_ana123></at>", "").replace("<at id=ou_cy></at>", "");
                    for bad in forbidden {
                        assert!(!s.contains(bad), "{kind:?} rendered {bad:?} in {s:?}");
                    }
                    assert!(!s.contains("\n#"), "{kind:?}: {s:?}");
                }
                match kind {
                    ChannelKind::Dingtalk => {
                        assert_eq!(body["at"]["isAtAll"], false);
                        assert!(strings(&body["at"]["atMobiles"])
                            .iter()
                            .all(|mobile| ["13800000000", "13700000000"].contains(&mobile.as_str())));
                    }
                    ChannelKind::Wecom if body["msgtype"] == "text" => {
                        seen_text_variant = true;
                        let lists = [&body["text"]["mentioned_list"], &body["text"]["mentioned_mobile_list"]];
                        for list in lists {
                            assert!(strings(list).iter().all(|entry| !entry.contains("all")), "{list}");
                        }
                    }
                    _ => {}
                }
                // The hostile text is still there for people to read, only harmless.
                assert!(body.to_string().contains("＜at id=all＞＜/at＞ ［link］（http://evil）"), "{kind:?}");
            }
        }
        assert!(seen_text_variant);
    }
}
