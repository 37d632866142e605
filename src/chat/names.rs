//! User and room names: each becomes one topic level, so it must be one.

use thiserror::Error;

/// Longest name in bytes.
pub const MAX_NAME_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("a name cannot be empty")]
    Empty,
    #[error("a name can be at most {MAX_NAME_BYTES} bytes long")]
    TooLong,
    #[error("a name cannot contain {0:?}")]
    Forbidden(char),
}

/// Trims surrounding white space and checks what is left: no `/`, `+`, `#`, `$` at the start, control
/// characters (U+0000 among them), at most 64 bytes.
pub fn validate(raw: &str) -> Result<&str, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong);
    }
    if let Some(c) = name
        .chars()
        .find(|&c| matches!(c, '/' | '+' | '#') || c.is_control())
    {
        return Err(NameError::Forbidden(c));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(validate("  alice "), Ok("alice"));
        assert_eq!(validate("Zoë 🚀"), Ok("Zoë 🚀"));
        assert_eq!(validate("   "), Err(NameError::Empty));
        assert_eq!(validate(&"a".repeat(65)), Err(NameError::TooLong));
        assert_eq!(validate(&"a".repeat(64)), Ok(&*"a".repeat(64)));
        for (bad, c) in [
            ("a/b", '/'),
            ("a+", '+'),
            ("#", '#'),
            ("a\0", '\0'),
            ("a\u{7}b", '\u{7}'),
        ] {
            assert_eq!(validate(bad), Err(NameError::Forbidden(c)), "{bad:?}");
        }
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            validate("a/b").unwrap_err().to_string(),
            "a name cannot contain '/'"
        );
    }
}
