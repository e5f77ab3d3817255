//! The checks behind [`Config::validate`](super::Config::validate). Each
//! one names its key; none quotes a token.

use super::{Appservice, Config, ConfigError, DatabaseKind, TEMPLATE_MARKER, TOKEN_PLACEHOLDER};

type Check = Result<(), ConfigError>;

pub(super) fn config(c: &Config) -> Check {
    http_url("homeserver.address", &c.homeserver.address)?;
    server_name("homeserver.domain", &c.homeserver.domain)?;
    appservice(&c.appservice)?;
    database(c)?;
    bridge(c)?;
    network(c)?;
    double_puppet(c)?;
    logging(c)
}

fn double_puppet(c: &Config) -> Check {
    for (domain, secret) in &c.double_puppet.secrets {
        let key = format!("double_puppet.secrets.{domain}");
        server_name(&key, domain)?;
        match secret.expose().strip_prefix("as_token:") {
            Some(token) if !token.is_empty() && !token.contains(char::is_whitespace) => {}
            _ => {
                return Err(ConfigError::invalid(
                    &key,
                    "expected \"as_token:<token>\" of the double-puppet registration",
                ));
            }
        }
    }
    Ok(())
}

fn appservice(a: &Appservice) -> Check {
    http_url("appservice.address", &a.address)?;
    no_space("appservice.hostname", &a.hostname)?;
    no_space("appservice.id", &a.id)?;
    localpart("appservice.bot.username", &a.bot.username)?;
    if let Some(avatar) = &a.bot.avatar
        && !avatar.is_empty()
        && !avatar.starts_with("mxc://")
    {
        return Err(ConfigError::invalid(
            "appservice.bot.avatar",
            format!("expected an mxc:// URI, got {avatar:?}"),
        ));
    }
    for (key, token) in [
        ("appservice.as_token", &a.as_token),
        ("appservice.hs_token", &a.hs_token),
    ] {
        let t = token.expose();
        if t.is_empty() {
            return Err(ConfigError::invalid(
                key,
                "not set: run `wabridge -g` to generate the tokens and the registration",
            ));
        }
        if t == TOKEN_PLACEHOLDER {
            return Err(ConfigError::invalid(
                key,
                "still the example's placeholder: run `wabridge -g` to generate the tokens",
            ));
        }
        if t.chars().any(char::is_whitespace) {
            return Err(ConfigError::invalid(key, "must not contain whitespace"));
        }
    }
    if a.as_token == a.hs_token {
        return Err(ConfigError::invalid(
            "appservice.hs_token",
            "must differ from appservice.as_token",
        ));
    }
    template(a)
}

fn template(a: &Appservice) -> Check {
    const KEY: &str = "appservice.username_template";
    let t = &a.username_template;
    if t.matches(TEMPLATE_MARKER).count() != 1 {
        return Err(ConfigError::invalid(
            KEY,
            format!("expected exactly one {TEMPLATE_MARKER} in {t:?}"),
        ));
    }
    let fixed = t.replace(TEMPLATE_MARKER, "");
    if fixed.is_empty() {
        return Err(ConfigError::invalid(
            KEY,
            format!("needs text around {TEMPLATE_MARKER}, or every user would be a ghost"),
        ));
    }
    if let Some(bad) = fixed.chars().find(|c| !is_localpart_char(*c)) {
        return Err(ConfigError::invalid(
            KEY,
            format!("{bad:?} is not allowed in a user ID localpart (a-z 0-9 . _ = - / +)"),
        ));
    }
    if a.ghost_id(&a.bot.username).is_some() {
        return Err(ConfigError::invalid(
            "appservice.bot.username",
            format!(
                "{:?} matches the ghost template {t:?}; pick a name outside it",
                a.bot.username
            ),
        ));
    }
    Ok(())
}

fn database(c: &Config) -> Check {
    let uri = &c.database.uri;
    let ok = match c.database.kind {
        DatabaseKind::Sqlite => uri.starts_with("sqlite:"),
        DatabaseKind::Postgres => {
            uri.starts_with("postgres://") || uri.starts_with("postgresql://")
        }
    };
    if ok {
        return Ok(());
    }
    // The URI is not quoted: it may hold a password.
    let expected = match c.database.kind {
        DatabaseKind::Sqlite => "sqlite:PATH (or sqlite::memory:) for database.type sqlite",
        DatabaseKind::Postgres => "postgres://USER:PASSWORD@HOST/DB for database.type postgres",
    };
    Err(ConfigError::invalid(
        "database.uri",
        format!("expected {expected}"),
    ))
}

fn bridge(c: &Config) -> Check {
    let prefix = &c.bridge.command_prefix;
    if prefix.is_empty() || prefix.chars().any(char::is_whitespace) {
        return Err(ConfigError::invalid(
            "bridge.command_prefix",
            format!("expected a non-empty word such as \"!wa\", got {prefix:?}"),
        ));
    }
    for who in c.bridge.permissions.keys() {
        let key = format!("bridge.permissions.{who}");
        if who == "*" {
            continue;
        }
        if let Some(rest) = who.strip_prefix('@') {
            match rest.split_once(':') {
                Some((local, domain)) if !local.is_empty() && is_server_name(domain) => {}
                _ => {
                    return Err(ConfigError::invalid(
                        key,
                        "expected \"*\", a server name or a user ID like @user:example.com",
                    ));
                }
            }
        } else if !is_server_name(who) {
            return Err(ConfigError::invalid(
                key,
                "expected \"*\", a server name or a user ID like @user:example.com",
            ));
        }
    }
    let max = c.bridge.max_media_bytes;
    if !(1..=super::MAX_MEDIA_BYTES_LIMIT).contains(&max) {
        return Err(ConfigError::invalid(
            "bridge.max_media_bytes",
            format!(
                "{max} is not between 1 and {} bytes",
                super::MAX_MEDIA_BYTES_LIMIT
            ),
        ));
    }
    Ok(())
}

fn network(c: &Config) -> Check {
    let n = &c.network;
    match url::Url::parse(&n.url) {
        Ok(u) if matches!(u.scheme(), "ws" | "wss") && u.host().is_some() => {}
        _ => {
            return Err(ConfigError::invalid(
                "network.url",
                format!("expected a ws:// or wss:// URL, got {:?}", n.url),
            ));
        }
    }
    if let Some(path) = &n.media_ca_file {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(ConfigError::invalid(
                    "network.media_ca_file",
                    format!("{} is not a file", path.display()),
                ));
            }
            Err(e) => {
                return Err(ConfigError::invalid(
                    "network.media_ca_file",
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        }
    }
    if n.device_name.trim().is_empty() {
        return Err(ConfigError::invalid(
            "network.device_name",
            "must not be empty",
        ));
    }
    if let Some(v) = &n.app_version {
        v.parse::<wa_core::payload::WebVersion>()
            .map_err(|e| ConfigError::invalid("network.app_version", e.to_string()))?;
    }
    if wa_core::payload::platform_type(&n.platform_type).is_none() {
        return Err(ConfigError::invalid(
            "network.platform_type",
            format!(
                "{:?} is not a platform (unknown, chrome, firefox, safari, edge, desktop, ...)",
                n.platform_type
            ),
        ));
    }
    for (key, secs) in [
        ("network.first_qr_seconds", n.first_qr_seconds),
        ("network.later_qr_seconds", n.later_qr_seconds),
    ] {
        if !(1..=600).contains(&secs) {
            return Err(ConfigError::invalid(
                key,
                format!("{secs} is not between 1 and 600 seconds"),
            ));
        }
    }
    Ok(())
}

fn logging(c: &Config) -> Check {
    tracing_subscriber::EnvFilter::try_new(&c.logging.level)
        .map(|_| ())
        .map_err(|e| {
            ConfigError::invalid(
                "logging.level",
                format!(
                    "expected a level (error, warn, info, debug, trace) or a filter directive, got {:?} ({e})",
                    c.logging.level
                ),
            )
        })
}

fn http_url(key: &str, value: &str) -> Check {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ConfigError::invalid(
            key,
            format!("expected an http:// or https:// URL, got {value:?}"),
        )),
    }
}

fn server_name(key: &str, value: &str) -> Check {
    if is_server_name(value) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!(
                "expected a server name such as example.com (no scheme or path), got {value:?}"
            ),
        ))
    }
}

/// A Matrix server name: a DNS name, IPv4 or `[IPv6]`, with an optional port.
fn is_server_name(s: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip6, tail)) => (ip6.parse::<std::net::Ipv6Addr>().is_ok(), tail),
            None => return false,
        }
    } else {
        let host_end = s.find(':').unwrap_or(s.len());
        let (host, tail) = s.split_at(host_end);
        let ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        (ok, tail)
    };
    let port_ok = match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(p) => p.parse::<u16>().is_ok_and(|p| p != 0),
    };
    host_ok && port_ok
}

fn localpart(key: &str, value: &str) -> Check {
    if !value.is_empty() && value.chars().all(is_localpart_char) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!("expected a user ID localpart (a-z 0-9 . _ = - / +), got {value:?}"),
        ))
    }
}

fn is_localpart_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-/+".contains(c)
}

fn no_space(key: &str, value: &str) -> Check {
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        Err(ConfigError::invalid(
            key,
            format!("expected a non-empty value without spaces, got {value:?}"),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_server_name;

    #[test]
    fn server_names() {
        for ok in [
            "example.com",
            "localhost:8448",
            "1.2.3.4",
            "[::1]",
            "[::1]:80",
        ] {
            assert!(is_server_name(ok), "{ok}");
        }
        for bad in [
            "",
            "https://x",
            "a/b",
            "x:",
            "x:0",
            "x:99999",
            "[zz]",
            "a b",
        ] {
            assert!(!is_server_name(bad), "{bad}");
        }
    }
}
