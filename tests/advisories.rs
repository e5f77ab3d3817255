//! No crate with a known advisory is compiled in (issue 18): every package
//! `cargo tree` shows for the workspace (normal, build and dev edges, this
//! host's target, as built here and in the image) is held against the RustSec advisories kept in
//! `deny/advisories.json` (an extract of the RustSec database for the
//! locked crates, refreshed with `scripts/advisories extract`; CI cannot
//! reach the database). One that applies fails the test unless
//! `deny/allow.json` names it with the reason it was accepted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use semver::{Version, VersionReq};
use serde_json::Value;

/// `name version` of every package compiled for the workspace.
fn compiled() -> Vec<(String, Version)> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--workspace",
            "--locked",
            "--offline",
            "-e",
            "normal,build,dev",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut packages: Vec<(String, Version)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.strip_prefix('v')?;
            Some((name.to_owned(), Version::parse(version).ok()?))
        })
        .collect();
    packages.sort();
    packages.dedup();
    packages
}

fn json(path: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `version` is covered by any of `reqs` (RustSec's `patched` or
/// `unaffected` lists: comma-separated comparators).
fn covered(version: &Version, reqs: &Value) -> bool {
    reqs.as_array().into_iter().flatten().any(|r| {
        let r = r.as_str().unwrap_or_default();
        VersionReq::parse(r)
            .unwrap_or_else(|e| panic!("advisory range {r:?}: {e}"))
            .matches(version)
    })
}

#[test]
fn no_compiled_crate_has_a_known_advisory() {
    let advisories = json("deny/advisories.json");
    let allowed = json("deny/allow.json");
    let allowed: Vec<&str> = allowed["allow"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["reason"].as_str().is_some_and(|r| !r.trim().is_empty()))
        .filter_map(|a| a["id"].as_str())
        .collect();
    let packages = compiled();
    assert!(packages.len() > 100, "cargo tree listed {}", packages.len());
    // A crate added since the extract was never looked up in the database.
    let looked_up: Vec<&str> = advisories["crates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let unknown: Vec<&str> = packages
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !looked_up.contains(name))
        .collect();
    assert!(
        unknown.is_empty(),
        "not in deny/advisories.json (run scripts/advisories extract): {unknown:?}"
    );
    let mut found = Vec::new();
    for (name, version) in &packages {
        for a in advisories["advisories"].as_array().into_iter().flatten() {
            if a["package"] != name.as_str() {
                continue;
            }
            if covered(version, &a["patched"]) || covered(version, &a["unaffected"]) {
                continue;
            }
            let id = a["id"].as_str().unwrap_or_default();
            if !allowed.contains(&id) {
                found.push(format!(
                    "{name} {version}: {id} ({}) {}",
                    a["kind"], a["title"]
                ));
            }
        }
    }
    eprintln!(
        "{} compiled packages checked against {} advisories (RustSec {})",
        packages.len(),
        advisories["advisories"].as_array().map_or(0, Vec::len),
        advisories["date"]
    );
    assert!(found.is_empty(), "advisories apply:\n{}", found.join("\n"));
}

#[test]
fn the_range_check_reads_rustsec_ranges() {
    let v = |s: &str| Version::parse(s).unwrap();
    let list = |l: &[&str]| Value::from(l.to_vec());
    let patched = list(&[">= 1.5.1, < 1.6.0", ">= 1.8.1"]);
    assert!(covered(&v("1.5.2"), &patched));
    assert!(covered(&v("1.9.0"), &patched));
    assert!(!covered(&v("1.7.0"), &patched));
    assert!(covered(&v("0.2.9"), &list(&["< 0.3.0"])));
    assert!(!covered(&v("0.16.4"), &list(&[">= 0.18.2"])));
    assert!(!covered(&v("0.9.10"), &list(&[])), "nothing patched");
}
