//! Where to connect: the broker URL a page starts with.

/// Websocket port of the broker when the page does not name one.
pub const DEFAULT_BROKER_PORT: u16 = 9001;

/// The broker a page connects to: `?broker=` if given, else the page's own host on port 9001, `wss:` when
/// the page itself came over `https:`.
pub fn default_broker_url(page_protocol: &str, page_hostname: &str, query: Option<&str>) -> String {
    if let Some(url) = query.map(str::trim).filter(|u| !u.is_empty()) {
        return url.to_owned();
    }
    let scheme = if page_protocol == "https:" {
        "wss"
    } else {
        "ws"
    };
    let host = match page_hostname {
        "" => "localhost",
        // An IPv6 literal needs brackets in a URL.
        h if h.contains(':') && !h.starts_with('[') => {
            return format!("{scheme}://[{h}]:{DEFAULT_BROKER_PORT}")
        }
        h => h,
    };
    format!("{scheme}://{host}:{DEFAULT_BROKER_PORT}")
}

/// Checks a broker URL typed by a user before the browser is asked to open it.
pub fn validate_broker_url(url: &str) -> Result<&str, String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| "the broker URL must start with ws:// or wss://".to_owned())?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("the broker URL needs a host".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_host_and_scheme_pick_the_default() {
        assert_eq!(
            default_broker_url("http:", "127.0.0.1", None),
            "ws://127.0.0.1:9001"
        );
        assert_eq!(
            default_broker_url("https:", "chat.example", None),
            "wss://chat.example:9001"
        );
        assert_eq!(default_broker_url("http:", "::1", None), "ws://[::1]:9001");
        assert_eq!(default_broker_url("file:", "", None), "ws://localhost:9001");
    }

    #[test]
    fn the_query_parameter_wins() {
        assert_eq!(
            default_broker_url("http:", "h", Some("ws://10.0.0.2:8080/mqtt")),
            "ws://10.0.0.2:8080/mqtt"
        );
        assert_eq!(default_broker_url("http:", "h", Some("  ")), "ws://h:9001");
    }

    #[test]
    fn broker_urls_must_be_websockets() {
        assert_eq!(validate_broker_url(" ws://h:1 "), Ok("ws://h:1"));
        assert!(validate_broker_url("wss://h").is_ok());
        assert!(validate_broker_url("http://h").is_err());
        assert!(validate_broker_url("ws://").is_err());
    }
}
