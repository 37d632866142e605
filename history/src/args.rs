//! The command line (docs/history-service.md, "Running it").

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use mqtt_chat::chat::settings::DEFAULT_MQTT_PORT;

pub const DEFAULT_BROKER: &str = "mqtt://127.0.0.1:1883";

pub const HELP: &str = "\
mqtt-chat-history: keeps every message of every room in SQLite and answers the chat's \"Show earlier\"
requests (docs/history-service.md)

Usage: mqtt-chat-history [OPTIONS]
       mqtt-chat-history migrate [OPTIONS]   moves histories from earlier versions (migrate --help)

Options:
  --broker URL          mqtt://HOST[:PORT] (MQTT over TCP, port 1883 unless named), or unix:PATH
                        (MQTT over the broker's unix socket, as scripts/serve's broker has)
                        [default: mqtt://127.0.0.1:1883]
  --password-file FILE  accounts mode: the password of the broker account mqtt-chat-history is the
                        first line of FILE
  --db PATH             the database [default: $XDG_STATE_HOME/mqtt-chat/history.sqlite3, else
                        ~/.local/state/mqtt-chat/history.sqlite3]
  -h, --help            print this help

It connects as MQTT user and client id mqtt-chat-history (clean session 0) and runs until stopped,
reconnecting after 1, 2, 4 ... 30 s. Exit status: 2 usage; 1 the database or the password file cannot be
used.
";

pub const MIGRATE_HELP: &str = "\
mqtt-chat-history migrate: moves a broker's retained room histories from the one-level topics of earlier
versions (chat/rooms/ROOM/history/SENDER) to the by-day ones (chat/rooms/ROOM/history/DAY/SENDER), merged
with the sender's by-day history there if any, then exits (docs/history-service.md)

Usage: mqtt-chat-history migrate [OPTIONS]

Options:
  --broker URL          mqtt://HOST[:PORT] (MQTT over TCP, port 1883 unless named), or unix:PATH
                        (MQTT over the broker's unix socket, as scripts/serve's broker has)
                        [default: mqtt://127.0.0.1:1883]
  --user NAME           the MQTT user: one the ACL lets read and write every chat topic
                        [default: mqtt-chat-bridge]
  --password-file FILE  accounts mode: that user's password is the first line of FILE
  -h, --help            print this help

It prints what it moved and a summary. Run again, it finds nothing to move. Exit status: 0 done; 1 failed
(the connection refused or lost, the ACL in the way, a write not acknowledged; what was moved stays moved,
and running it again carries on); 2 usage.
";

/// The user `migrate` connects as: the ACL's `user mqtt-chat-bridge` section reads and writes every chat
/// topic.
pub const DEFAULT_MIGRATE_USER: &str = "mqtt-chat-bridge";

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broker {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "mqtt://[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "mqtt://{host}:{port}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub broker: Broker,
    pub password_file: Option<PathBuf>,
    pub db: Option<PathBuf>,
}

/// The flags of `migrate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateArgs {
    pub broker: Broker,
    pub user: String,
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Args),
    Help,
    Migrate(MigrateArgs),
    MigrateHelp,
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    use lexopt::prelude::*;
    let mut args = args.into_iter().peekable();
    if args.next_if(|a| a == "migrate").is_some() {
        return parse_migrate(args);
    }
    let mut parser = lexopt::Parser::from_args(args);
    let mut broker = DEFAULT_BROKER.to_owned();
    let mut password_file = None;
    let mut db = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("broker") => broker = utf8_value(&mut parser, "--broker")?,
            Long("password-file") => {
                password_file = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?));
            }
            Long("db") => db = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?)),
            Short('h') | Long("help") => return Ok(Parsed::Help),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Parsed::Run(Args {
        broker: broker_address(&broker)?,
        password_file,
        db,
    }))
}

fn parse_migrate(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut broker = DEFAULT_BROKER.to_owned();
    let mut user = DEFAULT_MIGRATE_USER.to_owned();
    let mut password_file = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("broker") => broker = utf8_value(&mut parser, "--broker")?,
            Long("user") => {
                user = utf8_value(&mut parser, "--user")?;
                if user.is_empty() {
                    return Err("--user: empty".to_owned());
                }
            }
            Long("password-file") => {
                password_file = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?));
            }
            Short('h') | Long("help") => return Ok(Parsed::MigrateHelp),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Parsed::Migrate(MigrateArgs {
        broker: broker_address(&broker)?,
        user,
        password_file,
    }))
}

fn utf8_value(parser: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    parser
        .value()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|_| format!("{flag}: not UTF-8"))
}

/// `--broker`: `unix:PATH` or an `mqtt://` URL.
fn broker_address(broker: &str) -> Result<Broker, String> {
    match broker.strip_prefix("unix:") {
        Some("") => Err("--broker: unix: needs the path of the socket".to_owned()),
        Some(path) => Ok(Broker::Unix(PathBuf::from(path))),
        None => {
            let (host, port) = tcp_address(broker)?;
            Ok(Broker::Tcp { host, port })
        }
    }
}

/// `mqtt://HOST[:PORT]`: host and port (1883 when not named); an IPv6 literal in brackets.
pub fn tcp_address(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .trim()
        .strip_prefix("mqtt://")
        .ok_or_else(|| format!("--broker: not an mqtt:// URL: {url}"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(format!(
            "--broker: an mqtt:// URL names a host and a port only: {url}"
        ));
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("--broker: no ] after the IPv6 address: {url}"))?;
            (host, after.strip_prefix(':'))
        }
        None => match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    if host.is_empty() {
        return Err(format!("--broker: the URL needs a host: {url}"));
    }
    let port = match port {
        None => DEFAULT_MQTT_PORT,
        Some(p) => p
            .parse()
            .map_err(|_| format!("--broker: not a port number: {p:?} in {url}"))?,
    };
    Ok((host.to_owned(), port))
}

/// The database when `--db` is not given: `$XDG_STATE_HOME/mqtt-chat/history.sqlite3`, else under
/// `$HOME/.local/state` (the terminal client's state directory).
pub fn default_db(xdg_state_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |v: OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let state = xdg_state_home
        .and_then(absolute)
        .or_else(|| home.and_then(absolute).map(|h| h.join(".local/state")))?;
    Some(state.join("mqtt-chat").join("history.sqlite3"))
}

/// The password: the first line of `file`.
pub fn password(file: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the password file {}: {e}", file.display()))?;
    let line = text.lines().next().unwrap_or_default();
    Ok(line.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn the_flags_are_read() {
        assert_eq!(
            run(&[]),
            Ok(Parsed::Run(Args {
                broker: Broker::Tcp {
                    host: "127.0.0.1".into(),
                    port: 1883
                },
                password_file: None,
                db: None
            }))
        );
        assert_eq!(
            run(&[
                "--broker",
                "mqtt://[::1]:1999",
                "--db",
                "/x.db",
                "--password-file",
                "p"
            ]),
            Ok(Parsed::Run(Args {
                broker: Broker::Tcp {
                    host: "::1".into(),
                    port: 1999
                },
                password_file: Some("p".into()),
                db: Some("/x.db".into())
            }))
        );
        assert!(matches!(
            run(&["--broker", "unix:/srv/b.sock"]),
            Ok(Parsed::Run(Args { broker: Broker::Unix(p), .. })) if p == Path::new("/srv/b.sock")
        ));
        assert_eq!(run(&["--help"]), Ok(Parsed::Help));
        for bad in [
            &["--broker", "ws://h:1"][..],
            &["--broker", "mqtt://h:99999"],
            &["--broker", "mqtt://:1"],
            &["--broker", "mqtt://h/x"],
            &["--broker", "unix:"],
            &["--what"],
            &["--db"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn migrate_reads_its_own_flags() {
        assert_eq!(
            run(&["migrate"]),
            Ok(Parsed::Migrate(MigrateArgs {
                broker: Broker::Tcp {
                    host: "127.0.0.1".into(),
                    port: 1883
                },
                user: "mqtt-chat-bridge".into(),
                password_file: None
            }))
        );
        assert_eq!(
            run(&[
                "migrate",
                "--broker",
                "unix:/srv/b.sock",
                "--user",
                "ops",
                "--password-file",
                "p"
            ]),
            Ok(Parsed::Migrate(MigrateArgs {
                broker: Broker::Unix("/srv/b.sock".into()),
                user: "ops".into(),
                password_file: Some("p".into())
            }))
        );
        assert_eq!(run(&["migrate", "--help"]), Ok(Parsed::MigrateHelp));
        for bad in [
            &["migrate", "--db", "x"][..],
            &["migrate", "--user", ""],
            &["migrate", "--broker", "ws://h"],
            &["migrate", "again"],
            &["--db", "x", "migrate"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_default_database_follows_xdg() {
        let some = |s: &str| Some(OsString::from(s));
        assert_eq!(
            default_db(some("/state"), some("/home/a")),
            Some("/state/mqtt-chat/history.sqlite3".into())
        );
        assert_eq!(
            default_db(some("relative"), some("/home/a")),
            Some("/home/a/.local/state/mqtt-chat/history.sqlite3".into())
        );
        assert_eq!(default_db(None, None), None);
    }
}
