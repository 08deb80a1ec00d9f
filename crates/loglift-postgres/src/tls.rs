//! TLS for PostgreSQL connections: libpq's `sslmode` values, the trusted roots, and the rustls
//! client configuration each mode needs.
//!
//! tokio-postgres itself knows `disable`, `prefer` and `require` (whether to ask the server for
//! TLS); what is checked about the server's certificate is decided here, by the certificate
//! verifier the rustls configuration carries:
//!
//! | `sslmode` | TLS | certificate chain | host name |
//! |---|---|---|---|
//! | `disable` | never | — | — |
//! | `prefer` | when the server offers it | not checked | not checked |
//! | `require` | always | checked when a CA is configured (as libpq does), else not | not checked |
//! | `verify-ca` | always | checked | not checked |
//! | `verify-full` | always | checked | checked (DNS name or IP address in the certificate) |
//!
//! The crypto provider is rustls' aws-lc-rs one, the provider the AWS SDK's HTTPS client
//! already builds.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::connect::PgConfigError;

/// libpq's `sslmode` (`allow` is not supported: it would try plaintext first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// The URL value: `disable`, `prefer`, `require`, `verify-ca` or `verify-full`.
    pub fn parse(value: &str) -> Result<SslMode, PgConfigError> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(PgConfigError::SslMode {
                    value: other.to_owned(),
                })
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres is told: whether to ask for TLS, and whether to insist.
    pub(crate) fn negotiation(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The platform's store (rustls-native-certs: `SSL_CERT_FILE`/`SSL_CERT_DIR`, else the
    /// system bundle); `sslrootcert=system` asks for it explicitly.
    Platform,
    /// A PEM bundle: `sslrootcert=<path>` or `LOGLIFT_POSTGRES_CA_FILE`.
    File(PathBuf),
}

impl fmt::Display for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::Platform => f.write_str("the platform's roots"),
            Roots::File(path) => write!(f, "CA file {}", path.display()),
        }
    }
}

/// What the certificate verifier checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Nothing (encryption only).
    Nothing,
    /// The chain up to a trusted root.
    Chain,
    /// The chain and the host name.
    ChainAndName,
}

impl Check {
    /// The check of `mode`; `explicit_ca` is whether a CA was configured (`require` then checks
    /// the chain, as libpq does when a root certificate file exists).
    pub(crate) fn of(mode: SslMode, explicit_ca: bool) -> Option<Check> {
        match mode {
            SslMode::Disable => None,
            SslMode::Prefer => Some(Check::Nothing),
            SslMode::Require if explicit_ca => Some(Check::Chain),
            SslMode::Require => Some(Check::Nothing),
            SslMode::VerifyCa => Some(Check::Chain),
            SslMode::VerifyFull => Some(Check::ChainAndName),
        }
    }
}

/// The rustls client configuration for `check`, trusting `roots` when it checks anything.
pub(crate) fn client_config(check: Check, roots: &Roots) -> Result<ClientConfig, PgConfigError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgConfigError::Tls {
            reason: e.to_string(),
        })?;
    let config = match check {
        Check::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptionOnly { algorithms }))
            .with_no_client_auth(),
        Check::Chain => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly {
                roots: Arc::new(root_store(roots)?),
                algorithms,
            }))
            .with_no_client_auth(),
        Check::ChainAndName => {
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store(roots)?),
                provider,
            )
            .build()
            .map_err(|e| PgConfigError::Tls {
                reason: e.to_string(),
            })?;
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        }
    };
    Ok(config)
}

/// The trusted roots, read once.
fn root_store(roots: &Roots) -> Result<RootCertStore, PgConfigError> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::Platform => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                return Err(PgConfigError::NoRoots {
                    reason: if errors.is_empty() {
                        "the platform's store has no certificates".to_owned()
                    } else {
                        errors.join("; ")
                    },
                });
            }
        }
        Roots::File(path) => {
            for cert in read_pem_certificates(path)? {
                store.add(cert).map_err(|e| PgConfigError::CaFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
    }
    Ok(store)
}

/// Every certificate in a PEM file; an error when there is none.
fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PgConfigError> {
    let error = |reason: String| PgConfigError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error("no PEM certificate in it".to_owned()));
    }
    Ok(certs)
}

/// `verify-ca` (and `require` with a CA): the chain must lead to a trusted root; the name the
/// certificate was issued to is not checked.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `prefer` and `require` without a CA: the connection is encrypted, the certificate is not
/// checked (libpq's meaning of those modes). The handshake signatures are still verified.
#[derive(Debug)]
struct EncryptionOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for EncryptionOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
