//! The PostgreSQL warehouse over TLS, against the harness's PostgreSQL (`ssl=on`, a certificate
//! for 127.0.0.1/localhost signed by a throwaway CA): a batch loads under `verify-full` with that
//! CA and the server sees an encrypted connection; a certificate from another CA, or one that
//! does not carry the host name under `verify-full`, is refused with a message naming why; and
//! credentials come from a Secrets Manager secret (moto) for a role that must log in with its
//! password over TLS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod warehouse_support;

use std::path::Path;

use loglift_aws::SecretsManager;
use loglift_core::storage::LoadReport;
use loglift_local::MemoryStore;
use loglift_ports::{PortError, Warehouse};
use loglift_postgres::{PgConnectOptions, PgWarehouse, SslMode};
use loglift_stages::config::{LoadConfig, WarehouseTarget};
use loglift_tests::{moto, postgres_tls, unique_name, PgEnv, PgTlsEnv, PG_PASSWORD_GROUP};
use serde_json::json;
use tokio_postgres::{Client, NoTls};
use warehouse_support::*;

/// An administrator's connection (plaintext: `host … trust` accepts both).
async fn admin(pg: &PgEnv) -> Client {
    let (client, connection) = tokio_postgres::connect(&pg.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The harness's host port (`127.0.0.1:PORT`).
fn host_port(pg: &PgEnv) -> String {
    let rest = pg.url.split_once('@').unwrap().1;
    rest.split_once('/').unwrap().0.to_owned()
}

/// A new database, owned by `owner` when given; its name.
async fn fresh_database(pg: &PgEnv, owner: Option<&str>) -> String {
    let name = unique_name("tls").replace('-', "_");
    let owner = owner.map_or(String::new(), |o| format!(" OWNER \"{o}\""));
    admin(pg)
        .await
        .batch_execute(&format!("CREATE DATABASE \"{name}\"{owner}"))
        .await
        .unwrap();
    name
}

async fn drop_database(pg: &PgEnv, name: &str) {
    let _ = admin(pg)
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

/// Whether the server sees the connection named `application_name` as TLS, and its version.
async fn server_side_tls(pg: &PgEnv, application_name: &str) -> Vec<(bool, Option<String>)> {
    admin(pg)
        .await
        .query(
            "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&application_name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Load one batch of three events (one duplicate) through `w` into its fresh table.
async fn load_one_batch(w: &PgWarehouse<MemoryStore>) {
    let p = pipeline("user_events");
    w.ensure_table(&p).await.unwrap();
    let a = put_object(
        w.store(),
        &p,
        "curated/tls-0",
        &source_object("raw/tls"),
        &[(1, 0), (2, 0), (1, 1)],
    )
    .await;
    let report = w
        .load(&p, &batch(&p, vec![message(&p, "raw/tls", vec![a])]))
        .await
        .unwrap();
    assert_eq!(
        report,
        LoadReport {
            inserted: 2,
            duplicates_skipped: 1,
            ..LoadReport::default()
        }
    );
}

/// Connecting must fail; the error's text.
async fn refused(options: PgConnectOptions) -> String {
    match PgWarehouse::connect_with(options, MemoryStore::new()).await {
        Ok(_) => panic!("the connection was accepted"),
        Err(e @ PortError::Transient { .. }) => e.to_string(),
        Err(other) => panic!("expected a transient connect error, got {other:?}"),
    }
}

fn options(url: &str, ca: Option<&Path>) -> PgConnectOptions {
    PgConnectOptions::new(Some(url), None, ca).unwrap_or_else(|e| panic!("{url}: {e}"))
}

#[tokio::test]
async fn loads_over_verified_tls_and_the_server_sees_an_encrypted_connection() {
    let Some(PgTlsEnv { pg, ca, .. }) = postgres_tls() else {
        return;
    };
    let db = fresh_database(&pg, None).await;
    let at = host_port(&pg);
    // verify-full with the CA file (LOGLIFT_POSTGRES_CA_FILE), by IP address.
    let app = unique_name("tls-ip");
    let url = format!("postgres://postgres@{at}/{db}?sslmode=verify-full&application_name={app}");
    let w = PgWarehouse::connect_with(options(&url, Some(&ca)), MemoryStore::new())
        .await
        .unwrap();
    load_one_batch(&w).await;
    let seen = server_side_tls(&pg, &app).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].0, "the loader's connection is not TLS: {seen:?}");
    assert!(
        seen[0]
            .1
            .as_deref()
            .is_some_and(|v| v.starts_with("TLSv1.")),
        "{seen:?}"
    );
    drop(w);

    // verify-full by DNS name, the CA named in the URL (`sslrootcert`), which wins over the
    // configured file (here the wrong one).
    let port = at.rsplit_once(':').unwrap().1;
    let app = unique_name("tls-dns");
    let url = format!(
        "postgres://postgres@localhost:{port}/{db}?sslmode=verify-full&sslrootcert={}&application_name={app}",
        ca.display()
    );
    let o = PgConnectOptions::new(Some(&url), None, Some(Path::new("/nonexistent.pem"))).unwrap();
    let client = o.connect().await.unwrap();
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM tracking.events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 2);
    drop(client);

    // `require` without a CA encrypts without verifying (libpq's meaning).
    let app = unique_name("tls-req");
    let url = format!("postgres://postgres@{at}/{db}?sslmode=require&application_name={app}");
    let o = options(&url, None);
    assert_eq!(
        o.describe_tls(),
        "sslmode=require, certificate not verified"
    );
    let _client = o.connect().await.unwrap();
    assert!(server_side_tls(&pg, &app).await[0].0);

    // A local host without sslmode keeps the plaintext default.
    let app = unique_name("tls-off");
    let url = format!("postgres://postgres@{at}/{db}?application_name={app}");
    let o = options(&url, Some(&ca));
    assert_eq!(o.ssl_mode(), SslMode::Disable);
    let _client = o.connect().await.unwrap();
    assert!(!server_side_tls(&pg, &app).await[0].0);
    drop_database(&pg, &db).await;
}

#[tokio::test]
async fn refuses_a_certificate_another_ca_signed() {
    let Some(PgTlsEnv { pg, other_ca, .. }) = postgres_tls() else {
        return;
    };
    let at = host_port(&pg);
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = format!("postgres://postgres@{at}/loglift?sslmode={mode}");
        let e = refused(options(&url, Some(&other_ca))).await;
        for part in [
            "Connect",
            at.as_str(),
            "error performing TLS handshake",
            "invalid peer certificate",
            "UnknownIssuer",
            &format!("sslmode={mode}, trusting CA file {}", other_ca.display()),
        ] {
            assert!(e.contains(part), "{mode}: {part:?} missing from: {e}");
        }
    }
    // The platform's roots do not hold the throwaway CA either (or there are none: then the
    // options themselves are refused).
    let url = format!("postgres://postgres@{at}/loglift?sslmode=verify-full");
    match PgConnectOptions::from_url(&url) {
        Ok(o) => {
            let e = refused(o).await;
            assert!(e.contains("UnknownIssuer"), "{e}");
            assert!(e.contains("trusting the platform's roots"), "{e}");
        }
        Err(e) => assert!(e.to_string().contains("no trusted roots"), "{e}"),
    }
}

#[tokio::test]
async fn verify_full_refuses_a_host_name_the_certificate_lacks_and_verify_ca_does_not_check_it() {
    let Some(PgTlsEnv { pg, ca, .. }) = postgres_tls() else {
        return;
    };
    let db = fresh_database(&pg, None).await;
    let port = host_port(&pg).rsplit_once(':').unwrap().1.to_owned();
    // The name is verified against the certificate (localhost, 127.0.0.1, ::1); the address is
    // where the connection goes.
    let host = "db.loglift.invalid";
    let url = |mode: &str| {
        format!("postgres://postgres@{host}:{port}/{db}?hostaddr=127.0.0.1&sslmode={mode}")
    };
    let e = refused(options(&url("verify-full"), Some(&ca))).await;
    assert!(e.contains("not valid for name"), "{e}");
    assert!(e.contains(host), "{e}");
    // Without sslmode a remote-looking name defaults to verify-full.
    let e = refused(options(
        &url("verify-full").replace("&sslmode=verify-full", ""),
        Some(&ca),
    ))
    .await;
    assert!(e.contains("not valid for name"), "{e}");
    // verify-ca checks the chain only: the same server is accepted, and loads.
    let w = PgWarehouse::connect_with(options(&url("verify-ca"), Some(&ca)), MemoryStore::new())
        .await
        .unwrap();
    load_one_batch(&w).await;
    drop(w);
    drop_database(&pg, &db).await;
}

#[tokio::test]
async fn credentials_come_from_a_secrets_manager_secret() {
    let (Some(env), Some(PgTlsEnv { pg, ca, .. })) = (moto(), postgres_tls()) else {
        return;
    };
    // A role that may only log in with its password over TLS, owning a fresh database.
    let role = unique_name("loader").replace('-', "_");
    let password = format!("pw-{}", unique_name("p"));
    admin(&pg)
        .await
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}' IN ROLE {PG_PASSWORD_GROUP}"
        ))
        .await
        .unwrap();
    let db = fresh_database(&pg, Some(&role)).await;
    let (host, port) = host_port(&pg)
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.parse::<u16>().unwrap()))
        .unwrap();
    let secrets = env.secrets_client();
    let create = |name: String, value: String| {
        let secrets = secrets.clone();
        async move {
            secrets
                .create_secret()
                .name(name)
                .secret_string(value)
                .send()
                .await
                .unwrap()
                .arn()
                .unwrap()
                .to_owned()
        }
    };
    let good = create(
        unique_name("rds-db"),
        json!({"engine": "postgres", "host": host, "port": port, "username": role,
               "password": password, "dbname": db, "dbInstanceIdentifier": "test"})
        .to_string(),
    )
    .await;
    let wrong = create(
        unique_name("rds-db-wrong"),
        json!({"username": role, "password": "not-the-password"}).to_string(),
    )
    .await;

    // The loader's configuration, as terraform sets it: the secret, the CA file, and a URL that
    // only says how (the secret says where and who).
    let ca_file = ca.display().to_string();
    let config = LoadConfig::from_lookup(|name| match name {
        "LOGLIFT_WAREHOUSE" => Some("postgres".to_owned()),
        "LOGLIFT_POSTGRES_SECRET_ARN" => Some(good.clone()),
        "LOGLIFT_POSTGRES_URL" => Some("postgres:///?sslmode=verify-full".to_owned()),
        "LOGLIFT_POSTGRES_CA_FILE" => Some(ca_file.clone()),
        _ => None,
    })
    .unwrap();
    let WarehouseTarget::Postgres {
        url,
        secret_arn,
        ca_file,
    } = config.target
    else {
        panic!("not the PostgreSQL target: {:?}", config.target)
    };
    let sm = SecretsManager::new(secrets.clone());
    let o = PgConnectOptions::resolve(
        url.as_deref(),
        secret_arn.as_deref(),
        ca_file.as_deref(),
        &sm,
    )
    .await
    .unwrap();
    assert_eq!(o.ssl_mode(), SslMode::VerifyFull);
    assert!(!format!("{o:?}").contains(&password), "{o:?}");
    let w = PgWarehouse::connect_with(o, MemoryStore::new())
        .await
        .unwrap();
    load_one_batch(&w).await;
    drop(w);

    // Local hosts default to plaintext, which this role may not use: the server says so.
    let o = PgConnectOptions::resolve(None, Some(&good), None, &sm)
        .await
        .unwrap();
    assert_eq!(o.ssl_mode(), SslMode::Disable);
    let e = PgWarehouse::connect_with(o, MemoryStore::new())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no encryption"), "{e}");

    // A secret with the wrong password: refused by the server (not retried).
    let url = format!("postgres://{}/{db}?sslmode=verify-full", host_port(&pg));
    let o = PgConnectOptions::resolve(Some(&url), Some(&wrong), Some(&ca), &sm)
        .await
        .unwrap();
    let e = PgWarehouse::connect_with(o, MemoryStore::new())
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e:?}");
    assert!(
        e.to_string().contains("password authentication failed"),
        "{e}"
    );
    assert!(!e.to_string().contains("not-the-password"), "{e}");

    // A secret that does not exist is named.
    let missing = format!("{good}-gone");
    let e = PgConnectOptions::resolve(Some(&url), Some(&missing), Some(&ca), &sm)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("cannot read the database secret {missing}")),
        "{e}"
    );

    drop_database(&pg, &db).await;
    let _ = admin(&pg)
        .await
        .batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .await;
}
