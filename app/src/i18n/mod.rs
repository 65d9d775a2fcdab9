//! Languages: zh-CN and en, with every user-visible string in `locales/*.json`.
//!
//! The build script turns the locale files into one [`Strings`] table per language, checked to
//! have the same keys and placeholders. A component reads its text as `i18n.t().some_key`; a
//! misspelt key does not compile.
//!
//! The language is chosen by the user's explicit choice (the [`LANG_COOKIE`] cookie), else the
//! signed-in user's preferred language ([`PreferredLocale`]), else the browser's
//! `Accept-Language`, else English. The server renders `<html lang>` with it, and the islands read
//! that attribute in the browser, so both sides speak the same language. Switching reloads the
//! page (`POST /lang`); for a signed-in user it also becomes their preferred language, the one
//! their emails and reports are written in (audited as a user update).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

include!(concat!(env!("OUT_DIR"), "/strings.rs"));

/// Name of the cookie holding the user's explicit language choice.
pub const LANG_COOKIE: &str = "baton_lang";

/// A language the UI speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Locale {
    /// English, the fallback.
    #[default]
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Locale {
    /// Every language, in the order the switcher shows them.
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    /// The BCP 47 tag, as used in `<html lang>` and the cookie.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }

    /// The language's own name for itself, shown in the switcher.
    pub fn native_name(self) -> &'static str {
        self.strings().language_name
    }

    /// The string table of this language.
    pub fn strings(self) -> &'static Strings {
        match self {
            Locale::En => &EN,
            Locale::ZhCn => &ZH_CN,
        }
    }

    /// Reads a tag leniently: `zh`, `zh-CN`, `zh-Hans`, `zh_cn` all mean Chinese; `en-GB` English.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Locale::ZhCn),
            "en" => Some(Locale::En),
            _ => None,
        }
    }

    /// Picks the best supported language from an `Accept-Language` header value, honouring
    /// q-values; `None` when the header names none we speak.
    pub fn negotiate(accept_language: &str) -> Option<Self> {
        let mut best: Option<(f32, Locale)> = None;
        for part in accept_language.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or_default().trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            if let Some(locale) = Locale::from_tag(tag) {
                // Strictly greater: on a tie the earlier entry wins, as the header orders them.
                if best.is_none_or(|(best_q, _)| q > best_q) {
                    best = Some((q, locale));
                }
            }
        }
        best.map(|(_, locale)| locale)
    }

    /// The language for a request: the cookie's explicit choice, else the signed-in user's
    /// preferred language, else `Accept-Language`, else en.
    pub fn for_request(
        cookie_header: Option<&str>,
        user_preference: Option<Locale>,
        accept_language: Option<&str>,
    ) -> Self {
        cookie_header
            .and_then(|cookies| {
                cookies.split(';').find_map(|c| {
                    let (name, value) = c.trim().split_once('=')?;
                    (name == LANG_COOKIE).then(|| Locale::from_tag(value)).flatten()
                })
            })
            .or(user_preference)
            .or_else(|| accept_language.and_then(Locale::negotiate))
            .unwrap_or_default()
    }
}

/// The signed-in user's preferred language, put into the request extensions by whoever
/// authenticates the request. Language choice reads this, not the user: i18n does not depend on
/// auth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreferredLocale(pub Locale);

/// Fills `{name}` placeholders of a translated template.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// A template split around its `{name}` placeholder, for putting markup (a `<time>`) there:
/// `("In this stage since ", "")`. Without the placeholder, all of it comes first.
pub fn around<'a>(template: &'a str, name: &str) -> (&'a str, &'a str) {
    template.split_once(&format!("{{{name}}}")).unwrap_or((template, ""))
}

/// The current language of the page, shared through context.
#[derive(Clone, Copy, Debug)]
pub struct I18n {
    locale: Locale,
}

impl I18n {
    /// The page's language (fixed for the page's life: a switch loads the page again).
    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The page's string table.
    pub fn t(&self) -> &'static Strings {
        self.locale.strings()
    }
}

/// One year, in seconds: the language choice outlives sessions.
pub const LANG_COOKIE_MAX_AGE: u32 = 365 * 24 * 3600;

/// Puts the language context in place for this render. On the server the request decides; in
/// the browser (an island) the `<html lang>` the server rendered does.
pub fn provide_i18n() -> I18n {
    let i18n = I18n { locale: initial_locale() };
    provide_context(i18n);
    i18n
}

/// The language context provided by [`provide_i18n`]. An island hydrating in the browser has no
/// parent to provide it, so it provides its own from the page's `<html lang>`.
pub fn use_i18n() -> I18n {
    use_context::<I18n>().unwrap_or_else(provide_i18n)
}

#[cfg(feature = "ssr")]
fn initial_locale() -> Locale {
    use_context::<http::request::Parts>()
        .map(|parts| {
            let header = |name: http::header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
            let preference = parts.extensions.get::<PreferredLocale>().map(|p| p.0);
            Locale::for_request(header(http::header::COOKIE), preference, header(http::header::ACCEPT_LANGUAGE))
        })
        .unwrap_or_default()
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn initial_locale() -> Locale {
    document()
        .document_element()
        .and_then(|html| html.get_attribute("lang"))
        .and_then(|tag| Locale::from_tag(&tag))
        .unwrap_or_default()
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn initial_locale() -> Locale {
    Locale::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_highest_quality_supported_language() {
        assert_eq!(Locale::negotiate("zh-CN,zh;q=0.9,en;q=0.8"), Some(Locale::ZhCn));
        assert_eq!(Locale::negotiate("en-US,en;q=0.9,zh-CN;q=0.8"), Some(Locale::En));
        assert_eq!(Locale::negotiate("fr-FR, zh-TW;q=0.5, en;q=0.7"), Some(Locale::En));
        assert_eq!(Locale::negotiate("de, zh;q=0"), None);
        assert_eq!(Locale::negotiate(""), None);
    }

    #[test]
    fn the_cookie_beats_the_user_preference_which_beats_accept_language_then_english() {
        assert_eq!(Locale::for_request(Some("a=1; baton_lang=zh-CN"), Some(Locale::En), Some("en")), Locale::ZhCn);
        assert_eq!(Locale::for_request(Some("baton_lang=en"), None, Some("zh-CN")), Locale::En);
        assert_eq!(Locale::for_request(Some("other=zh"), None, Some("zh-CN,en;q=0.5")), Locale::ZhCn);
        assert_eq!(Locale::for_request(None, Some(Locale::ZhCn), Some("en")), Locale::ZhCn);
        assert_eq!(Locale::for_request(Some("baton_lang=xx"), None, None), Locale::En);
        assert_eq!(Locale::for_request(None, None, None), Locale::En);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_page_language_reads_the_preference_the_auth_layer_put_into_the_request() {
        let owner = Owner::new();
        owner.set();
        let request = |preference: Option<Locale>| {
            let mut request = http::Request::builder().header(http::header::ACCEPT_LANGUAGE, "en").body(()).unwrap();
            if let Some(locale) = preference {
                request.extensions_mut().insert(PreferredLocale(locale));
            }
            request.into_parts().0
        };
        provide_context(request(Some(Locale::ZhCn)));
        assert_eq!(initial_locale(), Locale::ZhCn);
        provide_context(request(None));
        assert_eq!(initial_locale(), Locale::En);
    }

    #[test]
    fn every_language_has_its_own_strings() {
        assert_ne!(EN.language_name, ZH_CN.language_name);
        assert_eq!(Locale::from_tag(Locale::ZhCn.tag()), Some(Locale::ZhCn));
        assert_eq!(Locale::from_tag(Locale::En.tag()), Some(Locale::En));
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(fill("{a} and {b}, {a}", &[("a", "x"), ("b", "y")]), "x and y, x");
    }
}
