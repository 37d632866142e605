//! Asking for the name and the password before the chat starts, as the browser's login form does.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal;

/// Prints `label` on standard error and reads one line from standard input; `None` at its end. With
/// `secret` and a terminal, what is typed is not shown.
pub fn ask(label: &str, secret: bool) -> io::Result<Option<String>> {
    let mut stderr = io::stderr();
    write!(stderr, "{label}")?;
    stderr.flush()?;
    if secret && io::stdin().is_terminal() {
        let typed = read_hidden();
        writeln!(stderr)?;
        return typed;
    }
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let line = line.strip_suffix('\n').unwrap_or(&line);
    Ok(Some(line.strip_suffix('\r').unwrap_or(line).to_owned()))
}

/// A line typed without echo (raw mode, restored before returning); Ctrl-C or Ctrl-D gives up.
fn read_hidden() -> io::Result<Option<String>> {
    terminal::enable_raw_mode()?;
    let mut typed = String::new();
    let result = loop {
        let key = match event::read() {
            Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => key,
            Ok(_) => continue,
            Err(e) => break Err(e),
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => break Ok(Some(typed)),
            KeyCode::Char('c' | 'd') if ctrl => break Ok(None),
            KeyCode::Backspace => {
                typed.pop();
            }
            KeyCode::Char(c) if !ctrl => typed.push(c),
            _ => {}
        }
    };
    terminal::disable_raw_mode()?;
    result
}

/// The password is the first line of `file` (without its line break).
pub fn password_file(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the password file {}: {e}", file.display()))?;
    let line = text.lines().next().unwrap_or_default();
    Ok(line.strip_suffix('\r').unwrap_or(line).to_owned())
}
