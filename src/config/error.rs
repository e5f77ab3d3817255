//! [`ConfigError`], and the rewording of serde's messages so that each one
//! starts with the key path and says what was expected and what was found.

use std::path::PathBuf;

/// Why a config could not be read, understood, or written back.
///
/// Errors about the content ([`ConfigError::Invalid`]) print as
/// `dotted.key.path: what is wrong`. No message quotes a token.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (shown in the message, so not a `source`).
        error: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error (shown in the message, so not a `source`).
        error: std::io::Error,
    },
    /// The text is not YAML (the message carries line and column).
    #[error("YAML syntax: {0}")]
    Syntax(String),
    /// A key is missing, unknown, of the wrong type, or has a bad value.
    #[error("{key}: {problem}")]
    Invalid {
        /// Dotted path of the key, e.g. `appservice.port` or
        /// `bridge.permissions.@admin:example.com`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The config or registration could not be turned into YAML.
    #[error("cannot write YAML: {0}")]
    Serialize(String),
}

impl ConfigError {
    /// The dotted key path the error is about, if it is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn syntax(e: serde_norway::Error) -> ConfigError {
        ConfigError::Syntax(e.to_string())
    }

    pub(crate) fn from_serde(e: serde_path_to_error::Error<serde_norway::Error>) -> ConfigError {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let (key, problem) = reword(&path, &message);
        ConfigError::Invalid { key, problem }
    }
}

/// Turns serde's `(path, message)` into ours: a missing field moves into
/// the path, and "invalid type: X, expected Y" becomes "expected Y, got X".
fn reword(path: &str, message: &str) -> (String, String) {
    let join = |field: &str| {
        if path == "." || path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let key = if path.is_empty() { "." } else { path };

    if let Some(field) = between(message, "missing field `", "`") {
        return (join(field), "required key is missing".to_owned());
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let allowed = rest.split_once(", expected ").map(|(_, a)| a);
        let problem = match allowed {
            Some(allowed) => format!("unknown key (allowed here: {allowed})"),
            None => "unknown key (no keys are allowed here)".to_owned(),
        };
        return (key.to_owned(), problem);
    }
    if let Some(rest) = message.strip_prefix("unknown variant ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return (key.to_owned(), format!("expected {expected}, got {found}"));
    }
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((found, expected)) = rest.split_once(", expected ")
        {
            return (
                key.to_owned(),
                format!("expected {}, got {found}", plain_expected(expected)),
            );
        }
    }
    (key.to_owned(), message.to_owned())
}

/// serde names Rust types in its expectations; say what YAML should hold.
fn plain_expected(expected: &str) -> String {
    if expected.starts_with("struct ") || expected == "a map" {
        "a mapping of keys to values".to_owned()
    } else if expected == "a string" || expected == "a sequence" {
        expected.to_owned()
    } else if expected.starts_with("enum ") {
        "one of the listed values".to_owned()
    } else {
        expected.to_owned()
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(start)?;
    rest.split_once(end).map(|(inner, _)| inner)
}

#[cfg(test)]
mod tests {
    use super::reword;

    #[test]
    fn rewords_serde_messages() {
        assert_eq!(
            reword("homeserver", "missing field `domain`"),
            ("homeserver.domain".into(), "required key is missing".into())
        );
        assert_eq!(
            reword(".", "missing field `homeserver`"),
            ("homeserver".into(), "required key is missing".into())
        );
        assert_eq!(
            reword("logging.level", "invalid type: sequence, expected a string"),
            (
                "logging.level".into(),
                "expected a string, got sequence".into()
            )
        );
        assert_eq!(
            reword(
                "homeserver",
                "invalid type: string \"x\", expected struct Homeserver"
            ),
            (
                "homeserver".into(),
                "expected a mapping of keys to values, got string \"x\"".into()
            )
        );
    }
}
