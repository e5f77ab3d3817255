//! A PostgreSQL database of its own for one test, in the cluster at
//! `WABRIDGE_TEST_POSTGRES_URL` (from `scripts/postgres start`), and an e2e
//! scenario run on each database the bridge supports.

use std::future::Future;

use sqlx::Connection as _;

/// A fresh database on the PostgreSQL of `WABRIDGE_TEST_POSTGRES_URL`: its
/// URI, and the admin URL to drop it with [`drop_postgres`]. `None` (with a
/// notice) when the variable is not set, unless `WABRIDGE_REQUIRE_POSTGRES=1`.
pub async fn fresh_postgres(prefix: &str) -> Option<(String, String, String)> {
    let Ok(admin) = std::env::var("WABRIDGE_TEST_POSTGRES_URL") else {
        assert_ne!(
            std::env::var("WABRIDGE_REQUIRE_POSTGRES").as_deref(),
            Ok("1"),
            "WABRIDGE_REQUIRE_POSTGRES=1 but WABRIDGE_TEST_POSTGRES_URL is not set"
        );
        eprintln!("notice: WABRIDGE_TEST_POSTGRES_URL not set; skipping the PostgreSQL run");
        return None;
    };
    let name = format!("{prefix}_{}", hex::encode(rand::random::<[u8; 4]>()));
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut uri = format!("{}/{name}", &base[..host_end]);
    if !query.is_empty() {
        uri = format!("{uri}?{query}");
    }
    Some((uri, admin, name))
}

/// Drops a database made by [`fresh_postgres`].
pub async fn drop_postgres(admin: &str, name: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

/// Runs an e2e `scenario` with the URI of a new SQLite file (in a temp
/// folder named `prefix-…`); nothing when there is no Synapse to run it on.
pub async fn on_sqlite<Fut: Future<Output = ()>>(
    prefix: &str,
    scenario: impl FnOnce(String) -> Fut,
) {
    if super::synapse::venv().is_none() {
        return;
    }
    let dir = super::bridge::tempdir(prefix);
    scenario(format!("sqlite:{}", dir.join("bridge.db").display())).await;
}

/// Runs an e2e `scenario` with the URI of a new PostgreSQL database (named
/// `name_…`, dropped afterwards); nothing when there is no Synapse, or no
/// PostgreSQL and it is not required ([`fresh_postgres`]).
pub async fn on_postgres<Fut: Future<Output = ()>>(
    name: &str,
    scenario: impl FnOnce(String) -> Fut,
) {
    if super::synapse::venv().is_none() {
        return;
    }
    let Some((uri, admin, db)) = fresh_postgres(name).await else {
        return;
    };
    scenario(uri).await;
    drop_postgres(&admin, &db).await;
}
