//! Server-side rendering of incident comments: plain text with a small, safe subset of Markdown.
//!
//! The pipeline is: pulldown-cmark (CommonMark only, no extensions) → a normalisation pass that
//! maps everything outside the subset onto plain text or allowed constructs → text segmentation
//! (bare URLs, `@mentions`) → HTML → ammonia with an explicit allowlist. The normalisation pass is
//! the first line of defence and keeps the output readable; ammonia is the backstop that the
//! security guarantees rest on, so it is configured from scratch rather than from its defaults.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::LazyLock;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, TextMergeStream};

/// Containers (quotes, lists, emphasis) nested deeper than this are flattened: nobody writes
/// them on purpose, and they make the HTML tree (and every later consumer of it) needlessly deep.
const MAX_NESTING: usize = 32;
const NAME_MIN: usize = 3;
const NAME_MAX: usize = 32;
const LINK_REL: &str = "noopener noreferrer nofollow";

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    // Start from `empty()` and overwrite every list: `empty()` only clears the tags and would
    // otherwise keep ammonia's generous default attributes and URL schemes.
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(HashSet::from(["p", "br", "ul", "ol", "li", "code", "pre", "em", "strong", "blockquote", "a", "span"]))
        .clean_content_tags(HashSet::from(["script", "style"]))
        .tag_attributes(HashMap::from([("a", HashSet::from(["href"]))]))
        .tag_attribute_values(HashMap::new())
        .set_tag_attribute_values(HashMap::new())
        .generic_attributes(HashSet::new())
        .generic_attribute_prefixes(HashSet::new())
        .allowed_classes(HashMap::from([("span", HashSet::from(["mention"]))]))
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some(LINK_REL))
        .id_prefix(None)
        .strip_comments(true);
    builder
});

/// Renders a comment's text to safe HTML.
///
/// `mentioned` holds the lowercased names of users that exist, so that only real mentions get
/// highlighted; a typo'd `@name` stays plain text instead of looking like a notification was sent.
/// Blank input yields an empty string so callers can skip the comment body entirely.
pub fn render(text: &str, mentioned: &[String]) -> String {
    if text.trim().is_empty() {
        return String::new();
    }
    let known: HashSet<&str> = mentioned.iter().map(String::as_str).collect();
    let mut events: Vec<Event<'_>> = Vec::new();
    let mut ctx = Context::default();
    for event in TextMergeStream::new(normalize(text).into_iter()) {
        match &event {
            Event::Text(t) if !ctx.in_code => {
                for piece in split_text(t, ctx.prev) {
                    match piece {
                        Piece::Plain(s) => events.push(Event::Text(CowStr::from(s.to_owned()))),
                        Piece::Url(url) if ctx.link_depth == 0 => {
                            let url = CowStr::from(url.to_owned());
                            events.push(Event::Start(Tag::Link {
                                link_type: LinkType::Autolink,
                                dest_url: url.clone(),
                                title: CowStr::Borrowed(""),
                                id: CowStr::Borrowed(""),
                            }));
                            events.push(Event::Text(url));
                            events.push(Event::End(TagEnd::Link));
                        }
                        Piece::Url(url) => events.push(Event::Text(CowStr::from(url.to_owned()))),
                        Piece::Mention(name) if known.contains(name.to_ascii_lowercase().as_str()) => {
                            // The only raw HTML that ever reaches the HTML writer: source HTML was
                            // turned into text by `normalize`.
                            let span = format!("<span class=\"mention\">@{}</span>", crate::mail::html::escape(name));
                            events.push(Event::Html(CowStr::from(span)));
                        }
                        Piece::Mention(name) => events.push(Event::Text(CowStr::from(format!("@{name}")))),
                    }
                }
            }
            _ => events.push(event.clone()),
        }
        ctx.update(&event);
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    let clean = SANITIZER.clean(&html).to_string();
    if clean.trim().is_empty() {
        String::new()
    } else {
        clean
    }
}

/// The usernames mentioned as `@name` in `text`, lowercased, deduplicated, in order of first appearance.
///
/// Uses the same parse as [`render`], so the users notified are exactly the ones whose mention is
/// shown highlighted (code samples and URLs such as `https://host/@user` never notify anyone).
pub fn mentions(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    let mut ctx = Context::default();
    for event in TextMergeStream::new(normalize(text).into_iter()) {
        if let Event::Text(t) = &event {
            if !ctx.in_code {
                for piece in split_text(t, ctx.prev) {
                    if let Piece::Mention(name) = piece {
                        let name = name.to_ascii_lowercase();
                        if seen.insert(name.clone()) {
                            names.push(name);
                        }
                    }
                }
            }
        }
        ctx.update(&event);
    }
    names
}

/// What a `Start` event turned into, so its `End` can be mapped the same way.
struct Frame {
    close: Option<TagEnd>,
    counts_nesting: bool,
    is_link: bool,
}

impl Frame {
    fn emit(close: TagEnd) -> Self {
        Frame { close: Some(close), counts_nesting: false, is_link: false }
    }

    fn skip() -> Self {
        Frame { close: None, counts_nesting: false, is_link: false }
    }
}

struct ImageState<'a> {
    depth: usize,
    alt: String,
    dest: CowStr<'a>,
}

/// Parses `src` and rewrites the event stream so that it only contains the supported subset.
///
/// Raw HTML becomes text (users pasting markup should see it, not lose it), headings become
/// paragraphs, images become their alt text or a link, disallowed links keep only their text,
/// and soft breaks become hard breaks because people type comments like chat messages.
fn normalize(src: &str) -> Vec<Event<'_>> {
    let mut out: Vec<Event<'_>> = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    let mut nesting = 0usize;
    let mut links_open = 0usize;
    let mut image: Option<ImageState<'_>> = None;
    let mut html_block: Option<String> = None;

    for (event, range) in Parser::new_ext(src, Options::empty()).into_offset_iter() {
        if let Some(state) = image.as_mut() {
            match event {
                Event::Start(Tag::Image { .. }) => state.depth += 1,
                Event::End(TagEnd::Image) => {
                    state.depth -= 1;
                    if state.depth == 0 {
                        if let Some(state) = image.take() {
                            finish_image(&mut out, state, links_open > 0);
                        }
                    }
                }
                Event::Text(t)
                | Event::Code(t)
                | Event::Html(t)
                | Event::InlineHtml(t)
                | Event::InlineMath(t)
                | Event::DisplayMath(t) => state.alt.push_str(&t),
                Event::SoftBreak | Event::HardBreak => state.alt.push(' '),
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(tag) => {
                start_tag(&mut out, &mut frames, &mut nesting, &mut links_open, &mut image, &mut html_block, tag)
            }
            Event::End(TagEnd::HtmlBlock) => {
                if let Some(buf) = html_block.take() {
                    push_text_block(&mut out, &buf);
                }
            }
            Event::End(_) => {
                if let Some(frame) = frames.pop() {
                    if frame.counts_nesting {
                        nesting -= 1;
                    }
                    if frame.is_link {
                        links_open -= 1;
                    }
                    if let Some(close) = frame.close {
                        out.push(Event::End(close));
                    }
                }
            }
            Event::Html(t) => match html_block.as_mut() {
                Some(buf) => buf.push_str(&t),
                None => push_lines(&mut out, &t),
            },
            Event::InlineHtml(t) => push_lines(&mut out, &t),
            Event::Text(t) => out.push(Event::Text(t)),
            Event::Code(t) => out.push(Event::Code(t)),
            Event::InlineMath(t) | Event::DisplayMath(t) => out.push(Event::Text(t)),
            Event::SoftBreak | Event::HardBreak => out.push(Event::HardBreak),
            Event::Rule => push_text_block(&mut out, source_slice(src, range)),
            Event::FootnoteReference(name) => out.push(Event::Text(CowStr::from(format!("[^{name}]")))),
            Event::TaskListMarker(done) => out.push(Event::Text(CowStr::Borrowed(if done { "[x] " } else { "[ ] " }))),
        }
    }
    // The parser always balances its events, but a missing `End` must not lose text.
    if let Some(state) = image.take() {
        finish_image(&mut out, state, links_open > 0);
    }
    if let Some(buf) = html_block.take() {
        push_text_block(&mut out, &buf);
    }
    out
}

fn start_tag<'a>(
    out: &mut Vec<Event<'a>>,
    frames: &mut Vec<Frame>,
    nesting: &mut usize,
    links_open: &mut usize,
    image: &mut Option<ImageState<'a>>,
    html_block: &mut Option<String>,
    tag: Tag<'a>,
) {
    let mut nested = |open: Tag<'a>, close: TagEnd, out: &mut Vec<Event<'a>>| {
        if *nesting < MAX_NESTING {
            *nesting += 1;
            out.push(Event::Start(open));
            Frame { close: Some(close), counts_nesting: true, is_link: false }
        } else {
            Frame::skip()
        }
    };
    let frame = match tag {
        Tag::Paragraph | Tag::Heading { .. } => {
            out.push(Event::Start(Tag::Paragraph));
            Frame::emit(TagEnd::Paragraph)
        }
        Tag::BlockQuote(_) => nested(Tag::BlockQuote(None), TagEnd::BlockQuote(None), out),
        Tag::List(first) => {
            let ordered = first.is_some();
            nested(Tag::List(first), TagEnd::List(ordered), out)
        }
        Tag::Emphasis => nested(Tag::Emphasis, TagEnd::Emphasis, out),
        Tag::Strong => nested(Tag::Strong, TagEnd::Strong, out),
        // An item is kept exactly when its list was, so no `<li>` is ever orphaned.
        Tag::Item if frames.last().is_some_and(|f| f.close.is_some()) => {
            out.push(Event::Start(Tag::Item));
            Frame::emit(TagEnd::Item)
        }
        Tag::CodeBlock(kind) => {
            // Drop the info string: it would only become a class that the sanitiser strips.
            let kind = match kind {
                CodeBlockKind::Fenced(_) => CodeBlockKind::Fenced(CowStr::Borrowed("")),
                CodeBlockKind::Indented => CodeBlockKind::Indented,
            };
            out.push(Event::Start(Tag::CodeBlock(kind)));
            Frame::emit(TagEnd::CodeBlock)
        }
        Tag::Link { link_type, dest_url, .. } if *links_open == 0 && link_allowed(link_type, &dest_url) => {
            *links_open += 1;
            out.push(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title: CowStr::Borrowed(""),
                id: CowStr::Borrowed(""),
            }));
            Frame { close: Some(TagEnd::Link), counts_nesting: false, is_link: true }
        }
        Tag::Image { dest_url, .. } => {
            *image = Some(ImageState { depth: 1, alt: String::new(), dest: dest_url });
            return;
        }
        Tag::HtmlBlock => {
            *html_block = Some(String::new());
            return;
        }
        // Everything else (rejected links, over-deep items, extensions that are switched off)
        // keeps its content and loses its markup.
        _ => Frame::skip(),
    };
    frames.push(frame);
}

/// Whether a link destination may become an `href`. Checked here so rejected links render as
/// their text rather than as an `<a>` without a target; ammonia enforces the same rule again.
fn link_allowed(link_type: LinkType, dest: &str) -> bool {
    if matches!(link_type, LinkType::Email) {
        // The HTML writer prefixes these with `mailto:` itself.
        return true;
    }
    let dest = dest.trim_start();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| dest.get(..scheme.len()).is_some_and(|head| head.eq_ignore_ascii_case(scheme)))
}

fn finish_image<'a>(out: &mut Vec<Event<'a>>, state: ImageState<'a>, inside_link: bool) {
    let alt = state.alt.trim();
    if !alt.is_empty() {
        out.push(Event::Text(CowStr::from(alt.to_owned())));
    } else if !inside_link && link_allowed(LinkType::Inline, &state.dest) {
        out.push(Event::Start(Tag::Link {
            link_type: LinkType::Inline,
            dest_url: state.dest.clone(),
            title: CowStr::Borrowed(""),
            id: CowStr::Borrowed(""),
        }));
        out.push(Event::Text(state.dest));
        out.push(Event::End(TagEnd::Link));
    } else if !state.dest.trim().is_empty() {
        out.push(Event::Text(state.dest));
    }
}

fn source_slice(src: &str, range: Range<usize>) -> &str {
    src.get(range).unwrap_or_default().trim()
}

/// Text that stood on its own block (raw HTML blocks, thematic breaks) becomes a paragraph.
fn push_text_block<'a>(out: &mut Vec<Event<'a>>, text: &str) {
    let text = text.trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return;
    }
    out.push(Event::Start(Tag::Paragraph));
    push_lines(out, text);
    out.push(Event::End(TagEnd::Paragraph));
}

/// Escaped-as-text HTML keeps its line structure, like every other line the user typed.
fn push_lines<'a>(out: &mut Vec<Event<'a>>, text: &str) {
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push(Event::HardBreak);
        }
        let line = line.trim_end_matches('\r');
        if !line.is_empty() {
            out.push(Event::Text(CowStr::from(line.to_owned())));
        }
    }
}

/// Where the segmenter is in the normalised event stream.
#[derive(Default)]
struct Context {
    in_code: bool,
    link_depth: usize,
    /// The last character of visible text in the current block, so that `**bob**@example.com`
    /// is still recognised as an email address although the parts are separate events.
    prev: Option<char>,
}

impl Context {
    fn update(&mut self, event: &Event<'_>) {
        match event {
            Event::Start(Tag::CodeBlock(_)) => {
                self.in_code = true;
                self.prev = None;
            }
            Event::End(TagEnd::CodeBlock) => {
                self.in_code = false;
                self.prev = None;
            }
            Event::Start(Tag::Link { .. }) => self.link_depth += 1,
            Event::End(TagEnd::Link) => self.link_depth = self.link_depth.saturating_sub(1),
            Event::Start(Tag::Emphasis | Tag::Strong) | Event::End(TagEnd::Emphasis | TagEnd::Strong) => {}
            Event::Text(t) | Event::Code(t) => self.prev = t.chars().next_back().or(self.prev),
            _ => self.prev = None,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Piece<'t> {
    Plain(&'t str),
    Url(&'t str),
    /// The name as written (without `@`), original case.
    Mention(&'t str),
}

/// Splits a text run into plain text, bare URLs and mentions. URLs are matched first so that
/// `https://host/@user` is a link and not a mention.
fn split_text(text: &str, mut prev: Option<char>) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut plain_start = 0;
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let rest = &text[i..];
        let found = match c {
            'h' | 'H' => url_len(rest, prev).map(|n| (Piece::Url(&rest[..n]), n)),
            '@' => mention_len(rest, prev).map(|n| (Piece::Mention(&rest[1..n]), n)),
            _ => None,
        };
        match found {
            Some((piece, n)) => {
                if plain_start < i {
                    pieces.push(Piece::Plain(&text[plain_start..i]));
                }
                pieces.push(piece);
                i += n;
                plain_start = i;
                prev = text[..i].chars().next_back();
            }
            None => {
                prev = Some(c);
                i += c.len_utf8();
            }
        }
    }
    if plain_start < text.len() {
        pieces.push(Piece::Plain(&text[plain_start..]));
    }
    pieces
}

/// Length in bytes of a bare `http(s)://` URL at the start of `s`, if there is one.
fn url_len(s: &str, prev: Option<char>) -> Option<usize> {
    if prev.is_some_and(char::is_alphanumeric) {
        return None;
    }
    let scheme_len = ["https://", "http://"]
        .iter()
        .find(|scheme| s.get(..scheme.len()).is_some_and(|head| head.eq_ignore_ascii_case(scheme)))?
        .len();
    if !s[scheme_len..].chars().next().is_some_and(char::is_alphanumeric) {
        return None;
    }
    let mut end = s
        .char_indices()
        .find(|&(_, c)| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '`'))
        .map_or(s.len(), |(i, _)| i);
    // Sentence punctuation and a closing bracket around the URL belong to the prose, not the URL.
    loop {
        let candidate = &s[..end];
        let trim = match candidate.chars().next_back() {
            Some('.' | ',' | ':' | ';' | '!' | '?' | '\'' | '*' | '_' | '~') => true,
            Some(')') => candidate.matches('(').count() < candidate.matches(')').count(),
            Some(']') => candidate.matches('[').count() < candidate.matches(']').count(),
            _ => false,
        };
        if !trim || end <= scheme_len + 1 {
            break;
        }
        end -= 1; // every trimmed character is ASCII
    }
    Some(end)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Characters that, right before an `@`, make it part of a word or an email address
/// (`bob@example.com`, `a+b@example.com`) rather than the start of a mention.
fn blocks_mention(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(c, '.' | '_' | '-' | '+' | '%' | '=' | '@' | '#' | '$' | '&' | '^' | '{' | '|' | '}' | '~')
}

/// Length in bytes of `@name` at the start of `s` (which starts with `@`), if it is a mention.
fn mention_len(s: &str, prev: Option<char>) -> Option<usize> {
    if prev.is_some_and(blocks_mention) {
        return None;
    }
    let body = s.get(1..)?;
    let run_len = body.find(|c: char| !is_name_char(c)).unwrap_or(body.len());
    // `@bob@example.com` or `@bobé` is not a clean mention of `bob`.
    if body[run_len..].chars().next().is_some_and(|c| c == '@' || c.is_alphanumeric()) {
        return None;
    }
    let name = body[..run_len].trim_end_matches(['.', '_', '-']);
    (NAME_MIN..=NAME_MAX).contains(&name.len()).then_some(1 + name.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALLOWED_TAGS: &[&str] =
        &["p", "br", "ul", "ol", "li", "code", "pre", "em", "strong", "blockquote", "a", "span"];

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A tiny scanner over the sanitised output: every `<` starts a tag (text `<` is escaped),
    /// tags must be allowlisted, attributes limited to href/rel/class with safe values, and the
    /// tags must nest properly.
    fn assert_safe(html: &str) -> Vec<String> {
        let mut hrefs = Vec::new();
        // Text `<` is always escaped, so these can only match real markup. `style=` and `on...=`
        // may legitimately appear in escaped text; the attribute scan below rejects them in tags.
        for needle in ["<script", "<img", "<svg", "<div", "<iframe", "<!--"] {
            assert!(!html.to_ascii_lowercase().contains(needle), "found {needle:?} in {html:?}");
        }
        let mut open: Vec<String> = Vec::new();
        let mut rest = html;
        while let Some(lt) = rest.find('<') {
            let gt = rest[lt..].find('>').map(|g| lt + g).unwrap_or_else(|| panic!("unclosed tag in {html:?}"));
            let inner = &rest[lt + 1..gt];
            assert!(!inner.contains("style=") && !inner.contains(" on"), "{inner:?} in {html:?}");
            rest = &rest[gt + 1..];
            let (closing, inner) = match inner.strip_prefix('/') {
                Some(i) => (true, i),
                None => (false, inner),
            };
            let name_end = inner.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(inner.len());
            let name = &inner[..name_end];
            assert!(ALLOWED_TAGS.contains(&name), "tag {name:?} in {html:?}");
            if closing {
                assert_eq!(open.pop().as_deref(), Some(name), "misnested in {html:?}");
                continue;
            }
            if name != "br" {
                open.push(name.to_string());
            }
            let mut attrs = inner[name_end..].trim_start();
            while !attrs.is_empty() {
                let eq = attrs.find("=\"").unwrap_or_else(|| panic!("bad attribute {attrs:?} in {html:?}"));
                let attr = &attrs[..eq];
                let value_end = attrs[eq + 2..].find('"').expect("unterminated attribute value") + eq + 2;
                let value = &attrs[eq + 2..value_end];
                match (name, attr) {
                    ("a", "href") => {
                        let v = value.to_ascii_lowercase();
                        assert!(
                            v.starts_with("http://") || v.starts_with("https://") || v.starts_with("mailto:"),
                            "href {value:?} in {html:?}"
                        );
                        hrefs.push(v);
                    }
                    ("a", "rel") => assert_eq!(value, LINK_REL),
                    ("span", "class") => assert_eq!(value, "mention"),
                    _ => panic!("attribute {attr:?} on {name:?} in {html:?}"),
                }
                attrs = attrs[value_end + 1..].trim_start();
            }
        }
        assert!(open.is_empty(), "unclosed {open:?} in {html:?}");
        hrefs
    }

    #[test]
    fn xss_payloads_are_inert() {
        let payloads = [
            "<script>alert(1)</script>",
            "[x](javascript:alert(1))",
            "[x](JAVASCRIPT:alert(1))",
            "[x](  javascript:alert(1))",
            "[x](java&#115;cript:alert(1))",
            "<img src=x onerror=alert(1)>",
            "<a href=\"javascript:x\">y</a>",
            "<svg onload=alert(1)>",
            "<scr<script>ipt>alert(1)</script>",
            "<div style=\"x\">hi</div>",
            "![x](javascript:alert(1))",
            "![](javascript:alert(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "<javascript:alert(1)>",
            "[x]: vbscript:msgbox(1)\n\n[x]",
            "[x](/relative/path)",
            "<!-- comment --> text",
            "<iframe src=https://evil.example></iframe>",
            "[x](https://ok.example \"title\" onclick=alert(1))",
            "```js onload=x\ncode\n```",
            "text <b onmouseover=alert(1)>bold</b>",
        ];
        for payload in payloads {
            let html = render(payload, &[]);
            let hrefs = assert_safe(&html);
            assert!(hrefs.iter().all(|h| !h.contains("javascript:") && !h.starts_with("data:")), "{html:?}");
        }
    }

    #[test]
    fn raw_html_is_shown_escaped_not_dropped() {
        let html = render("<script>alert(1)</script>", &[]);
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        let html = render("<img src=x onerror=alert(1)>", &[]);
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
        let html = render("a <b>bold</b> word", &[]);
        assert_eq!(html.trim(), "<p>a &lt;b&gt;bold&lt;/b&gt; word</p>");
        let html = render("<div>\nline\n</div>", &[]);
        assert_eq!(html.trim(), "<p>&lt;div&gt;<br>\nline<br>\n&lt;/div&gt;</p>");
    }

    #[test]
    fn rejected_links_keep_their_text() {
        assert_eq!(render("[x](javascript:alert(1))", &[]).trim(), "<p>x</p>");
        assert_eq!(render("[x](/local)", &[]).trim(), "<p>x</p>");
        assert_eq!(render("![x](javascript:alert(1))", &[]).trim(), "<p>x</p>");
    }

    #[test]
    fn lists_render() {
        let html = render("- one\n- two\n\n1. first\n2. second", &[]);
        assert!(html.contains("<ul>\n<li>one</li>\n<li>two</li>\n</ul>"), "{html}");
        assert!(html.contains("<ol>\n<li>first</li>\n<li>second</li>\n</ol>"), "{html}");
        assert_safe(&html);
    }

    #[test]
    fn code_is_escaped() {
        let html = render("```rust\n<b>x</b> @alice https://x.example\n```", &names(&["alice"]));
        assert_eq!(html.trim(), "<pre><code>&lt;b&gt;x&lt;/b&gt; @alice https://x.example\n</code></pre>");
        let html = render("run `<b>` now", &[]);
        assert_eq!(html.trim(), "<p>run <code>&lt;b&gt;</code> now</p>");
        let html = render("    indented <i>\n", &[]);
        assert_eq!(html.trim(), "<pre><code>indented &lt;i&gt;\n</code></pre>");
    }

    #[test]
    fn links_get_rel() {
        let html = render("[docs](https://example.com/a?b=1&c=2)", &[]);
        assert_eq!(
            html.trim(),
            "<p><a href=\"https://example.com/a?b=1&amp;c=2\" rel=\"noopener noreferrer nofollow\">docs</a></p>"
        );
        let html = render("<https://example.com>", &[]);
        assert!(html.contains("<a href=\"https://example.com\" rel=\"noopener noreferrer nofollow\">"), "{html}");
        let html = render("<ops@example.com>", &[]);
        assert!(html.contains("<a href=\"mailto:ops@example.com\" rel=\"noopener noreferrer nofollow\">"), "{html}");
    }

    #[test]
    fn bare_urls_are_linked() {
        let html = render("see https://example.com/x_(y). and (http://a.example/b)", &[]);
        assert_eq!(
            html.trim(),
            "<p>see <a href=\"https://example.com/x_(y)\" rel=\"noopener noreferrer nofollow\">https://example.com/x_(y)</a>. \
             and (<a href=\"http://a.example/b\" rel=\"noopener noreferrer nofollow\">http://a.example/b</a>)</p>"
        );
        // Not linked twice inside an existing link, not in code, not mid-word.
        let html = render("[https://a.example](https://b.example) `https://c.example` xhttps://d.example", &[]);
        assert_eq!(html.matches("<a ").count(), 1, "{html}");
        assert!(!html.contains("https://d.example\""), "{html}");
        assert_eq!(render("https:// nothing", &[]).trim(), "<p>https:// nothing</p>");
    }

    #[test]
    fn newlines_become_breaks() {
        assert_eq!(render("a\nb", &[]).trim(), "<p>a<br>\nb</p>");
        assert_eq!(render("a  \nb", &[]).trim(), "<p>a<br>\nb</p>");
        assert_eq!(render("a\n\nb", &[]).trim(), "<p>a</p>\n<p>b</p>");
    }

    #[test]
    fn headings_rules_and_images_degrade() {
        assert_eq!(render("# Title", &[]).trim(), "<p>Title</p>");
        assert_eq!(render("Title\n===", &[]).trim(), "<p>Title</p>");
        assert_eq!(render("***", &[]).trim(), "<p>***</p>");
        assert_eq!(render("![a *b*](https://img.example/x.png)", &[]).trim(), "<p>a b</p>");
        assert_eq!(
            render("![](https://img.example/x.png)", &[]).trim(),
            "<p><a href=\"https://img.example/x.png\" rel=\"noopener noreferrer nofollow\">https://img.example/x.png</a></p>"
        );
        let html = render("[![](https://img.example/x.png)](https://t.example)", &[]);
        assert_eq!(html.matches("<a ").count(), 1, "{html}");
        assert_eq!(render("| a | b |\n|---|---|\n| 1 | 2 |", &[]).matches("<table").count(), 0);
    }

    #[test]
    fn emphasis_and_quotes_render() {
        let html = render("> *a* **b**\n> > c", &[]);
        assert_eq!(
            html.trim(),
            "<blockquote>\n<p><em>a</em> <strong>b</strong></p>\n<blockquote>\n<p>c</p>\n</blockquote>\n</blockquote>"
        );
    }

    #[test]
    fn blank_input_renders_empty() {
        for text in ["", " ", "\n\n\t ", "[x]: https://example.com"] {
            assert_eq!(render(text, &[]), "", "{text:?}");
        }
    }

    #[test]
    fn mention_extraction() {
        assert_eq!(mentions("hi @Alice and @bob_1, cc @ALICE"), names(&["alice", "bob_1"]));
        assert_eq!(mentions("mail bob@example.com or a+b@example.com"), Vec::<String>::new());
        assert_eq!(mentions("thanks @dev1. and @ops-team- and @x_y_"), names(&["dev1", "ops-team", "x_y"]));
        assert_eq!(mentions("`@code` and\n```\n@block\n```\n    @indented"), Vec::<String>::new());
        assert_eq!(mentions("@ab @abc"), names(&["abc"]));
        let long = format!("@{}", "a".repeat(33));
        assert!(mentions(&long).is_empty());
        let max = format!("@{}", "a".repeat(32));
        assert_eq!(mentions(&max), vec!["a".repeat(32)]);
        assert_eq!(
            mentions("(@carol) \"@dave\" **@erin** [@frank](https://x.example)"),
            names(&["carol", "dave", "erin", "frank"])
        );
        assert_eq!(mentions("https://social.example/@gina and **bob**@example.com"), Vec::<String>::new());
        assert_eq!(mentions("@bob@example.com @@@"), Vec::<String>::new());
        assert_eq!(mentions("> quoted @hank\n- item @ivan"), names(&["hank", "ivan"]));
        assert_eq!(mentions("<b>@judy</b>"), names(&["judy"]));
    }

    #[test]
    fn mention_highlighting() {
        let known = names(&["alice"]);
        let html = render("@Alice and @bob, `@alice`", &known);
        assert_eq!(html.trim(), "<p><span class=\"mention\">@Alice</span> and @bob, <code>@alice</code></p>");
        let html = render("mail alice@example.com", &known);
        assert!(!html.contains("<span"), "{html}");
        let html = render("thanks @alice.", &known);
        assert_eq!(html.trim(), "<p>thanks <span class=\"mention\">@alice</span>.</p>");
        assert_safe(&html);
    }

    #[test]
    fn split_text_pieces() {
        assert_eq!(
            split_text("x @abc https://a.b/@c.", None),
            vec![
                Piece::Plain("x "),
                Piece::Mention("abc"),
                Piece::Plain(" "),
                Piece::Url("https://a.b/@c"),
                Piece::Plain(".")
            ]
        );
        assert_eq!(split_text("é@abc", None), vec![Piece::Plain("é@abc")]);
        assert_eq!(split_text("@abc", Some('b')), vec![Piece::Plain("@abc")]);
    }

    fn odd_inputs() -> Vec<String> {
        vec![
            String::new(),
            " \t\n\r\n".into(),
            ">".repeat(10_000),
            "> ".repeat(10_000) + "@alice",
            "- ".repeat(10_000) + "x",
            "1. ".repeat(5_000) + "x",
            "  ".repeat(5_000) + "- x",
            "*".repeat(10_000) + "a" + &"*".repeat(10_000),
            "_".repeat(10_001),
            "[".repeat(10_000) + &"]".repeat(5_000) + &"(".repeat(5_000),
            "![".repeat(5_000) + "x",
            "[x](".repeat(5_000),
            "<".repeat(10_000),
            "`".repeat(10_000),
            "```\n".repeat(1_000),
            "\0\0\0 @ali\0ce \0<script>\0".into(),
            "a".repeat(1_000_000),
            "https://".repeat(10_000),
            "@".repeat(10_000),
            "@a".repeat(10_000),
            "x\u{feff}\u{202e}\u{200b}@alice\u{0301} 🎉 https://例え.jp/パス".into(),
            "\r\r\n\u{2028}\u{85}".into(),
            "&#0; &#x110000; &bogus; &amp;".into(),
            "[a]: <>\n[a]".into(),
            "<!--".into(),
            "<?php echo 1; ?>".into(),
            "- a\n  > b\n    ```\n    c".into(),
        ]
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let known = names(&["alice"]);
        for text in odd_inputs() {
            let html = render(&text, &known);
            assert_safe(&html);
            let _ = mentions(&text);
            if text.trim().is_empty() {
                assert_eq!(html, "");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_and_stays_safe(text in r"([<>/\[\]()!*_`#\-+=:. \n\t@a-zA-Z0-9&;'\x22\\]|javascript:|https://|<script>|onerror=|\x00|é){0,200}") {
            let html = render(&text, &names(&["alice", "abc"]));
            assert_safe(&html);
            let found = mentions(&text);
            prop_assert!(found.iter().all(|n| (NAME_MIN..=NAME_MAX).contains(&n.len())));
        }

        #[test]
        fn arbitrary_unicode_never_panics(text in any::<String>()) {
            let html = render(&text, &[]);
            assert_safe(&html);
            let _ = mentions(&text);
        }
    }
}
