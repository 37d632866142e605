//! SIGINT, SIGTERM and SIGHUP become events of the loop, so that the client says goodbye (its presence
//! cleared at once) and restores the terminal instead of dying where it stands.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::shell::{Event, Notify};

/// Forwards the signals to `tx` from a thread of their own; without it (it cannot be set up), the signals
/// keep their default action.
pub fn forward(tx: Notify) {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if !tx.send(Event::Signal(signal)) {
                return;
            }
        }
    });
}
