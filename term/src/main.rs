//! `mqtt-chat-term`: the chat in a terminal, on the same core as the browser app (`mqtt_chat::chat`) and the
//! same `mqtt` crate; MQTT over TCP or WebSocket. Full-screen by default ([`tui`]), one line per message
//! with `--plain` ([`line`]). See `--help` and the README's "A terminal client".
//!
//! ```text
//! main.rs     flags, the name and password, the state directory; then one of the two modes
//! args.rs     the flags (the public interface) and --help
//! shell.rs    the event loop around the core: outputs carried out, inputs fed with time and chance; it
//!             alone reads and writes the socket (one mio poll with the timers and the other threads)
//! net.rs      connections: TCP, WebSocket, WebSocket over TLS (opened in a thread, then non-blocking)
//! store.rs    the state directory: the core's records, one file each
//! command.rs  typed lines: messages and /commands, done as inputs to the core
//! line.rs     --plain: standard input to messages, one line per message out
//! tui/        full screen: the loop (mod.rs), the view, a pure function of the state (view.rs), and
//!             the layout of a message in rows (wrap.rs)
//! prompt.rs   asking for the name and the password
//! signals.rs  SIGINT, SIGTERM, SIGHUP as events
//! ```

mod args;
mod command;
mod line;
mod net;
mod prompt;
mod shell;
mod signals;
mod store;
mod tui;

use std::io::IsTerminal;
use std::process::ExitCode;

use mqtt_chat::chat::settings::Brokers;
use mqtt_chat::chat::{names, App, Conversation, Input};

use args::{Parsed, Password};
use shell::Shell;
use store::Store;

fn main() -> ExitCode {
    match start() {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("mqtt-chat-term: {message}");
            ExitCode::from(code)
        }
    }
}

/// Exit status 2: the command line or what was typed at the start cannot be used.
const USAGE: u8 = 2;

fn start() -> Result<ExitCode, (u8, String)> {
    let usage = |e: String| (USAGE, e);
    let args = match args::parse(std::env::args_os().skip(1))
        .map_err(|e| usage(format!("{e}; see --help")))?
    {
        Parsed::Help => {
            print!("{}", args::HELP);
            return Ok(ExitCode::SUCCESS);
        }
        Parsed::Run(args) => args,
    };
    // Refused before anything is asked: the same checks the core makes when joining.
    let brokers = Brokers::parse(&args.brokers, None).map_err(|e| usage(e.to_string()))?;
    let room = names::validate(&args.room)
        .map_err(|e| usage(format!("--room: {e}")))?
        .to_owned();
    let interactive = std::io::stdin().is_terminal();
    let name = match &args.name {
        Some(name) => names::validate(name)
            .map_err(|e| usage(format!("--name: {e}")))?
            .to_owned(),
        None => ask_name(interactive)?,
    };
    let password = match &args.password {
        Password::File(file) => Some(prompt::password_file(file).map_err(|e| (1, e))?),
        Password::Ask => Some(ask("Password: ", true)?.unwrap_or_default()),
        // Asked for the name, so asked for the password too, as the login form has both: empty in open mode.
        Password::None if args.name.is_none() && interactive => {
            ask("Password (empty in open mode): ", true)?.filter(|p| !p.is_empty())
        }
        Password::None => None,
    };
    let dir = args
        .state
        .clone()
        .or_else(store::default_dir)
        .ok_or_else(|| {
            (
                1,
                "no state directory: set HOME or XDG_STATE_HOME, or give --state".to_owned(),
            )
        })?;
    let store = Store::open(&dir, &name).map_err(|e| (1, e))?;
    let stored = store.load().map_err(|e| {
        (
            1,
            format!("cannot read the state directory {}: {e}", dir.display()),
        )
    })?;
    let app = App::new(stored, brokers, Some(Conversation::Room(room)));
    let shell = Shell::new(app, store).map_err(|e| (1, format!("cannot wait for events: {e}")))?;
    let join = Input::Join {
        name,
        brokers: args.brokers.clone(),
        password,
    };
    Ok(if args.plain {
        line::run(shell, join)
    } else {
        tui::run(shell, join)
    })
}

fn ask(label: &str, secret: bool) -> Result<Option<String>, (u8, String)> {
    prompt::ask(label, secret).map_err(|e| (1, format!("cannot read standard input: {e}")))
}

/// Asks until a name is good (on a terminal), or once (from a pipe: its first line).
fn ask_name(interactive: bool) -> Result<String, (u8, String)> {
    loop {
        let Some(typed) = ask("Name: ", false)? else {
            return Err((USAGE, "no name given (--name NAME)".into()));
        };
        match names::validate(&typed) {
            Ok(name) => return Ok(name.to_owned()),
            Err(e) if interactive => eprintln!("{e}"),
            Err(e) => return Err((USAGE, format!("name: {e}"))),
        }
    }
}
