//! Where to connect: the broker URLs a page may use, and which one it is on.
//!
//! Several brokers that behave as one (bridged Mosquittos, an aedes cluster; see the README's "Running on
//! several brokers") are given as a list. A tab stays on the broker it is on for as long as it can reach
//! it — its offline queue and its session live there — and moves on to the next one only when that broker
//! cannot be reached: a connection that fails, or one that dropped and whose reconnection failed.

use thiserror::Error;

/// Websocket port of the broker when the page does not name one and is not served over `https:`.
pub const DEFAULT_BROKER_PORT: u16 = 9001;

/// Where a page served over `https:` finds the broker on its own origin: `scripts/serve` (Caddy) proxies this
/// path to Mosquitto's websocket listener on loopback.
pub const SAME_ORIGIN_BROKER_PATH: &str = "/mqtt";

/// The broker a page connects to when it names none. A page served over `https:` is behind a server that
/// terminates TLS and proxies the broker on the same origin (`scripts/serve`): `wss://{host}[:{port}]/mqtt`,
/// so nothing but the page's own port needs to be reachable, and one certificate covers both. Any other page
/// (`scripts/dev` and every test serve plain `http:`) connects to its host's port 9001 over `ws:`.
/// `page_port` is `location.port`: empty for the scheme's default port.
pub fn default_broker_url(page_protocol: &str, page_hostname: &str, page_port: &str) -> String {
    let host = match page_hostname {
        "" => "localhost".to_owned(),
        // An IPv6 literal needs brackets in a URL (`location.hostname` has them already).
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_owned(),
    };
    if page_protocol == "https:" {
        let port = if page_port.is_empty() {
            String::new()
        } else {
            format!(":{page_port}")
        };
        format!("wss://{host}{port}{SAME_ORIGIN_BROKER_PATH}")
    } else {
        format!("ws://{host}:{DEFAULT_BROKER_PORT}")
    }
}

/// MQTT over TCP's port when an `mqtt://` URL names none (the port IANA assigned to MQTT).
pub const DEFAULT_MQTT_PORT: u16 = 1883;

/// What a broker URL may start with. A browser opens WebSockets only; a native client (the terminal client,
/// `term/`) also speaks MQTT over TCP: `mqtt://HOST[:PORT]`, port [`DEFAULT_MQTT_PORT`] unless named.
const SCHEMES: &[&str] = if cfg!(target_arch = "wasm32") {
    &["ws://", "wss://"]
} else {
    &["ws://", "wss://", "mqtt://"]
};

/// [`SCHEMES`] in words.
const SCHEME_WORDS: &str = if cfg!(target_arch = "wasm32") {
    "ws:// or wss://"
} else {
    "ws://, wss:// or mqtt://"
};

/// Why a list of broker URLs cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BrokerError {
    #[error("the broker URL must start with {SCHEME_WORDS}")]
    Scheme,
    #[error("the broker URL needs a host")]
    NoHost,
    #[error("an mqtt:// broker URL names a host and a port only")]
    PathOnTcp,
    #[error("name a broker URL (several may be given, separated by commas)")]
    Empty,
}

/// Checks a broker URL typed by a user before the browser (or the terminal) is asked to open it.
pub fn validate_broker_url(url: &str) -> Result<&str, BrokerError> {
    let url = url.trim();
    let Some((scheme, rest)) = SCHEMES
        .iter()
        .find_map(|s| Some((*s, url.strip_prefix(s)?)))
    else {
        return Err(BrokerError::Scheme);
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(BrokerError::NoHost);
    }
    if scheme == "mqtt://" && rest.trim_end_matches('/').contains('/') {
        return Err(BrokerError::PathOnTcp);
    }
    Ok(url)
}

/// The brokers a tab may use, in order, and the one it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brokers {
    urls: Vec<String>,
    current: usize,
    /// Whether the current broker accepted a connection since the tab moved to it or last lost it.
    reached: bool,
}

impl Brokers {
    /// One or more broker URLs separated by commas or white space, each checked by [`validate_broker_url`];
    /// a repeated URL counts once. The tab starts on `preferred` if it is in the list (a reloaded tab stays
    /// where it was), else on the first.
    pub fn parse(list: &str, preferred: Option<&str>) -> Result<Self, BrokerError> {
        let mut urls: Vec<String> = Vec::new();
        for url in list.split(|c: char| c == ',' || c.is_whitespace()) {
            if url.is_empty() {
                continue;
            }
            let url = validate_broker_url(url)?;
            if !urls.iter().any(|u| u == url) {
                urls.push(url.to_owned());
            }
        }
        if urls.is_empty() {
            return Err(BrokerError::Empty);
        }
        let current = preferred
            .and_then(|p| urls.iter().position(|u| u == p.trim()))
            .unwrap_or(0);
        Ok(Self {
            urls,
            current,
            reached: false,
        })
    }

    /// What a page starts with: the `?broker=` values (the parameter may be repeated, and each may hold a
    /// comma-separated list), else [`default_broker_url`] of the page's location; on `preferred` if it is
    /// among them.
    pub fn for_page(
        page_protocol: &str,
        page_hostname: &str,
        page_port: &str,
        queries: &[String],
        preferred: Option<&str>,
    ) -> Self {
        let joined = queries.join(",");
        Self::parse(&joined, preferred).unwrap_or_else(|_| Self {
            urls: vec![default_broker_url(page_protocol, page_hostname, page_port)],
            current: 0,
            reached: false,
        })
    }

    /// The broker the tab is on (or about to connect to).
    pub fn current(&self) -> &str {
        self.urls.get(self.current).map_or("", String::as_str)
    }

    /// 1-based position of the current broker, and how many there are: "broker 2 of 3".
    pub fn position(&self) -> (usize, usize) {
        (self.current + 1, self.urls.len())
    }

    pub fn len(&self) -> usize {
        self.urls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// The list as the Broker field shows it, and as it is stored: URLs separated by ", ".
    pub fn to_list(&self) -> String {
        self.urls.join(", ")
    }

    /// The current broker accepted the connection.
    pub fn reached(&mut self) {
        self.reached = true;
    }

    /// A connection ended or never came up. A broker that was reached gets one more try (a dropped
    /// connection may be a blip, and the tab's queued messages wait there); one that was not is given up
    /// for the next in the list, wrapping around. Returns whether the tab moved to another broker.
    pub fn lost(&mut self) -> bool {
        if std::mem::take(&mut self.reached) {
            return false;
        }
        let before = self.current;
        self.current = (self.current + 1) % self.urls.len().max(1);
        self.current != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(brokers: &Brokers) -> Vec<&str> {
        brokers.urls.iter().map(String::as_str).collect()
    }

    #[test]
    fn a_list_is_split_on_commas_and_spaces_and_each_url_counts_once() {
        let b = Brokers::parse(" ws://a:1, ws://b:2  ws://a:1,,wss://c ", None).unwrap();
        assert_eq!(list(&b), ["ws://a:1", "ws://b:2", "wss://c"]);
        assert_eq!(b.current(), "ws://a:1");
        assert_eq!(b.position(), (1, 3));
        assert_eq!(b.to_list(), "ws://a:1, ws://b:2, wss://c");
    }

    #[test]
    fn a_list_with_a_bad_url_or_none_is_refused() {
        assert!(Brokers::parse("ws://a:1, http://b", None).is_err());
        assert!(Brokers::parse(" , ", None).is_err());
    }

    #[test]
    fn a_reloaded_tab_starts_on_the_broker_it_was_on() {
        let b = Brokers::parse("ws://a:1,ws://b:2", Some("ws://b:2")).unwrap();
        assert_eq!(b.current(), "ws://b:2");
        let b = Brokers::parse("ws://a:1,ws://b:2", Some("ws://gone:3")).unwrap();
        assert_eq!(b.current(), "ws://a:1");
    }

    #[test]
    fn repeated_and_comma_separated_query_values_make_one_list() {
        let queries = ["ws://a:1,ws://b:2".to_owned(), "ws://c:3".to_owned()];
        let b = Brokers::for_page("http:", "h", "8080", &queries, None);
        assert_eq!(list(&b), ["ws://a:1", "ws://b:2", "ws://c:3"]);
        let b = Brokers::for_page(
            "http:",
            "h",
            "",
            &["ws://10.0.0.2:8080/mqtt".to_owned()],
            None,
        );
        assert_eq!(list(&b), ["ws://10.0.0.2:8080/mqtt"]);
        let b = Brokers::for_page("http:", "h", "8080", &[], None);
        assert_eq!(list(&b), ["ws://h:9001"]);
        let b = Brokers::for_page("http:", "h", "8080", &["  ".to_owned()], None);
        assert_eq!(list(&b), ["ws://h:9001"]);
        let b = Brokers::for_page("https:", "h", "", &["nonsense".to_owned()], None);
        assert_eq!(list(&b), ["wss://h/mqtt"]);
    }

    #[test]
    fn a_broker_in_the_query_wins_over_the_same_origin_default_of_an_https_page() {
        let queries = ["wss://other.example:9001".to_owned()];
        let b = Brokers::for_page("https:", "chat.example", "", &queries, None);
        assert_eq!(list(&b), ["wss://other.example:9001"]);
    }

    #[test]
    fn an_unreachable_broker_is_given_up_for_the_next_one_wrapping_around() {
        let mut b = Brokers::parse("ws://a:1,ws://b:2", None).unwrap();
        // The first connection fails: move on.
        assert!(b.lost());
        assert_eq!(b.current(), "ws://b:2");
        assert!(b.lost());
        assert_eq!(b.current(), "ws://a:1");
    }

    #[test]
    fn a_dropped_connection_is_retried_on_the_same_broker_once_before_moving_on() {
        let mut b = Brokers::parse("ws://a:1,ws://b:2", None).unwrap();
        b.reached();
        assert!(!b.lost(), "the first retry goes to the same broker");
        assert_eq!(b.current(), "ws://a:1");
        assert!(b.lost(), "that retry failed: move on");
        assert_eq!(b.current(), "ws://b:2");
        b.reached();
        assert!(!b.lost());
        assert_eq!(b.current(), "ws://b:2");
    }

    #[test]
    fn a_single_broker_is_always_retried() {
        let mut b = Brokers::parse("ws://a:1", None).unwrap();
        assert!(!b.lost());
        assert_eq!(b.current(), "ws://a:1");
    }

    #[rustfmt::skip]
    #[test]
    fn a_plain_http_page_defaults_to_its_host_on_port_9001() {
        // (protocol, hostname, port) -> broker
        let cases = [
            (("http:", "127.0.0.1", "8080"), "ws://127.0.0.1:9001"), // scripts/dev, every test
            (("http:", "chat.example", ""),  "ws://chat.example:9001"),
            (("http:", "::1", "8080"),       "ws://[::1]:9001"),
            (("http:", "[::1]", "8080"),     "ws://[::1]:9001"),
            (("file:", "", ""),              "ws://localhost:9001"),
        ];
        for ((protocol, hostname, port), broker) in cases {
            assert_eq!(default_broker_url(protocol, hostname, port), broker, "{protocol}//{hostname}:{port}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn an_https_page_defaults_to_its_own_origin_under_mqtt() {
        // (protocol, hostname, port) -> broker; scripts/serve proxies /mqtt to Mosquitto.
        let cases = [
            (("https:", "chat.example", ""),     "wss://chat.example/mqtt"),
            (("https:", "192.168.1.5", "8443"),  "wss://192.168.1.5:8443/mqtt"),
            (("https:", "[fd00::2]", ""),        "wss://[fd00::2]/mqtt"),
            (("https:", "fd00::2", "8443"),      "wss://[fd00::2]:8443/mqtt"),
        ];
        for ((protocol, hostname, port), broker) in cases {
            assert_eq!(default_broker_url(protocol, hostname, port), broker, "{protocol}//{hostname}:{port}");
        }
    }

    #[test]
    fn broker_urls_must_be_websockets() {
        assert_eq!(validate_broker_url(" ws://h:1 "), Ok("ws://h:1"));
        assert!(validate_broker_url("wss://h").is_ok());
        assert!(validate_broker_url("http://h").is_err());
        assert!(validate_broker_url("ws://").is_err());
    }

    /// Natively (the terminal client) MQTT over TCP too; the browser's build keeps WebSockets only.
    #[cfg(not(target_arch = "wasm32"))]
    #[rustfmt::skip]
    #[test]
    fn a_native_client_may_name_a_tcp_broker_with_mqtt_urls() {
        let cases = [
            ("mqtt://127.0.0.1:1883", Ok("mqtt://127.0.0.1:1883")),
            (" mqtt://broker.example ", Ok("mqtt://broker.example")), // port 1883
            ("mqtt://[::1]:1884/",     Ok("mqtt://[::1]:1884/")),
            ("mqtt://",                Err("the broker URL needs a host")),
            ("mqtt://h:1883/chat",     Err("an mqtt:// broker URL names a host and a port only")),
            ("tcp://h:1883",           Err("the broker URL must start with ws://, wss:// or mqtt://")),
        ];
        for (url, want) in cases {
            let got = validate_broker_url(url).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_owned), "{url}");
        }
        let b = Brokers::parse("mqtt://a, ws://b:9001", None).unwrap();
        assert_eq!(b.to_list(), "mqtt://a, ws://b:9001");
        assert_eq!(DEFAULT_MQTT_PORT, 1883);
    }
}
