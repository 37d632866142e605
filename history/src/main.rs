//! `mqtt-chat-history`: the optional history service. It keeps every message of every room in SQLite and
//! answers the chat's "Show earlier" requests over MQTT (docs/history-service.md).
//!
//! ```text
//! main.rs      flags, the database, the password; then the loop
//! args.rs      the flags and --help
//! net.rs       the TCP connection to the broker, reconnection with backoff
//! service.rs   the MQTT session: subscriptions, what is kept, requests answered
//! protocol.rs  the topics, the request and the answer (JSON, size limit)
//! store.rs     SQLite: the messages, a page of them
//! limit.rs     requests per user and second
//! ```

mod args;
mod limit;
mod net;
mod protocol;
mod service;
mod store;

use std::process::ExitCode;

use args::Parsed;
use service::{log, Service};
use store::Store;

fn main() -> ExitCode {
    match start() {
        Ok(never) => match never {},
        Err((code, message)) => {
            log(&message);
            ExitCode::from(code)
        }
    }
}

enum Never {}

fn start() -> Result<Never, (u8, String)> {
    let args = match args::parse(std::env::args_os().skip(1))
        .map_err(|e| (2, format!("{e}; see --help")))?
    {
        Parsed::Help => {
            print!("{}", args::HELP);
            std::process::exit(0);
        }
        Parsed::Run(args) => args,
    };
    let password = match &args.password_file {
        Some(file) => Some(args::password(file).map_err(|e| (1, e))?),
        None => None,
    };
    let db = match args.db {
        Some(db) => db,
        None => args::default_db(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
            .ok_or((
                2,
                "no --db, and neither XDG_STATE_HOME nor HOME is set".to_owned(),
            ))?,
    };
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| (1, format!("cannot create {}: {e}", dir.display())))?;
    }
    let store = Store::open(&db)
        .map_err(|e| (1, format!("cannot open the database {}: {e}", db.display())))?;
    let count = store
        .count()
        .map_err(|e| (1, format!("cannot read the database {}: {e}", db.display())))?;
    log(&format!(
        "{count} messages in {}; broker {}",
        db.display(),
        args.broker
    ));
    let mut service = Service::new(password, store);
    net::run(&mut service, &args.broker)
}
