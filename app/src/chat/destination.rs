//! Where a channel may post: the platforms' official hosts, plus hosts an admin allowed by name.
//!
//! A webhook URL is typed by an admin, but it makes the server send requests: aimed at
//! `127.0.0.1`, a `10.x` address or the cloud metadata service, it would let the form reach inside
//! the network (server-side request forgery). So a URL is checked when it is saved and again
//! before every request, redirects are never followed (a redirect could leave the allowed host),
//! and an internal address is refused unless an admin typed that very host into the allow-list.

use std::net::IpAddr;

use reqwest::Url;

/// The hosts of the platforms' robot APIs, always allowed.
pub const OFFICIAL_HOSTS: [&str; 4] =
    ["oapi.dingtalk.com", "qyapi.weixin.qq.com", "open.feishu.cn", "open.larksuite.com"];

/// Settings key of the hosts admins allowed, one per line.
pub const ALLOWED_HOSTS_SETTING: &str = "chat.allowed_hosts";

/// Why a URL may not be posted to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not an `http://` or `https://` URL with a host.
    #[error("not an http(s) URL")]
    NotUrl,
    /// The host is a loopback, private, link-local or otherwise internal address.
    #[error("{0} is an internal address")]
    Internal(String),
    /// The host is neither a platform's nor one an admin allowed.
    #[error("{0} is not an allowed host")]
    NotAllowed(String),
}

/// Reads the admins' list: one host per line (or separated by commas or spaces), `#` comments.
pub fn parse_hosts(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .flat_map(|line| line.split([',', ' ', '\t']))
        .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// Whether an address belongs to the machine or an internal network.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                // Carrier-grade NAT (100.64/10) and "this network" (0/8).
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                // Unique local (fc00::/7) and link-local (fe80::/10).
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Checks `url` against the official hosts and the admins' `allowed` hosts. An IP address or a
/// name not on either list is refused; an internal address only when it is on neither list.
pub fn check(url: &str, allowed: &[String]) -> Result<Url, Refused> {
    let parsed = Url::parse(url.trim()).map_err(|_| Refused::NotUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refused::NotUrl);
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(Refused::NotUrl),
    };
    let admin_allowed = allowed.iter().any(|a| a.trim_matches(['[', ']']) == host);
    if admin_allowed {
        return Ok(parsed);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Err(if is_internal(ip) { Refused::Internal(host) } else { Refused::NotAllowed(host) });
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return Err(Refused::Internal(host));
    }
    if OFFICIAL_HOSTS.contains(&host.as_str()) {
        Ok(parsed)
    } else {
        Err(Refused::NotAllowed(host))
    }
}

/// What admins see of a URL: scheme, host and path, never the query (it holds the token), and
/// only the start of a path that holds one (Feishu's hook id).
pub fn hint(url: &Url) -> String {
    let path = url.path();
    let shown = match path.rfind('/') {
        Some(i) if path.len() - i > 9 => format!("{}{}…", &path[..=i], &path[i + 1..i + 5]),
        _ => path.to_owned(),
    };
    let query = if url.query().is_some() { "?…" } else { "" };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{}{port}{shown}{query}", url.scheme(), url.host_str().unwrap_or_default())
}

/// Whether the URL looks like one the platform hands out (checked only on its official host, so
/// a test receiver or a gateway may use any path): the robot's token must be in it.
pub fn fits_kind(kind: super::ChannelKind, url: &Url) -> bool {
    use super::ChannelKind;
    let host = url.host_str().unwrap_or_default();
    if !OFFICIAL_HOSTS.contains(&host) {
        return true;
    }
    let has = |name: &str| url.query_pairs().any(|(k, v)| k == name && !v.is_empty());
    match kind {
        ChannelKind::Dingtalk => host == "oapi.dingtalk.com" && url.path() == "/robot/send" && has("access_token"),
        ChannelKind::Wecom => host == "qyapi.weixin.qq.com" && url.path() == "/cgi-bin/webhook/send" && has("key"),
        ChannelKind::Feishu => {
            (host == "open.feishu.cn" || host == "open.larksuite.com")
                && url.path().starts_with("/open-apis/bot/v2/hook/")
                && url.path().len() > "/open-apis/bot/v2/hook/".len()
        }
        ChannelKind::Webhook => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(list: &str) -> Vec<String> {
        parse_hosts(list)
    }

    #[test]
    fn the_platforms_hosts_are_allowed_and_others_are_not() {
        assert!(check("https://oapi.dingtalk.com/robot/send?access_token=x", &[]).is_ok());
        assert!(check("https://open.feishu.cn/open-apis/bot/v2/hook/abc", &[]).is_ok());
        assert_eq!(
            check("https://hooks.example.com/in", &[]).unwrap_err(),
            Refused::NotAllowed("hooks.example.com".into())
        );
        assert!(check("https://hooks.example.com/in", &allowed("hooks.example.com")).is_ok());
        assert!(check("https://HOOKS.example.com./in", &allowed("# ours\nhooks.example.com")).is_ok());
    }

    #[test]
    fn internal_addresses_are_refused_unless_allowed_by_name() {
        for url in [
            "http://127.0.0.1:8080/x",
            "http://10.1.2.3/x",
            "http://192.168.0.1/x",
            "http://172.16.5.4/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://[fd00::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://0.0.0.0/x",
            "http://localhost:3000/x",
            "http://100.64.0.1/x",
        ] {
            assert!(matches!(check(url, &[]), Err(Refused::Internal(_))), "{url}");
        }
        assert!(check("http://127.0.0.1:8080/x", &allowed("127.0.0.1")).is_ok());
        assert!(matches!(check("http://127.0.0.1:8080/x", &allowed("10.0.0.1")), Err(Refused::Internal(_))));
        assert_eq!(check("http://8.8.8.8/x", &[]).unwrap_err(), Refused::NotAllowed("8.8.8.8".into()));
    }

    #[test]
    fn only_http_urls_without_credentials_are_urls() {
        for url in ["ftp://oapi.dingtalk.com/x", "file:///etc/passwd", "not a url", "https://u:p@oapi.dingtalk.com/"] {
            assert_eq!(check(url, &[]).unwrap_err(), Refused::NotUrl, "{url}");
        }
    }

    #[test]
    fn the_hint_never_shows_the_token() {
        let url = Url::parse("https://oapi.dingtalk.com/robot/send?access_token=secret123").unwrap();
        assert_eq!(hint(&url), "https://oapi.dingtalk.com/robot/send?…");
        let url = Url::parse("https://open.feishu.cn/open-apis/bot/v2/hook/0123456789abcdef").unwrap();
        assert_eq!(hint(&url), "https://open.feishu.cn/open-apis/bot/v2/hook/0123…");
        let url = Url::parse("http://10.0.0.5:8080/in?key=k").unwrap();
        assert_eq!(hint(&url), "http://10.0.0.5:8080/in?…");
    }

    #[test]
    fn an_official_url_must_carry_its_token() {
        use super::super::ChannelKind;
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(fits_kind(ChannelKind::Dingtalk, &url("https://oapi.dingtalk.com/robot/send?access_token=a")));
        assert!(!fits_kind(ChannelKind::Dingtalk, &url("https://oapi.dingtalk.com/robot/send")));
        assert!(!fits_kind(ChannelKind::Wecom, &url("https://oapi.dingtalk.com/robot/send?access_token=a")));
        assert!(fits_kind(ChannelKind::Wecom, &url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")));
        assert!(!fits_kind(ChannelKind::Feishu, &url("https://open.feishu.cn/open-apis/bot/v2/hook/")));
        assert!(fits_kind(ChannelKind::Dingtalk, &url("http://127.0.0.1:9/anything")));
    }
}
