//! The `wabridge` binary's command line: `-g`, `--check`, and config
//! errors on stderr.

#![allow(clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wabridge::config::{Config, Registration};

const EXAMPLE: &str = include_str!("../config.example.yaml");

fn temp_dir(name: &str) -> PathBuf {
    let unique: u64 = rand::random();
    let dir = std::env::temp_dir().join(format!("wabridge-cli-{name}-{unique:016x}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn wabridge(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wabridge"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .expect("run wabridge")
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("file").permissions().mode() & 0o777
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn generate_writes_a_registration_whose_tokens_match_the_config() {
    let dir = temp_dir("generate");
    std::fs::write(dir.join("config.yaml"), EXAMPLE).expect("write");

    let out = wabridge(
        &["-c", "config.yaml", "-g", "-r", "registration.yaml"],
        &dir,
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));

    let registration: Registration = serde_norway::from_str(
        &std::fs::read_to_string(dir.join("registration.yaml")).expect("registration written"),
    )
    .expect("registration is YAML");
    let config = Config::load(dir.join("config.yaml")).expect("config valid after -g");
    assert_eq!(registration.as_token, config.appservice.as_token);
    assert_eq!(registration.hs_token, config.appservice.hs_token);
    assert_eq!(registration.as_token.expose().len(), 64);
    assert_eq!(
        mode(&dir.join("registration.yaml")),
        0o600,
        "a new registration is private"
    );
    assert!(registration.receive_ephemeral);
    assert!(
        registration
            .namespaces
            .users
            .iter()
            .any(|n| n.exclusive && n.regex == "^@whatsapp_.+:example\\.com$")
    );

    let check = wabridge(&["-c", "config.yaml", "--check"], &dir);
    assert!(check.status.success(), "stderr: {}", stderr(&check));
    let said = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        said.contains(&format!(
            "whatsapp web version: {} (compiled in)",
            wa_core::payload::DEFAULT_WEB_VERSION
        )),
        "{said}"
    );

    // An override is what --check reports, and what a bad one names.
    let text = std::fs::read_to_string(dir.join("config.yaml")).expect("config");
    let pinned = text.replace(
        "    device_name: wabridge\n",
        "    device_name: wabridge\n    app_version: 2.3000.1099999999\n",
    );
    assert_ne!(pinned, text, "the example has the device_name line");
    std::fs::write(dir.join("config.yaml"), &pinned).expect("write");
    let check = wabridge(&["-c", "config.yaml", "--check"], &dir);
    assert!(check.status.success(), "stderr: {}", stderr(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout)
            .contains("whatsapp web version: 2.3000.1099999999 (network.app_version)"),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    std::fs::write(
        dir.join("config.yaml"),
        pinned.replace("2.3000.1099999999", "latest"),
    )
    .expect("write");
    let check = wabridge(&["-c", "config.yaml", "--check"], &dir);
    assert!(!check.status.success());
    assert!(
        stderr(&check).contains("network.app_version"),
        "{}",
        stderr(&check)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_config_exits_non_zero_naming_the_key() {
    let dir = temp_dir("bad");
    let bad = EXAMPLE.replace("port: 29318", "port: abc");
    std::fs::write(dir.join("config.yaml"), bad).expect("write");

    for args in [
        &["-c", "config.yaml", "--check"][..],
        &["-c", "config.yaml"][..],
        &["-c", "config.yaml", "-g", "-r", "registration.yaml"][..],
    ] {
        let out = wabridge(args, &dir);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = stderr(&out);
        assert!(
            err.contains("appservice.port: expected a port number 1-65535, got \"abc\""),
            "{args:?}: {err}"
        );
    }
    assert!(!dir.join("registration.yaml").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_example_is_refused_until_tokens_are_generated() {
    let dir = temp_dir("placeholder");
    std::fs::write(dir.join("config.yaml"), EXAMPLE).expect("write");
    let out = wabridge(&["-c", "config.yaml", "--check"], &dir);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("appservice.as_token"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The container's entry point (docker/run.sh), run outside a container:
/// first a config to edit (listening beyond loopback), then the
/// registration, then the bridge itself (`--check` here).
#[test]
fn container_entry_point_walks_through_first_start() {
    let data = temp_dir("docker-data");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_wabridge"))
        .parent()
        .expect("binary dir")
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |extra: &[&str]| {
        Command::new("sh")
            .arg(root.join("docker/run.sh"))
            .args(extra)
            .env("PATH", &path)
            .env("WABRIDGE_DATA", &data)
            .env("WABRIDGE_EXAMPLE", root.join("config.example.yaml"))
            .output()
            .expect("run docker/run.sh")
    };

    let first = run(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("config.yaml"), "{}", stderr(&first));
    let config = std::fs::read_to_string(data.join("config.yaml")).expect("config written");
    assert!(
        config.contains("    hostname: 0.0.0.0\n"),
        "listens beyond loopback"
    );
    assert!(!data.join("registration.yaml").exists());

    let second = run(&[]);
    assert!(second.status.success(), "{}", stderr(&second));
    let written: Config = std::fs::read_to_string(data.join("config.yaml"))
        .expect("config")
        .parse()
        .expect("config with tokens is valid");
    let reg = std::fs::read_to_string(data.join("registration.yaml")).expect("registration");
    assert!(reg.contains(written.appservice.hs_token.expose()));

    let third = run(&["--check"]);
    assert!(third.status.success(), "{}", stderr(&third));
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn generate_double_puppet_writes_a_token_only_registration() {
    let dir = temp_dir("dp");
    let config = dir.join("config.yaml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml"),
        &config,
    )
    .expect("copy example");
    let out = wabridge(&["-c", "config.yaml", "-g"], &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = wabridge(
        &["-c", "config.yaml", "--generate-double-puppet", "dp.yaml"],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let reg: Registration =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("dp.yaml")).expect("dp.yaml"))
            .expect("a registration");
    assert_eq!(reg.url, None);
    assert!(!reg.namespaces.users[0].exclusive);
    assert!(
        stdout.contains("example.com: \"as_token:<as_token>\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains(reg.as_token.expose()),
        "the token is not printed: {stdout}"
    );
    assert_eq!(mode(&dir.join("dp.yaml")), 0o600, "dp.yaml is private");
    let _ = std::fs::remove_dir_all(&dir);
}
