//! The appservice registration file the homeserver loads, and `wabridge -g`,
//! which makes one with fresh tokens and writes the same tokens into the
//! config file.

use std::path::{Path, PathBuf};

use rand::RngExt as _;
use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, TEMPLATE_MARKER, Token};

/// An appservice registration (Synapse's `app_service_config_files`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Unique id of the appservice on the homeserver.
    pub id: String,
    /// Where the homeserver pushes transactions (`null` for a
    /// registration that only lends its token, as for double puppeting).
    pub url: Option<String>,
    /// Token the bridge presents to the homeserver.
    pub as_token: Token,
    /// Token the homeserver presents to the bridge.
    pub hs_token: Token,
    /// The appservice's own user (random; the bot is a separate user).
    pub sender_localpart: String,
    /// Whether the homeserver rate-limits the bridge's users.
    pub rate_limited: bool,
    /// The user IDs the bridge owns.
    pub namespaces: Namespaces,
    /// Receive typing, receipts and presence (MSC2409, stable key).
    pub receive_ephemeral: bool,
    /// The same, under MSC2409's unstable key for older homeservers.
    #[serde(rename = "de.sorunome.msc2409.push_ephemeral")]
    pub push_ephemeral_unstable: bool,
}

/// `namespaces` of a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespaces {
    /// User ID regexes.
    pub users: Vec<Namespace>,
    /// Room alias regexes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<Namespace>,
    /// Room ID regexes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<Namespace>,
}

/// One namespace entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// A regex over full IDs.
    pub regex: String,
    /// Whether only the appservice may create IDs that match.
    pub exclusive: bool,
}

impl Registration {
    /// The registration for `config`: its tokens, its bot and its ghosts
    /// (exclusive user namespaces), ephemeral events on, rate limits off.
    pub fn new(config: &Config, sender_localpart: impl Into<String>) -> Registration {
        let a = &config.appservice;
        let domain = regex_escape(&config.homeserver.domain);
        let (prefix, suffix) = a
            .username_template
            .split_once(TEMPLATE_MARKER)
            .unwrap_or((a.username_template.as_str(), ""));
        Registration {
            id: a.id.clone(),
            url: Some(a.address.clone()),
            as_token: a.as_token.clone(),
            hs_token: a.hs_token.clone(),
            sender_localpart: sender_localpart.into(),
            rate_limited: false,
            namespaces: Namespaces {
                users: vec![
                    Namespace {
                        regex: format!("^@{}:{domain}$", regex_escape(&a.bot.username)),
                        exclusive: true,
                    },
                    Namespace {
                        regex: format!(
                            "^@{}.+{}:{domain}$",
                            regex_escape(prefix),
                            regex_escape(suffix)
                        ),
                        exclusive: true,
                    },
                ],
                aliases: Vec::new(),
                rooms: Vec::new(),
            },
            receive_ephemeral: true,
            push_ephemeral_unstable: true,
        }
    }

    /// A registration for double puppeting on `domain`: no URL (the
    /// homeserver pushes nothing to it), fresh tokens, every user of the
    /// domain in a non-exclusive namespace, not rate-limited. Its `as_token`
    /// goes into the bridge config as `double_puppet.secrets.<domain>:
    /// "as_token:<token>"`.
    pub fn double_puppet(domain: &str) -> Registration {
        Registration {
            id: "doublepuppet".to_owned(),
            url: None,
            as_token: Token::new(generate_token()),
            hs_token: Token::new(generate_token()),
            sender_localpart: format!("doublepuppet_{}", &generate_token()[..12]).to_lowercase(),
            rate_limited: false,
            namespaces: Namespaces {
                users: vec![Namespace {
                    regex: format!("@.*:{}", regex_escape(domain)),
                    exclusive: false,
                }],
                aliases: Vec::new(),
                rooms: Vec::new(),
            },
            receive_ephemeral: false,
            push_ephemeral_unstable: false,
        }
    }

    /// The registration as YAML.
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        serde_norway::to_string(self).map_err(|e| ConfigError::Serialize(e.to_string()))
    }
}

/// A fresh random token: 64 ASCII letters and digits from the thread's
/// cryptographically secure generator.
pub fn generate_token() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

/// `wabridge -g`: reads the config at `config_path`, gives it fresh
/// `as_token` and `hs_token`, validates it, writes the tokens back into
/// the config file and writes the registration to `registration_path`.
///
/// The config file is edited in place where it can be: only the two token
/// lines inside the top-level `appservice:` block change, so comments and
/// layout stay. If that block is not plain block-style YAML, the whole
/// config is written anew from its parsed form, which drops comments.
pub fn generate_registration(
    config_path: &Path,
    registration_path: &Path,
) -> Result<Registration, ConfigError> {
    let text = std::fs::read_to_string(config_path).map_err(|error| ConfigError::Read {
        path: config_path.to_owned(),
        error,
    })?;
    let mut config = Config::parse(&text)?;
    config.appservice.as_token = Token::new(generate_token());
    config.appservice.hs_token = Token::new(generate_token());
    config.validate()?;

    let edited = set_tokens_in_yaml(
        &text,
        config.appservice.as_token.expose(),
        config.appservice.hs_token.expose(),
    )
    .filter(|edited| Config::parse(edited).ok().as_ref() == Some(&config));
    let new_config = match edited {
        Some(edited) => edited,
        None => {
            tracing::warn!("config is not plain block YAML; rewriting it whole, without comments");
            config.to_yaml()?
        }
    };

    // The as_token acts as the sender_localpart user: that is our bot (the
    // bridge sends as it without ?user_id=).
    let registration = Registration::new(&config, config.appservice.bot.username.clone());
    let registration_yaml = registration.to_yaml()?;

    // Both files go to temporaries first, so a failure leaves neither half
    // written; the renames are the commit.
    let config_tmp = write_temp(config_path, &new_config)?;
    let registration_tmp = match write_temp(registration_path, &registration_yaml) {
        Ok(tmp) => tmp,
        Err(e) => {
            let _ = std::fs::remove_file(&config_tmp);
            return Err(e);
        }
    };
    rename(&registration_tmp, registration_path)?;
    rename(&config_tmp, config_path)?;
    Ok(registration)
}

/// Replaces (or adds) `as_token` and `hs_token` inside the top-level
/// `appservice:` block of `yaml`, leaving every other line as it was.
/// `None` if there is no block-style `appservice:` section.
pub fn set_tokens_in_yaml(yaml: &str, as_token: &str, hs_token: &str) -> Option<String> {
    let lines: Vec<&str> = yaml.split_inclusive('\n').collect();
    let header = lines.iter().position(|l| {
        l.strip_prefix("appservice:")
            .is_some_and(is_blank_or_comment)
    })?;
    let block_end = lines
        .iter()
        .enumerate()
        .skip(header + 1)
        .find(|(_, l)| !is_blank_or_comment(l) && !l.starts_with([' ', '\t']))
        .map_or(lines.len(), |(i, _)| i);
    let block = header + 1..block_end;
    let indent: &str = lines[block.clone()]
        .iter()
        .find(|l| !is_blank_or_comment(l))
        .map_or("    ", |l| &l[..l.len() - l.trim_start().len()]);

    let eol = if yaml.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let mut missing = Vec::new();
    for (key, token) in [("as_token", as_token), ("hs_token", hs_token)] {
        let line = format!("{indent}{key}: \"{token}\"{eol}");
        let found = block.clone().find(|&i| {
            lines[i]
                .strip_prefix(indent)
                .is_some_and(|rest| rest.starts_with(&format!("{key}:")))
        });
        match found {
            Some(i) => out[i] = line,
            None => missing.push(line),
        }
    }
    if !out[header].ends_with('\n') {
        out[header].push_str(eol);
    }
    for (n, line) in missing.into_iter().enumerate() {
        out.insert(header + 1 + n, line);
    }
    Some(out.concat())
}

fn is_blank_or_comment(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.starts_with('#')
}

/// Escapes regex metacharacters (for Synapse's Python `re`).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Writes `contents` beside `path`, with `path`'s permissions if it exists.
fn write_temp(path: &Path, contents: &str) -> Result<PathBuf, ConfigError> {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".wabridge-tmp");
    let tmp = path.with_file_name(name);
    let write_err = |error| ConfigError::Write {
        path: tmp.clone(),
        error,
    };
    crate::config::write_private(&tmp, contents).map_err(write_err)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions()).map_err(write_err)?;
    }
    Ok(tmp)
}

fn rename(from: &Path, to: &Path) -> Result<(), ConfigError> {
    std::fs::rename(from, to).map_err(|error| ConfigError::Write {
        path: to.to_owned(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_escape_covers_domain_dots() {
        assert_eq!(regex_escape("example.com"), "example\\.com");
        assert_eq!(regex_escape("wa_+x"), "wa_\\+x");
    }

    #[test]
    fn tokens_are_64_alphanumerics_and_differ() {
        let a = generate_token();
        let b = generate_token();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn set_tokens_keeps_comments_and_other_lines() {
        let yaml = "# top\nhomeserver:\n  address: x # keep\nappservice:\n  # the tokens\n  as_token: generate\n  id: wa\n  hs_token: \"generate\"\nbridge: {}\n";
        let out = set_tokens_in_yaml(yaml, "AAA", "BBB").expect("block style");
        assert_eq!(
            out,
            "# top\nhomeserver:\n  address: x # keep\nappservice:\n  # the tokens\n  as_token: \"AAA\"\n  id: wa\n  hs_token: \"BBB\"\nbridge: {}\n"
        );
    }

    #[test]
    fn set_tokens_adds_missing_keys() {
        let yaml = "appservice:\n    id: wa\nlogging: {}\n";
        let out = set_tokens_in_yaml(yaml, "AAA", "BBB").expect("block style");
        assert_eq!(
            out,
            "appservice:\n    as_token: \"AAA\"\n    hs_token: \"BBB\"\n    id: wa\nlogging: {}\n"
        );
    }

    #[test]
    fn set_tokens_ignores_nested_keys_of_the_same_name() {
        let yaml = "appservice:\n  bot:\n    as_token: no\n  as_token: generate\n";
        let out = set_tokens_in_yaml(yaml, "A", "B").expect("block style");
        assert!(out.contains("    as_token: no\n"));
        assert!(out.contains("  as_token: \"A\"\n"));
    }

    #[test]
    fn set_tokens_gives_up_on_flow_style() {
        assert_eq!(set_tokens_in_yaml("appservice: {id: x}\n", "A", "B"), None);
    }
}
