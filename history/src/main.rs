//! `mqtt-chat-history`: the optional history service. It keeps every message of every room in SQLite and
//! answers the chat's "Show earlier" requests over MQTT (docs/history-service.md).
//!
//! ```text
//! main.rs      flags, the database, the password; then the loop (or the migration)
//! args.rs      the flags and --help
//! net.rs       the connection to the broker (TCP or unix socket), reconnection with backoff
//! service.rs   the MQTT session: subscriptions, what is kept, requests answered
//! migrate.rs   `migrate`: histories moved from the one-level topics of earlier versions, once
//! protocol.rs  the topics, the request and the answer (JSON, size limit)
//! store.rs     SQLite: the messages, a page of them
//! limit.rs     requests per user and second
//! ```

mod args;
mod limit;
mod migrate;
mod net;
mod protocol;
mod service;
mod store;

use std::process::ExitCode;

use args::{MigrateArgs, Parsed};
use migrate::Migration;
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
        Parsed::MigrateHelp => {
            print!("{}", args::MIGRATE_HELP);
            std::process::exit(0);
        }
        Parsed::Migrate(args) => {
            let code = migrate(&args)?;
            std::process::exit(code.into());
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

/// `migrate`: moves the histories, prints the summary; 0 when all went well, else 1.
fn migrate(args: &MigrateArgs) -> Result<u8, (u8, String)> {
    let password = match &args.password_file {
        Some(file) => Some(args::password(file).map_err(|e| (1, e))?),
        None => None,
    };
    let mut migration = Migration::new(&args.user, password);
    let outcome =
        net::once(&mut migration, &args.broker).and_then(|ended| migration.outcome(&ended));
    match outcome {
        Ok(()) => {
            println!("done: {}", migration.summary());
            Ok(0)
        }
        Err(e) => {
            println!("failed, after: {}", migration.summary());
            Err((1, format!("migrate: {e} ({})", args.broker)))
        }
    }
}
