//! Connection settings: where and as whom ([`PgConnectOptions::new`]: the URL, and an RDS
//! database secret, [`DbSecret`]), and how ([`SslMode`], the trusted [`Roots`]).
//!
//! The URL is libpq's (`postgres://user:password@host:5432/db?sslmode=verify-full`, or the
//! `key=value` form). `sslmode` and `sslrootcert` are taken out of it here (tokio-postgres knows
//! neither `verify-ca`/`verify-full` nor `sslrootcert`); everything else goes to tokio-postgres.
//!
//! Defaults: `sslmode=verify-full` unless every host is local (`localhost`, a loopback address or
//! a Unix socket), where it is `disable`, as before TLS existed here; TLS is never used over a
//! Unix socket (as libpq). Roots: `sslrootcert=<file>`, else the configured CA file
//! (`LOGLIFT_POSTGRES_CA_FILE`), else the platform's store; `sslrootcert=system` is the platform's
//! store and, as in libpq, needs (and defaults to) `verify-full`.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use loglift_ports::{PortError, PortResult, SecretSource};
use serde_json::{Map, Value};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls::{client_config, Check, Roots, SslMode};

/// Why connection settings are unusable (a configuration error: fix it, then restart).
#[derive(Debug, thiserror::Error)]
pub enum PgConfigError {
    #[error("the PostgreSQL URL is invalid: {reason}")]
    Url { reason: String },
    #[error("sslmode={value:?} is not supported: use disable, prefer, require, verify-ca or verify-full")]
    SslMode { value: String },
    #[error("sslrootcert=system needs sslmode=verify-full (any publicly trusted certificate would pass a weaker check), not {mode}")]
    SystemRootsNeedVerifyFull { mode: SslMode },
    #[error("no PostgreSQL host: give one in the URL (postgres://host:5432/db) or in the secret (`host`)")]
    NoHost,
    #[error("the database secret is unusable: {reason}")]
    Secret { reason: String },
    #[error("cannot read the database secret {id}: {source}")]
    SecretUnreadable { id: String, source: PortError },
    #[error("cannot use the CA file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("no trusted roots to verify PostgreSQL's certificate with ({reason}): set LOGLIFT_POSTGRES_CA_FILE or sslrootcert")]
    NoRoots { reason: String },
    #[error("cannot configure TLS: {reason}")]
    Tls { reason: String },
}

/// Database credentials in Secrets Manager's JSON structure for Amazon RDS and Aurora:
/// `username` and `password` (all an RDS-managed master user secret holds), and optionally
/// `host`, `port` (number or string), `dbname` and `engine`.
#[derive(Clone, PartialEq, Eq)]
pub struct DbSecret {
    pub username: String,
    pub password: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub dbname: Option<String>,
    pub engine: Option<String>,
}

impl fmt::Debug for DbSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSecret")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("engine", &self.engine)
            .finish()
    }
}

impl DbSecret {
    /// Parse a secret string. Errors name the field and never quote a value.
    pub fn from_json(text: &str) -> Result<DbSecret, PgConfigError> {
        let invalid = |reason: String| PgConfigError::Secret { reason };
        let map: Map<String, Value> = serde_json::from_str(text).map_err(|e| {
            invalid(format!(
                "not a JSON object ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let text_field = |name: &str| -> Result<Option<String>, PgConfigError> {
            match map.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("`{name}` is not a string"))),
            }
        };
        let required = |name: &str| {
            text_field(name)?.ok_or_else(|| invalid(format!("`{name}` is missing or empty")))
        };
        let port = match map.get("port") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| invalid("`port` is not a TCP port number".to_owned()))?,
            ),
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse::<u16>()
                    .map_err(|_| invalid("`port` is not a TCP port number".to_owned()))?,
            ),
            Some(_) => return Err(invalid("`port` is not a TCP port number".to_owned())),
        };
        let secret = DbSecret {
            username: required("username")?,
            password: required("password")?,
            host: text_field("host")?,
            port,
            dbname: text_field("dbname")?,
            engine: text_field("engine")?,
        };
        if let Some(engine) = &secret.engine {
            if !engine.to_ascii_lowercase().contains("postgres") {
                return Err(invalid(format!(
                    "it is for engine {engine:?}, not PostgreSQL"
                )));
            }
        }
        Ok(secret)
    }

    /// The user and password always; the host, port and database where the URL gives none.
    fn apply(&self, config: &mut Config) {
        config.user(&self.username);
        config.password(&self.password);
        if config.get_hosts().is_empty() {
            if let Some(host) = &self.host {
                config.host(host);
                if config.get_ports().is_empty() {
                    if let Some(port) = self.port {
                        config.port(port);
                    }
                }
            }
        }
        if config.get_dbname().is_none() {
            if let Some(dbname) = &self.dbname {
                config.dbname(dbname);
            }
        }
    }
}

/// Everything needed to open a connection: tokio-postgres' settings, the TLS mode and the
/// rustls configuration it implies (roots read once, when the options are built).
#[derive(Clone)]
pub struct PgConnectOptions {
    config: Config,
    mode: SslMode,
    check: Option<Check>,
    roots: Roots,
    tls: Option<MakeRustlsConnect>,
}

impl fmt::Debug for PgConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnectOptions")
            .field("target", &self.target())
            .field("user", &self.config.get_user())
            .field("dbname", &self.config.get_dbname())
            .field("sslmode", &self.mode)
            .field("check", &self.check)
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

impl PgConnectOptions {
    /// The loader's options: the secret `secret_id` read through `secrets` (when named), then
    /// [`PgConnectOptions::new`].
    pub async fn resolve<S: SecretSource>(
        url: Option<&str>,
        secret_id: Option<&str>,
        ca_file: Option<&Path>,
        secrets: &S,
    ) -> Result<PgConnectOptions, PgConfigError> {
        let secret = match secret_id {
            None => None,
            Some(id) => {
                let text = secrets.secret_string(id).await.map_err(|source| {
                    PgConfigError::SecretUnreadable {
                        id: id.to_owned(),
                        source,
                    }
                })?;
                Some(DbSecret::from_json(&text).map_err(|e| match e {
                    PgConfigError::Secret { reason } => PgConfigError::Secret {
                        reason: format!("{id}: {reason}"),
                    },
                    other => other,
                })?)
            }
        };
        PgConnectOptions::new(url, secret.as_ref(), ca_file)
    }

    /// Options from a URL alone (see the module docs for its TLS defaults).
    pub fn from_url(url: &str) -> Result<PgConnectOptions, PgConfigError> {
        PgConnectOptions::new(Some(url), None, None)
    }

    /// Options from the URL (optional when the secret names the host), the secret (its user and
    /// password replace the URL's; its host, port and database fill in what the URL leaves
    /// out) and a CA file trusted unless the URL's `sslrootcert` says otherwise.
    pub fn new(
        url: Option<&str>,
        secret: Option<&DbSecret>,
        ca_file: Option<&Path>,
    ) -> Result<PgConnectOptions, PgConfigError> {
        let (rest, params) = split_tls_params(url.unwrap_or(""))?;
        let mut config = if rest.trim().is_empty() {
            Config::new()
        } else {
            rest.parse::<Config>().map_err(|e| PgConfigError::Url {
                reason: error_chain(&e),
            })?
        };
        if let Some(secret) = secret {
            secret.apply(&mut config);
        }
        if config.get_hosts().is_empty() {
            return Err(PgConfigError::NoHost);
        }
        let requested = params.sslmode.as_deref().map(SslMode::parse).transpose()?;
        let (roots, explicit_ca, requested) = match params.sslrootcert.as_deref() {
            Some("system") => match requested {
                None | Some(SslMode::VerifyFull) => {
                    (Roots::Platform, true, Some(SslMode::VerifyFull))
                }
                Some(mode) => return Err(PgConfigError::SystemRootsNeedVerifyFull { mode }),
            },
            Some(path) => (Roots::File(path.into()), true, requested),
            None => match ca_file {
                Some(path) => (Roots::File(path.to_owned()), true, requested),
                None => (Roots::Platform, false, requested),
            },
        };
        let mode = effective_mode(requested, config.get_hosts(), config.get_hostaddrs());
        let check = Check::of(mode, explicit_ca);
        config.ssl_mode(mode.negotiation());
        let tls = check
            .map(|check| client_config(check, &roots).map(MakeRustlsConnect::new))
            .transpose()?;
        Ok(PgConnectOptions {
            config,
            mode,
            check,
            roots,
            tls,
        })
    }

    /// The `sslmode` in effect.
    pub fn ssl_mode(&self) -> SslMode {
        self.mode
    }

    /// Where the certificate is checked against, when it is.
    pub fn roots(&self) -> Option<&Roots> {
        matches!(self.check, Some(Check::Chain | Check::ChainAndName)).then_some(&self.roots)
    }

    /// `host:port` of each host, for messages.
    pub fn target(&self) -> String {
        let ports = self.config.get_ports();
        self.config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let port = ports
                    .get(i)
                    .or_else(|| ports.first())
                    .copied()
                    .unwrap_or(5432);
                match host {
                    Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                    Host::Tcp(name) => format!("{name}:{port}"),
                    #[cfg(unix)]
                    Host::Unix(path) => format!("{}/.s.PGSQL.{port}", path.display()),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// How the connection is secured, for messages: `sslmode=verify-full, CA file …`.
    pub fn describe_tls(&self) -> String {
        match self.roots() {
            Some(roots) => format!("sslmode={}, trusting {roots}", self.mode),
            None if self.check.is_some() => {
                format!("sslmode={}, certificate not verified", self.mode)
            }
            None => format!("sslmode={}", self.mode),
        }
    }

    /// Open a connection; its driver runs on a spawned task until the client is dropped.
    pub async fn connect(&self) -> PortResult<Client> {
        let failed = |e: tokio_postgres::Error| self.connect_error(e);
        let client = match &self.tls {
            None => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(failed)?;
                tokio::spawn(drive(connection));
                client
            }
            Some(tls) => {
                let (client, connection) =
                    self.config.connect(tls.clone()).await.map_err(failed)?;
                tokio::spawn(drive(connection));
                client
            }
        };
        Ok(client)
    }

    /// A failed connection attempt: the database's refusal (by SQLSTATE, as every other
    /// statement), or why the server could not be reached or verified, with the TLS settings.
    fn connect_error(&self, e: tokio_postgres::Error) -> PortError {
        let target = self.target();
        if e.as_db_error().is_some() {
            return crate::pg_error("Connect", &target, e);
        }
        PortError::Transient {
            op: "Connect",
            message: format!("{} ({})", error_chain(&e), self.describe_tls()),
            target,
            source: None,
        }
        .with_source(e)
    }
}

async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::warn!(error = %error_chain(&e), "PostgreSQL connection ended");
    }
}

/// An error and its sources, `a: b: c` (a source already in the text is not repeated).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The mode in effect: never TLS over Unix sockets; unless asked, `verify-full` for remote
/// hosts and `disable` when every host is local. A `hostaddr` is where the connection really
/// goes (the host name then only names the server for TLS), so every address must be loopback
/// too: `host=localhost hostaddr=10.0.0.7` is remote.
fn effective_mode(requested: Option<SslMode>, hosts: &[Host], addrs: &[IpAddr]) -> SslMode {
    if addrs.is_empty() && hosts.iter().all(is_socket) {
        return SslMode::Disable;
    }
    let local = hosts.iter().all(is_local) && addrs.iter().all(IpAddr::is_loopback);
    requested.unwrap_or(if local {
        SslMode::Disable
    } else {
        SslMode::VerifyFull
    })
}

fn is_socket(host: &Host) -> bool {
    match host {
        Host::Tcp(_) => false,
        #[cfg(unix)]
        Host::Unix(_) => true,
    }
}

fn is_local(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => {
            let name = name.trim_start_matches('[').trim_end_matches(']');
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    }
}

/// The TLS settings taken out of a connection string.
#[derive(Debug, Default, PartialEq, Eq)]
struct TlsParams {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

impl TlsParams {
    /// Keep `value` if `key` is a TLS setting; whether it was.
    fn take(&mut self, key: &str, value: String) -> bool {
        match key {
            "sslmode" => self.sslmode = Some(value),
            "sslrootcert" => self.sslrootcert = Some(value),
            _ => return false,
        }
        true
    }
}

/// The connection string without its TLS settings, and those settings.
fn split_tls_params(conn: &str) -> Result<(String, TlsParams), PgConfigError> {
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        split_url(conn)
    } else {
        split_key_values(conn)
    }
}

/// URL form. Like tokio-postgres, the credentials end at the first `@`; the query starts at
/// the first `?` after them.
fn split_url(url: &str) -> Result<(String, TlsParams), PgConfigError> {
    let mut params = TlsParams::default();
    let after_credentials = url.find('@').map_or(0, |i| i + 1);
    let Some(query_at) = url
        .get(after_credentials..)
        .and_then(|rest| rest.find('?'))
        .map(|i| i + after_credentials)
    else {
        return Ok((url.to_owned(), params));
    };
    let Some((base, query)) = url.split_at_checked(query_at) else {
        return Ok((url.to_owned(), params));
    };
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            kept.push(pair);
            continue;
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|e| PgConfigError::Url {
                    reason: format!("a query parameter is not UTF-8: {e}"),
                })
        };
        if !params.take(&decode(key)?, decode(value)?) {
            kept.push(pair);
        }
    }
    let mut rest = base.to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, params))
}

/// `key=value` form, tokenized as tokio-postgres does (values quoted with `'`, `\` escapes);
/// the other settings are written back quoted.
fn split_key_values(conn: &str) -> Result<(String, TlsParams), PgConfigError> {
    let mut params = TlsParams::default();
    let mut kept = Vec::new();
    let mut chars = conn.chars().peekable();
    let invalid = |reason: &str| PgConfigError::Url {
        reason: reason.to_owned(),
    };
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        if key.is_empty() {
            if chars.peek().is_none() {
                break;
            }
            return Err(invalid("a setting has no name before `=`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(invalid(&format!("expected `=` after `{key}`")));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(invalid(&format!("the value of `{key}` is not closed")));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
            if value.is_empty() {
                return Err(invalid(&format!("`{key}` has no value")));
            }
        }
        if !params.take(&key, value.clone()) {
            kept.push(format!(
                "{key}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    Ok((kept.join(" "), params))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// A self-signed CA (`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days
    /// 36500 -subj "/CN=loglift unit test CA"`): the modes that check need roots to build, and
    /// the platform's store may be empty. Nothing connects.
    fn test_ca() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/unit-ca.pem")
    }

    fn options(url: &str) -> PgConnectOptions {
        PgConnectOptions::new(Some(url), None, Some(&test_ca()))
            .unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn sslmode_defaults_to_verify_full_for_remote_hosts_and_disable_for_local_ones() {
        for (url, mode) in [
            (
                "postgres://u@db.example.com:5432/loglift",
                SslMode::VerifyFull,
            ),
            ("postgres://u@10.0.0.7/loglift", SslMode::VerifyFull),
            ("postgres://u@localhost:5432/loglift", SslMode::Disable),
            ("postgres://u@LOCALHOST/loglift", SslMode::Disable),
            ("postgres://u@127.0.0.1:5432/loglift", SslMode::Disable),
            ("postgres://u@127.8.9.10/loglift", SslMode::Disable),
            ("postgres://u@[::1]:5432/loglift", SslMode::Disable),
            (
                "postgres://u@localhost/loglift?hostaddr=10.0.0.7",
                SslMode::VerifyFull,
            ),
            (
                "postgres://u@localhost/loglift?hostaddr=127.0.0.1",
                SslMode::Disable,
            ),
            (
                "postgres://u@localhost,db.example.com/loglift",
                SslMode::VerifyFull,
            ),
            (
                "host=db.example.com user=u dbname=loglift",
                SslMode::VerifyFull,
            ),
            ("host=127.0.0.1 user=u", SslMode::Disable),
            ("host=/var/run/postgresql user=u", SslMode::Disable),
            (
                "postgres://u@%2Fvar%2Frun%2Fpostgresql/loglift",
                SslMode::Disable,
            ),
            // A name verified against the certificate is remote even when its address is not.
            (
                "postgres://u@db.example.com/loglift?hostaddr=127.0.0.1",
                SslMode::VerifyFull,
            ),
        ] {
            assert_eq!(options(url).ssl_mode(), mode, "{url}");
        }
    }

    #[test]
    fn sslmode_in_the_url_wins_except_over_unix_sockets() {
        for (url, mode) in [
            (
                "postgres://u@db.example.com/x?sslmode=disable",
                SslMode::Disable,
            ),
            (
                "postgres://u@db.example.com/x?sslmode=prefer",
                SslMode::Prefer,
            ),
            (
                "postgres://u@db.example.com/x?sslmode=require",
                SslMode::Require,
            ),
            (
                "postgres://u@db.example.com/x?sslmode=verify-ca",
                SslMode::VerifyCa,
            ),
            (
                "postgres://u@127.0.0.1/x?sslmode=verify-full",
                SslMode::VerifyFull,
            ),
            (
                "postgres://u@localhost/x?connect_timeout=5&sslmode=require",
                SslMode::Require,
            ),
            (
                "host=localhost sslmode = 'verify-ca' user=u",
                SslMode::VerifyCa,
            ),
            // libpq never uses TLS over a Unix socket, whatever sslmode says.
            ("host=/tmp sslmode=verify-full", SslMode::Disable),
        ] {
            assert_eq!(options(url).ssl_mode(), mode, "{url}");
        }
    }

    #[test]
    fn unknown_sslmode_values_are_refused_by_name() {
        for value in ["allow", "verify_full", "VERIFY-FULL", ""] {
            let url = format!("postgres://u@db.example.com/x?sslmode={value}");
            let e = PgConnectOptions::from_url(&url).unwrap_err();
            assert!(
                e.to_string()
                    .contains("use disable, prefer, require, verify-ca or verify-full"),
                "{url}: {e}"
            );
        }
    }

    #[test]
    fn tls_settings_are_taken_out_and_the_rest_is_kept() {
        let (rest, params) = split_tls_params(
            "postgres://u:p%40ss@h:5433/db?application_name=loader&sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p%40ss@h:5433/db?application_name=loader&connect_timeout=5"
        );
        assert_eq!(params.sslmode.as_deref(), Some("verify-ca"));
        assert_eq!(params.sslrootcert.as_deref(), Some("/etc/ca.pem"));

        let (rest, params) = split_tls_params("postgres://u:a?b@h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgres://u:a?b@h/db");
        assert_eq!(params.sslmode.as_deref(), Some("require"));

        let (rest, params) = split_tls_params("postgres://h/db").unwrap();
        assert_eq!(
            (rest.as_str(), params),
            ("postgres://h/db", TlsParams::default())
        );
    }

    #[test]
    fn key_value_strings_keep_their_other_settings_with_quoting() {
        let (rest, params) = split_tls_params(
            "host=h  sslmode=verify-full password='a \\'b\\\\' sslrootcert='/a b/ca.pem' application_name=x\\ y",
        )
        .unwrap();
        assert_eq!(params.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(params.sslrootcert.as_deref(), Some("/a b/ca.pem"));
        assert_eq!(
            rest,
            "host='h' password='a \\'b\\\\' application_name='x y'"
        );
        let config: Config = rest.parse().unwrap();
        assert_eq!(config.get_password(), Some("a 'b\\".as_bytes()));
        assert_eq!(config.get_application_name(), Some("x y"));
        for bad in ["host", "host=", "=x", "host='h"] {
            assert!(split_tls_params(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roots_come_from_sslrootcert_then_the_ca_file_then_the_platform() {
        let ca = test_ca();
        let ca_str = ca.to_str().unwrap();
        let other = Path::new("/nonexistent/other.pem");
        let url = format!("postgres://u@db.example.com/x?sslrootcert={ca_str}");
        let o = PgConnectOptions::new(Some(&url), None, Some(other)).unwrap();
        assert_eq!(o.roots(), Some(&Roots::File(ca.clone())));
        let o =
            PgConnectOptions::new(Some("postgres://u@db.example.com/x"), None, Some(&ca)).unwrap();
        assert_eq!(o.roots(), Some(&Roots::File(ca.clone())));
        assert!(
            o.describe_tls()
                .starts_with("sslmode=verify-full, trusting CA file"),
            "{}",
            o.describe_tls()
        );
        // `require` checks the chain once a CA is configured (libpq), else only encrypts.
        let o = PgConnectOptions::new(
            Some("postgres://u@db.example.com/x?sslmode=require"),
            None,
            Some(&ca),
        )
        .unwrap();
        assert_eq!(o.roots(), Some(&Roots::File(ca.clone())));
        let o =
            PgConnectOptions::from_url("postgres://u@db.example.com/x?sslmode=require").unwrap();
        assert_eq!(o.roots(), None);
        assert_eq!(
            o.describe_tls(),
            "sslmode=require, certificate not verified"
        );
        // A disabled connection reads no CA file at all.
        let o = PgConnectOptions::new(Some("postgres://u@localhost/x"), None, Some(other)).unwrap();
        assert_eq!((o.ssl_mode(), o.roots()), (SslMode::Disable, None));
        // sslrootcert=system: the platform's store (when this machine has one), and verify-full.
        if !rustls_native_certs::load_native_certs().certs.is_empty() {
            let o = options("postgres://u@localhost/x?sslrootcert=system");
            assert_eq!(
                (o.ssl_mode(), o.roots()),
                (SslMode::VerifyFull, Some(&Roots::Platform))
            );
        }
        let e = PgConnectOptions::from_url("postgres://u@h/x?sslrootcert=system&sslmode=verify-ca")
            .unwrap_err();
        assert!(e.to_string().contains("needs sslmode=verify-full"), "{e}");
    }

    #[test]
    fn unreadable_or_empty_ca_files_are_named() {
        let e = PgConnectOptions::new(
            Some("postgres://u@h/x"),
            None,
            Some(Path::new("/nonexistent/ca.pem")),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let empty =
            std::env::temp_dir().join(format!("loglift-pg-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = PgConnectOptions::new(Some("postgres://u@h/x"), None, Some(&empty)).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        let _ = std::fs::remove_file(&empty);
    }

    #[test]
    fn an_rds_secret_gives_the_user_and_password_and_fills_in_the_rest() {
        let full = DbSecret::from_json(
            r#"{"engine":"postgres","host":"db.abc.us-east-1.rds.amazonaws.com","username":"loader",
                "password":"s3cret","dbname":"loglift","port":5432,"dbInstanceIdentifier":"db"}"#,
        )
        .unwrap();
        assert_eq!(full.port, Some(5432));
        assert!(!format!("{full:?}").contains("s3cret"));
        let o = PgConnectOptions::new(None, Some(&full), Some(&test_ca())).unwrap();
        assert_eq!(o.target(), "db.abc.us-east-1.rds.amazonaws.com:5432");
        assert_eq!(o.config.get_user(), Some("loader"));
        assert_eq!(o.config.get_password(), Some("s3cret".as_bytes()));
        assert_eq!(o.config.get_dbname(), Some("loglift"));
        assert_eq!(o.ssl_mode(), SslMode::VerifyFull);
        assert!(!format!("{o:?}").contains("s3cret"));

        // The URL says where (a proxy, say) and how; the secret says who.
        let o = PgConnectOptions::new(
            Some("postgres://ignored:old@proxy.example.com:6432/other?sslmode=require"),
            Some(&full),
            None,
        )
        .unwrap();
        assert_eq!(o.target(), "proxy.example.com:6432");
        assert_eq!(o.config.get_user(), Some("loader"));
        assert_eq!(o.config.get_password(), Some("s3cret".as_bytes()));
        assert_eq!(o.config.get_dbname(), Some("other"));
        assert_eq!(o.ssl_mode(), SslMode::Require);

        // An RDS-managed master user secret holds only the user and password.
        let managed = DbSecret::from_json(r#"{"username":"postgres","password":"p"}"#).unwrap();
        let o = PgConnectOptions::new(
            Some("postgres://db.example.com/loglift"),
            Some(&managed),
            Some(&test_ca()),
        )
        .unwrap();
        assert_eq!(o.target(), "db.example.com:5432");
        assert_eq!(o.config.get_user(), Some("postgres"));
        let e = PgConnectOptions::new(None, Some(&managed), None).unwrap_err();
        assert!(e.to_string().contains("no PostgreSQL host"), "{e}");
        let o = PgConnectOptions::new(
            Some("postgres:///loglift?sslmode=disable"),
            Some(&full),
            Some(&test_ca()),
        )
        .unwrap();
        assert_eq!(o.target(), "db.abc.us-east-1.rds.amazonaws.com:5432");
        assert_eq!(o.config.get_dbname(), Some("loglift"));
        assert_eq!(o.ssl_mode(), SslMode::Disable);

        let string_port =
            DbSecret::from_json(r#"{"username":"u","password":"p","port":"6543","host":"h"}"#)
                .unwrap();
        assert_eq!(string_port.port, Some(6543));
    }

    #[test]
    fn unusable_secrets_are_refused_without_quoting_them() {
        for (text, why) in [
            ("not json s3cret", "not a JSON object"),
            (r#"["s3cret"]"#, "not a JSON object"),
            (r#"{"password":"s3cret"}"#, "`username` is missing"),
            (
                r#"{"username":"u","password":""}"#,
                "`password` is missing or empty",
            ),
            (
                r#"{"username":"u","password":12345}"#,
                "`password` is not a string",
            ),
            (
                r#"{"username":"u","password":"s3cret","port":70000}"#,
                "`port` is not a TCP port",
            ),
            (
                r#"{"username":"u","password":"s3cret","port":"x5432"}"#,
                "`port` is not a TCP port",
            ),
            (
                r#"{"username":"u","password":"s3cret","engine":"mysql"}"#,
                "engine \"mysql\"",
            ),
        ] {
            let e = DbSecret::from_json(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
            assert!(!e.contains("s3cret") && !e.contains("12345"), "{text}: {e}");
        }
        assert!(DbSecret::from_json(
            r#"{"username":"u","password":"p","engine":"aurora-postgresql"}"#
        )
        .is_ok());
    }

    /// Secrets by id, as Secrets Manager would answer.
    struct FakeSecrets(Vec<(&'static str, &'static str)>);

    impl SecretSource for FakeSecrets {
        async fn secret_string(&self, id: &str) -> PortResult<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == id)
                .map(|(_, v)| (*v).to_owned())
                .ok_or_else(|| PortError::NotFound {
                    what: format!("GetSecretValue {id}"),
                    source: None,
                })
        }
    }

    #[tokio::test]
    async fn resolve_reads_the_named_secret_and_names_it_when_it_fails() {
        let secrets = FakeSecrets(vec![
            (
                "rds",
                r#"{"username":"loader","password":"pw","host":"db.example.com","port":5432,"dbname":"loglift"}"#,
            ),
            ("broken", r#"{"username":"loader"}"#),
        ]);
        let ca = test_ca();
        let o = PgConnectOptions::resolve(None, Some("rds"), Some(&ca), &secrets)
            .await
            .unwrap();
        assert_eq!(o.target(), "db.example.com:5432");
        assert_eq!(o.config.get_password(), Some("pw".as_bytes()));
        let o = PgConnectOptions::resolve(Some("postgres://u@localhost/x"), None, None, &secrets)
            .await
            .unwrap();
        assert_eq!(o.config.get_user(), Some("u"));
        let e = PgConnectOptions::resolve(None, Some("gone"), None, &secrets)
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read the database secret gone:"),
            "{e}"
        );
        let e = PgConnectOptions::resolve(None, Some("broken"), None, &secrets)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("broken: `password` is missing"),
            "{e}"
        );
    }

    #[test]
    fn the_target_names_every_host_and_port() {
        assert_eq!(options("postgres://u@a:1,b:2/x").target(), "a:1,b:2");
        assert_eq!(options("postgres://u@[::1]:7/x").target(), "[::1]:7");
        assert_eq!(options("host=h user=u").target(), "h:5432");
    }

    #[test]
    fn url_errors_do_not_quote_the_url() {
        let e = PgConnectOptions::from_url("postgres://u:s3cret@h/x?sslcert=/c.pem").unwrap_err();
        assert!(e.to_string().contains("sslcert"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
