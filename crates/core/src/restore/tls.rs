//! TLS for direct Postgres connections, with libpq's `sslmode` meanings:
//!
//! - `disable`: no TLS. Allowed with a password only to loopback
//!   (127.0.0.0/8, ::1, localhost, a Unix socket): a password is never sent
//!   unencrypted over a network.
//! - `require`: TLS, the certificate not checked — unless a CA file is
//!   configured, then checked like `verify-ca` (as libpq does when a root
//!   certificate exists).
//! - `verify-ca`: TLS, the chain checked against the given CA file, not
//!   the host name. A CA file is required (as in libpq): against the
//!   public roots, any publicly trusted certificate for any name would pass.
//! - `verify-full`: TLS, chain and host name checked.
//! - absent: `verify-full` (`disable` for a Unix socket, which has no TLS). libpq's default is `prefer`, which falls back to
//!   plaintext when the server refuses TLS; here nothing ever falls back
//!   silently, so `prefer` and `allow` are refused and a connection string
//!   without `sslmode` gets the strongest mode. Say `sslmode=require` to
//!   reach a server whose CA you do not have (encrypted, not
//!   authenticated).
//!
//! Roots: the CA file when one is given (the profile's `postgres_ca_file`,
//! or `sslrootcert=` in the connection string — Supabase publishes its own
//! CA), else Mozilla's roots (webpki-roots) and the system's store.
//! tokio-postgres knows only disable/prefer/require, so `sslmode` and
//! `sslrootcert` are taken out of the string here and TLS is always
//! `require` towards it: a server answering "no TLS" ends the connection.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode as WireSslMode};

use crate::error::{Error, RestoreFailure, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Result<SslMode> {
        match value {
            "disable" => Ok(SslMode::Disable),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            "allow" | "prefer" => Err(Error::Config(format!(
                "sslmode={value} may fall back to an unencrypted connection, which Archive Desk never does: \
                 use verify-full (the default), verify-ca with a CA file, or require (or disable, for a database on this machine)"
            ))),
            other => Err(Error::Config(format!(
                "unknown sslmode {other:?} in the Postgres connection string: use disable, require, verify-ca or verify-full"
            ))),
        }
    }
}

/// A parsed connection string: what tokio-postgres takes, plus the TLS
/// settings it does not know.
pub struct Connection {
    pub config: tokio_postgres::Config,
    pub mode: SslMode,
    pub ca_file: Option<PathBuf>,
}

/// How the TLS handshake is made (or not).
#[derive(Clone)]
pub enum Connector {
    Plain,
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Connection {
    /// Parse `url` (`postgres://...` or `key=value ...`); `ca_file` is the
    /// profile's CA file, overridden by `sslrootcert=` in the string.
    pub fn parse(url: &str, ca_file: Option<&Path>) -> Result<Connection> {
        let (rest, mode, root) = take_tls_params(url)?;
        let mut config: tokio_postgres::Config = rest.parse().map_err(|_| {
            Error::Config(
                "the Postgres connection string cannot be parsed (expected postgres://user:password@host:port/db)"
                    .into(),
            )
        })?;
        // A Unix socket never carries TLS (libpq ignores sslmode there).
        let unix_only = !config.get_hosts().is_empty()
            && config.get_hosts().iter().all(|h| matches!(h, Host::Unix(_)))
            && config.get_hostaddrs().is_empty();
        let mode = mode.unwrap_or(if unix_only {
            SslMode::Disable
        } else {
            SslMode::VerifyFull
        });
        config.ssl_mode(match mode {
            SslMode::Disable => WireSslMode::Disable,
            _ => WireSslMode::Require,
        });
        let connection = Connection {
            config,
            mode,
            ca_file: root.map(PathBuf::from).or_else(|| ca_file.map(Path::to_path_buf)),
        };
        // Without a CA file of its own, verify-ca would accept any publicly
        // trusted certificate for any domain (the name is not checked): libpq
        // refuses it too.
        if mode == SslMode::VerifyCa && connection.ca_file.is_none() {
            return Err(Error::Config(format!(
                "sslmode=verify-ca needs the CA that issued the server's certificate: set the profile's \
                 postgres_ca_file (or sslrootcert= in the connection string) for {}, or use sslmode=verify-full",
                connection.host()
            )));
        }
        if mode == SslMode::Disable && connection.config.get_password().is_some() && !connection.is_loopback() {
            return Err(Error::Config(format!(
                "refusing to send the Postgres password unencrypted to {}: sslmode=disable is allowed only for a \
                 database on this machine (127.0.0.1, ::1, localhost); use sslmode=verify-full or require",
                connection.host()
            )));
        }
        Ok(connection)
    }

    /// The host(s) for messages (never the password).
    pub fn host(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        if hosts.is_empty() {
            self.config
                .get_hostaddrs()
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(",")
        } else {
            hosts.join(",")
        }
    }

    /// Whether every address the connection may use is on this machine.
    fn is_loopback(&self) -> bool {
        let addrs = self.config.get_hostaddrs();
        if !addrs.is_empty() {
            return addrs.iter().all(IpAddr::is_loopback);
        }
        let hosts = self.config.get_hosts();
        !hosts.is_empty()
            && hosts.iter().all(|h| match h {
                Host::Tcp(name) => crate::loopback::is_loopback_host(name),
                Host::Unix(_) => true,
            })
    }

    pub fn connector(&self) -> Result<Connector> {
        if self.mode == SslMode::Disable {
            return Ok(Connector::Plain);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Internal(format!("TLS setup: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, &self.ca_file) {
            (SslMode::Require, None) => Arc::new(WithoutHostName { provider, chain: None }),
            (SslMode::Require | SslMode::VerifyCa, ca) => Arc::new(WithoutHostName {
                chain: Some(self.webpki(ca.as_deref(), &provider)?),
                provider,
            }),
            (_, ca) => self.webpki(ca.as_deref(), &provider)?,
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Connector::Tls(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
    }

    fn webpki(
        &self,
        ca_file: Option<&Path>,
        provider: &Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Arc<WebPkiServerVerifier>> {
        let roots = match ca_file {
            Some(path) => ca_roots(path)?,
            None => default_roots(),
        };
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| Error::Internal(format!("TLS setup: {e}")))
    }
}

/// The certificates of a PEM file, as roots.
fn ca_roots(path: &Path) -> Result<RootCertStore> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| Error::Config(format!("{}: not a PEM certificate file: {e}", path.display())))?;
        roots.add(cert).map_err(|e| {
            Error::Config(format!(
                "{}: a certificate cannot be used as a root: {e}",
                path.display()
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(Error::Config(format!(
            "{}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(roots)
}

/// Mozilla's roots and whatever the system trusts.
fn default_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Unreadable system certificates are skipped; Mozilla's roots remain.
    let _ = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

/// Take `sslmode` and `sslrootcert` out of a connection string (URL or
/// `key=value` form), returning the rest.
fn take_tls_params(url: &str) -> Result<(String, Option<SslMode>, Option<String>)> {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: String| -> Result<bool> {
        match key {
            "sslmode" => mode = Some(SslMode::parse(&value)?),
            "sslrootcert" => root = Some(value),
            _ => return Ok(false),
        }
        Ok(true)
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), None, None));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(key, percent_decode(value))? {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, mode, root));
    }
    let mut kept = Vec::new();
    for (key, value) in key_values(url)? {
        if !take(&key, value.clone())? {
            kept.push(format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")));
        }
    }
    Ok((kept.join(" "), mode, root))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// libpq's `key = value` pairs (values optionally single-quoted, `\`
/// escapes inside quotes).
fn key_values(s: &str) -> Result<Vec<(String, String)>> {
    let bad = || Error::Config("the Postgres connection string cannot be parsed (expected key=value pairs)".into());
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(bad());
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next().ok_or_else(bad)? {
                    '\'' => break,
                    '\\' => value.push(chars.next().ok_or_else(bad)?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    value.push(chars.next().ok_or_else(bad)?);
                    continue;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
}

/// A TLS failure in plain words, if `e` is one.
pub fn tls_failure(e: &tokio_postgres::Error, host: &str, mode: SslMode) -> Option<Error> {
    let mut text = e.to_string();
    let mut rustls_error = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            rustls_error = Some(r.clone());
            break;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                rustls_error = Some(r.clone());
                break;
            }
        }
        source = s.source();
    }
    let plain = match rustls_error {
        Some(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => format!(
            "the Postgres server's certificate is not valid for the host name {host} (sslmode={}): connect by the \
             name the certificate gives, or use sslmode=verify-ca with the profile's postgres_ca_file (or \
             sslrootcert=) set to the CA that issued it",
            mode.as_str()
        ),
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature)) => {
            format!(
                "the Postgres server at {host} presented a certificate that is not trusted (sslmode={}): set the \
                 profile's postgres_ca_file (or sslrootcert= in the connection string) to the CA that issued it — \
                 for Supabase, the certificate under Database settings -> SSL configuration",
                mode.as_str()
            )
        }
        Some(rustls::Error::InvalidCertificate(other)) => format!(
            "the Postgres server at {host} presented an unusable certificate ({other:?}, sslmode={})",
            mode.as_str()
        ),
        Some(other) => format!("TLS with the Postgres server at {host} failed: {other}"),
        None if text.contains("server does not support TLS") => format!(
            "the Postgres server at {host} does not offer TLS (sslmode={}); nothing was sent unencrypted",
            mode.as_str()
        ),
        None => return None,
    };
    Some(Error::Restore {
        failure: RestoreFailure::TargetTls,
        message: plain,
    })
}

/// `require` and `verify-ca`: the handshake signatures are checked, the
/// chain only when there is a CA (`require` without one is encrypted,
/// nothing more), the host name never. webpki checks the chain before the
/// name, so a name error means the chain was good.
#[derive(Debug)]
struct WithoutHostName {
    provider: Arc<rustls::crypto::CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for WithoutHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_and_default_to_verify_full() {
        let c = Connection::parse("postgres://u:p@db.example.com:6543/postgres", None).unwrap();
        assert_eq!(c.mode, SslMode::VerifyFull);
        assert_eq!(c.config.get_ssl_mode(), WireSslMode::Require);
        let c = Connection::parse(
            "postgresql://u:p@db.example.com/postgres?sslmode=verify-ca&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=3",
            Some(Path::new("/profile/ca.pem")),
        )
        .unwrap();
        assert_eq!(c.mode, SslMode::VerifyCa);
        assert_eq!(c.ca_file.as_deref(), Some(Path::new("/tmp/ca.pem")));
        assert_eq!(c.config.get_connect_timeout(), Some(&std::time::Duration::from_secs(3)));
        let c = Connection::parse(
            "host=db.example.com user=u password='it''s' sslmode=require dbname=postgres",
            Some(Path::new("/profile/ca.pem")),
        );
        assert!(c.is_err(), "'' is not an escape in libpq");
        let c = Connection::parse(
            "host=db.example.com user=u password='it\\'s' sslmode = require dbname=postgres",
            Some(Path::new("/profile/ca.pem")),
        )
        .unwrap();
        assert_eq!(c.mode, SslMode::Require);
        assert_eq!(c.config.get_password(), Some(&b"it's"[..]));
        assert_eq!(c.ca_file.as_deref(), Some(Path::new("/profile/ca.pem")));
        let c = Connection::parse("host=/var/run/postgresql user=u password=p dbname=db", None).unwrap();
        assert_eq!(c.mode, SslMode::Disable, "a Unix socket is local and has no TLS");
        for weak in ["prefer", "allow"] {
            let e = Connection::parse(&format!("postgres://u:p@h/db?sslmode={weak}"), None)
                .err()
                .unwrap();
            assert!(e.to_string().contains("fall back"), "{e}");
        }
    }

    #[test]
    fn verify_ca_needs_a_ca_file() {
        for url in [
            "postgres://u:p@db.example.com/postgres?sslmode=verify-ca",
            "host=db.example.com user=u password=p sslmode=verify-ca",
        ] {
            let e = Connection::parse(url, None).err().unwrap();
            assert_eq!(e.code(), "config");
            let text = e.to_string();
            assert!(
                text.contains("postgres_ca_file") && text.contains("verify-full"),
                "{text}"
            );
            assert!(!text.contains(":p@"), "{text}");
        }
        let c = Connection::parse(
            "postgres://u:p@db.example.com/postgres?sslmode=verify-ca",
            Some(Path::new("/profile/ca.pem")),
        )
        .unwrap();
        assert_eq!(c.mode, SslMode::VerifyCa);
        assert!(Connection::parse(
            "postgres://u:p@db.example.com/postgres?sslmode=verify-ca&sslrootcert=%2Fca.pem",
            None
        )
        .is_ok());
    }

    #[test]
    fn a_password_goes_unencrypted_only_to_loopback() {
        for remote in [
            "postgres://u:p@db.example.com/db?sslmode=disable",
            "postgres://u:p@10.0.0.5/db?sslmode=disable",
            "host=localhost hostaddr=192.168.1.2 user=u password=p sslmode=disable",
        ] {
            let e = Connection::parse(remote, None).err().unwrap();
            assert_eq!(e.code(), "config");
            assert!(
                e.to_string()
                    .contains("refusing to send the Postgres password unencrypted"),
                "{e}"
            );
            assert!(!e.to_string().contains(":p@"), "{e}");
        }
        for local in [
            "postgres://u:p@127.0.0.1:5432/db?sslmode=disable",
            "postgres://u:p@127.8.9.1/db?sslmode=disable",
            "postgres://u:p@localhost/db?sslmode=disable",
            "postgres://u:p@[::1]:5432/db?sslmode=disable",
            "postgres://u@db.example.com/db?sslmode=disable",
        ] {
            assert!(Connection::parse(local, None).is_ok(), "{local}");
        }
    }
}
