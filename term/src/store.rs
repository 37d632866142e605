//! The state directory: the core's records, one file per key, where a browser keeps local storage.
//!
//! ```text
//! DIR/mqtt-chat.browser-id          shared by every name (a browser's id; the name check compares it)
//! DIR/mqtt-chat.outbox.NAME         NAME's own messages not yet acknowledged (JSON), resent on the next start
//! DIR/mqtt-chat.muted.NAME          the people NAME muted
//! DIR/names/NAME/mqtt-chat.client-id   what a browser keeps per tab, kept per name here: the MQTT client id
//! DIR/names/NAME/mqtt-chat.rooms       (the persistent session), the rooms, the brokers and the one in use
//! DIR/names/NAME/lock               held while a client runs as NAME: a second one would take the session over
//! ```
//!
//! `DIR` is `--state`, else `$XDG_STATE_HOME/mqtt-chat`, else `~/.local/state/mqtt-chat`. A file name is the
//! record's key with `%`, `/` and a leading `.` written as `%XX`. Files are replaced whole (written aside,
//! then renamed), readable by their owner only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use mqtt_chat::chat::Record;

#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    own: PathBuf,
    /// Held (locked) while this process runs.
    _lock: File,
}

/// `$XDG_STATE_HOME/mqtt-chat`, else `$HOME/.local/state/mqtt-chat` (the XDG base directory rules: a
/// relative `XDG_STATE_HOME` is ignored).
pub fn default_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = match xdg {
        Some(dir) => dir,
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(base.join("mqtt-chat"))
}

impl Store {
    /// Opens `dir` for `name` (a checked name), creating what is missing, and locks it for this process.
    pub fn open(dir: &Path, name: &str) -> Result<Self, String> {
        let own = dir.join("names").join(encode(name));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&own)
            .map_err(|e| format!("cannot create the state directory {}: {e}", own.display()))?;
        let lock_path = own.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "another mqtt-chat-term is running as {name} with the state directory {} \
                     (it would take over its session); give this one another --state",
                    dir.display()
                ))
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", lock_path.display()))
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            own,
            _lock: lock,
        })
    }

    /// Every record found: key and value, the shared ones and this name's.
    pub fn load(&self) -> io::Result<Vec<(String, String)>> {
        let mut records = Vec::new();
        for dir in [&self.dir, &self.own] {
            for entry in fs::read_dir(dir)? {
                let entry = entry?;
                let Some(key) = entry.file_name().to_str().and_then(decode) else {
                    continue;
                };
                if !key.starts_with("mqtt-chat.") || !entry.file_type()?.is_file() {
                    continue;
                }
                let bytes = fs::read(entry.path())?;
                records.push((key, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
        Ok(records)
    }

    pub fn store(&self, record: &Record, value: &str) -> io::Result<()> {
        let path = self.path(record);
        // A leading dot: never read back as a record, whatever happens before the rename.
        let aside = path.with_file_name(format!(
            ".{}.tmp-{}",
            encode(&record.key()),
            std::process::id()
        ));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&aside)?;
        file.write_all(value.as_bytes())?;
        drop(file);
        fs::rename(&aside, &path)
    }

    pub fn remove(&self, record: &Record) -> io::Result<()> {
        match fs::remove_file(self.path(record)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// A record kept per tab in a browser is kept per name here; the others are shared.
    fn path(&self, record: &Record) -> PathBuf {
        let dir = if record.per_tab() {
            &self.own
        } else {
            &self.dir
        };
        dir.join(encode(&record.key()))
    }
}

/// A key or name as a file name: `%`, `/`, NUL and a leading `.` as `%XX` (so never `.`, `..` or a path).
fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, c) in raw.char_indices() {
        if matches!(c, '%' | '/' | '\0') || (i == 0 && c == '.') {
            out.push_str(&format!("%{:02X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn decode(name: &str) -> Option<String> {
    let mut out = Vec::with_capacity(name.len());
    let bytes = name.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            out.push(u8::from_str_radix(name.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mqtt-chat-term-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn names_and_keys_become_safe_file_names_and_back() {
        for raw in [
            "alice",
            "..",
            ".hidden",
            "a%b",
            "mqtt-chat.outbox.x/y",
            "café",
        ] {
            let file = encode(raw);
            assert!(!file.contains('/') && file != "." && file != ".." && !file.starts_with('.'));
            assert_eq!(decode(&file).as_deref(), Some(raw));
        }
        assert_eq!(encode(".."), "%2E.");
        assert_eq!(decode("%zz"), None);
    }

    #[test]
    fn records_per_tab_are_kept_per_name_and_the_rest_shared() {
        let dir = temp("store");
        let alice = Store::open(&dir, "alice").unwrap();
        alice.store(&Record::ClientId, "mc1").unwrap();
        alice.store(&Record::BrowserId, "b1").unwrap();
        alice.store(&Record::Outbox("alice".into()), "[]").unwrap();
        let bob = Store::open(&dir, "bob").unwrap();
        let mut seen = bob.load().unwrap();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("mqtt-chat.browser-id".to_owned(), "b1".to_owned()),
                ("mqtt-chat.outbox.alice".to_owned(), "[]".to_owned())
            ],
            "bob shares the browser id, not alice's session"
        );
        let mut mine = alice.load().unwrap();
        mine.sort();
        assert_eq!(mine.len(), 3);
        assert!(mine.contains(&("mqtt-chat.client-id".to_owned(), "mc1".to_owned())));
        alice.remove(&Record::ClientId).unwrap();
        alice.remove(&Record::ClientId).unwrap();
        assert_eq!(alice.load().unwrap().len(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_name_runs_once_per_state_directory() {
        let dir = temp("lock");
        let first = Store::open(&dir, "alice").unwrap();
        let second = Store::open(&dir, "alice").unwrap_err();
        assert!(
            second.contains("another mqtt-chat-term is running as alice"),
            "{second}"
        );
        drop(first);
        assert!(
            Store::open(&dir, "alice").is_ok(),
            "the lock goes with the process"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
