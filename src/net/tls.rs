//! TLS for every role (https, wss, `tcp connect --tls`, the servers'
//! `--tls-cert`, `tls check`, rediss): rustls driven by the mio loop.
//!
//! rustls is itself sans-IO: `read_tls` takes ciphertext from the socket,
//! `process_new_packets` decrypts, `reader()` yields plaintext, `writer()`
//! takes plaintext and `write_tls` puts ciphertext on the socket. [`TlsConn`]
//! runs those steps on an edge-triggered socket with the same readiness
//! flags as [`crate::reactor::conn::Conn`]; [`TlsLayer`] runs them over a
//! buffered `Conn`. Both read through one path (`Reading`, over a
//! `Wire`): a read fills the buffer from many records, and plaintext
//! decrypted before a failure (an alert, a bad record, a reset) is
//! delivered before the failure is reported. Certificates are verified against
//! the system's roots (the bundled Mozilla roots where the system has none),
//! plus `--cacert`; `-k` turns verification off.

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, Connection, DigitallySignedStruct,
    OtherError, RootCertStore, ServerConfig, ServerConnection,
};

use crate::error::{Error, Exit, Result};
use crate::reactor::conn::{Conn, OutBuf, Read, Stream};
use std::time::Instant;

/// Plaintext handed to rustls at a time (it encrypts as it takes it).
const RECORD_BATCH: usize = 64 * 1024;

/// A TLS failure, carried inside an `io::Error` so it reaches the driver
/// through the ordinary read/write paths and becomes exit 7.
#[derive(Debug)]
pub struct TlsFailure(pub String);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsFailure {}

/// The TLS failure inside an I/O error, if it is one.
pub fn tls_failure(e: &io::Error) -> Option<&TlsFailure> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsFailure>())
}

/// Client settings for every TLS connection of a run.
pub fn client_config(
    cacert: Option<&Path>,
    insecure: bool,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>> {
    let verifier: Arc<dyn ServerCertVerifier> = if insecure {
        Arc::new(NoVerification(provider()))
    } else {
        Arc::new(Verifier::new(cacert)?)
    };
    config_with(verifier, alpn)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration around `verifier`.
pub fn config_with(
    verifier: Arc<dyn ServerCertVerifier>,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(Exit::Tls, "tls", describe(&e)))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The system's roots (the bundled Mozilla roots where the system has
/// none) plus the `--cacert` certificates, which are also returned.
fn roots(cacert: Option<&Path>) -> Result<(RootCertStore, Vec<CertificateDer<'static>>)> {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _) = store.add_parsable_certificates(native.certs);
    if added == 0 {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let mut pinned = Vec::new();
    if let Some(path) = cacert {
        let what = format!("--cacert {}", path.display());
        let pem = std::fs::read(path)
            .map_err(|e| Error::usage(what.clone(), crate::error::describe_io(&e)))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::usage(what.clone(), format!("not a PEM certificate file ({e})")))?;
        if certs.is_empty() {
            return Err(Error::usage(what, "no PEM certificate in the file"));
        }
        for cert in certs {
            store
                .add(cert.clone())
                .map_err(|e| Error::usage(what.clone(), format!("unusable certificate: {e}")))?;
            pinned.push(cert);
        }
    }
    Ok((store, pinned))
}

/// Why a certificate was refused, where rustls and webpki have no word for
/// it (carried in `CertificateError::Other`, read back by [`describe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertProblem {
    /// Signed by itself and not among the trusted certificates.
    SelfSigned,
}

impl fmt::Display for CertProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertProblem::SelfSigned => f.write_str("self-signed certificate"),
        }
    }
}

impl std::error::Error for CertProblem {}

/// The default verification (webpki against the roots), plus what curl
/// does: a server certificate that is itself one of the `--cacert`
/// certificates is trusted as it is (a self-signed certificate made by
/// `openssl req -x509` is a CA certificate, which webpki refuses as a
/// server's own), its host name and validity period still checked.
#[derive(Debug)]
pub struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    pub fn new(cacert: Option<&Path>) -> Result<Verifier> {
        let (store, pinned) = roots(cacert)?;
        let provider = provider();
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
            .build()
            .map_err(|e| {
                Error::new(
                    Exit::Tls,
                    "tls",
                    format!("no usable root certificate ({e})"),
                )
            })?;
        Ok(Verifier {
            inner,
            pinned,
            provider,
        })
    }

    fn verify_pinned(
        &self,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)?;
        let (_, cert) = x509_parser::parse_x509_certificate(end_entity.as_ref())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let now = now.as_secs() as i64;
        if now < cert.validity().not_before.timestamp() {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYet,
            ));
        }
        if now > cert.validity().not_after.timestamp() {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
        }
        Ok(ServerCertVerified::assertion())
    }
}

/// Verifies as [`Verifier`] does but lets the handshake go on either way,
/// keeping the verdict: `tls check` shows a chain it does not trust. The
/// handshake signatures are still checked.
#[derive(Debug)]
pub struct Recorder {
    inner: Arc<Verifier>,
    verdict: std::sync::Mutex<Option<rustls::Error>>,
}

impl Recorder {
    pub fn new(inner: Arc<Verifier>) -> Recorder {
        Recorder {
            inner,
            verdict: std::sync::Mutex::new(None),
        }
    }

    /// Why the certificate was not trusted; `None` if it was (or the
    /// handshake never got that far).
    pub fn failure(&self) -> Option<String> {
        let verdict = self.verdict.lock().unwrap_or_else(|p| p.into_inner());
        verdict.as_ref().map(describe)
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .err();
        *self.verdict.lock().unwrap_or_else(|p| p.into_inner()) = verdict;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Whether the certificate names itself as its issuer.
fn self_signed(der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c.subject().as_raw() == c.issuer().as_raw())
        .unwrap_or(false)
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(e)) => {
                if self
                    .pinned
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref())
                {
                    return self.verify_pinned(end_entity, server_name, now);
                }
                // An issuer looked for by name may be some other certificate
                // of the same name (Debian's snakeoil is CN=localhost too):
                // what fails then is its signature, which says nothing useful.
                let chain_problem = matches!(
                    e,
                    CertificateError::UnknownIssuer
                        | CertificateError::BadSignature
                        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
                        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. }
                        | CertificateError::Other(_)
                );
                if chain_problem && intermediates.is_empty() && self_signed(end_entity.as_ref()) {
                    return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                        OtherError(Arc::new(CertProblem::SelfSigned)),
                    )));
                }
                Err(rustls::Error::InvalidCertificate(e))
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `-k`: accepts any certificate, but still checks the handshake signatures
/// so the connection is at least consistent.
#[derive(Debug)]
pub struct NoVerification(pub Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The hint every certificate failure ends with.
const CERT_HINT: &str = "use --cacert FILE to trust it, or -k to skip verification";

/// A readable reason for a rustls error, with a hint where one helps: one
/// plain phrase per cause, never a debug dump.
pub fn describe(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match certificate_reason(c) {
            Some(reason) => format!("certificate not trusted: {reason}; {CERT_HINT}"),
            None => format!("certificate not trusted; {CERT_HINT}"),
        },
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => {
            "handshake failed: the server does not speak TLS here (or not a version netkit knows)"
                .into()
        }
        E::AlertReceived(alert) => format!(
            "handshake failed: the server sent the alert \"{}\"",
            words(&format!("{alert:?}"))
        ),
        E::NoApplicationProtocol => {
            "handshake failed: no common application protocol (ALPN)".into()
        }
        E::PeerIncompatible(p) => format!(
            "handshake failed: the server is incompatible ({})",
            words(&format!("{p:?}"))
        ),
        E::PeerMisbehaved(p) => format!(
            "handshake failed: the server misbehaved ({})",
            words(&format!("{p:?}"))
        ),
        E::DecryptError => "handshake failed: a record could not be decrypted".into(),
        E::NoCertificatesPresented => "handshake failed: the server sent no certificate".into(),
        E::General(text) => format!("handshake failed: {text}"),
        _ => "handshake failed".into(),
    }
}

/// Why a certificate is refused, in words (`None`: no more precise word).
fn certificate_reason(c: &CertificateError) -> Option<String> {
    use CertificateError as C;
    Some(match c {
        C::UnknownIssuer => "unknown issuer".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it is not valid for this host name".into()
        }
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
        C::BadSignature => "bad signature".into(),
        C::BadEncoding => "it is malformed".into(),
        C::Revoked => "it is revoked".into(),
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "its signature algorithm does not match its issuer's key".into()
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "it is not meant for TLS servers".into()
        }
        C::UnhandledCriticalExtension => "it has an unknown critical extension".into(),
        C::Other(OtherError(inner)) => {
            if let Some(p) = inner.downcast_ref::<CertProblem>() {
                p.to_string()
            } else if let Some(w) = inner.downcast_ref::<webpki::Error>() {
                match w {
                    webpki::Error::CaUsedAsEndEntity => {
                        "the server presents a CA certificate as its own".into()
                    }
                    webpki::Error::EndEntityUsedAsCa => {
                        "a server certificate is used as an issuer".into()
                    }
                    webpki::Error::PathLenConstraintViolated
                    | webpki::Error::MaximumPathDepthExceeded => "the chain is too long".into(),
                    webpki::Error::CertDistrusted => "it is distrusted".into(),
                    _ => return None,
                }
            } else {
                return None;
            }
        }
        _ => return None,
    })
}

/// `HandshakeFailure` as "handshake failure": a unit enum variant's name
/// in words.
fn words(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if !ch.is_alphanumeric() {
            break;
        }
        if ch.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// As [`describe`], said by a server: the peer is a client.
pub fn describe_client(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => {
            "handshake failed: the client does not speak TLS (or not a version netkit knows)".into()
        }
        E::AlertReceived(alert) => {
            use rustls::AlertDescription as A;
            let name = match alert {
                A::UnknownCA => "unknown CA".to_string(),
                other => words(&format!("{other:?}")),
            };
            let distrust = matches!(
                alert,
                A::BadCertificate
                    | A::UnsupportedCertificate
                    | A::CertificateRevoked
                    | A::CertificateExpired
                    | A::CertificateUnknown
                    | A::UnknownCA
            );
            if distrust {
                format!(
                    "handshake failed: the client does not trust the certificate (alert \"{name}\")"
                )
            } else {
                format!("handshake failed: the client sent the alert \"{name}\"")
            }
        }
        E::NoApplicationProtocol => {
            "handshake failed: the client offers no protocol --alpn accepts".into()
        }
        E::PeerIncompatible(p) => format!(
            "handshake failed: the client is incompatible ({})",
            words(&format!("{p:?}"))
        ),
        E::PeerMisbehaved(p) => format!(
            "handshake failed: the client misbehaved ({})",
            words(&format!("{p:?}"))
        ),
        _ => describe(e),
    }
}

/// The failure as an I/O error, worded for the side `tls` is on.
fn failure_of(tls: &Connection, e: &rustls::Error) -> io::Error {
    let text = match tls {
        Connection::Client(_) => describe(e),
        Connection::Server(_) => describe_client(e),
    };
    io::Error::new(io::ErrorKind::InvalidData, TlsFailure(text))
}

/// Why a PEM file was refused, in words (an unreadable file as for any file).
fn pem_problem(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::Io(io) => crate::error::describe_io(io),
        E::NoItemsFound => "no PEM item of the right kind in the file".into(),
        other => format!("not a usable PEM file ({other})"),
    }
}

/// Server settings for `--tls-cert FILE --tls-key FILE`.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    use rustls::pki_types::PrivateKeyDer;
    let what = format!("--tls-cert {}", cert.display());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| Error::usage(what.clone(), pem_problem(&e)))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::usage(what.clone(), pem_problem(&e)))?;
    if chain.is_empty() {
        return Err(Error::usage(what, "no PEM certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::usage(format!("--tls-key {}", key.display()), pem_problem(&e)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(Exit::Tls, "tls", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::usage("--tls-cert/--tls-key", e.to_string()))?;
    Ok(Arc::new(config))
}

/// A TLS connection (either side) over an edge-triggered TCP stream.
pub struct TlsConn<S = TcpStream> {
    pub stream: S,
    tls: Connection,
    /// Plaintext accepted but not yet given to rustls (bounded by the caller
    /// through [`TlsConn::queued`]).
    plain: OutBuf,
    readable: bool,
    writable: bool,
    reading: Reading,
}

impl<S: io::Read + io::Write> TlsConn<S> {
    pub fn new(stream: S, config: Arc<ClientConfig>, host: &str) -> Result<TlsConn<S>> {
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
            .map_err(|_| Error::usage("tls", format!("not a valid server name: {host}")))?;
        let tls = ClientConnection::new(config, name)
            .map_err(|e| Error::new(Exit::Tls, "tls", describe(&e)))?;
        Ok(TlsConn::wrap(stream, Connection::Client(tls)))
    }

    pub fn server(stream: S, config: Arc<ServerConfig>) -> Result<TlsConn<S>> {
        let tls = ServerConnection::new(config)
            .map_err(|e| Error::new(Exit::Tls, "tls", describe(&e)))?;
        Ok(TlsConn::wrap(stream, Connection::Server(tls)))
    }

    fn wrap(stream: S, mut tls: Connection) -> TlsConn<S> {
        tls.set_buffer_limit(None);
        TlsConn {
            stream,
            tls,
            plain: OutBuf::default(),
            readable: true,
            writable: true,
            reading: Reading::default(),
        }
    }

    pub fn set_ready(&mut self, readable: bool, writable: bool) {
        self.readable |= readable;
        self.writable |= writable;
    }

    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// The session, once the handshake is done.
    pub fn info(&self) -> SessionInfo {
        SessionInfo::of(&self.tls)
    }

    /// The certificates the server sent, its own first.
    pub fn peer_chain(&self) -> Vec<CertificateDer<'static>> {
        self.tls
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
            .unwrap_or_default()
    }

    /// The negotiated ALPN protocol and TLS version, for -v.
    pub fn describe_session(&self) -> String {
        let version = self
            .tls
            .protocol_version()
            .map(|v| format!("{v:?}").replace('_', "."))
            .unwrap_or_default();
        let suite = self
            .tls
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        let alpn = self
            .tls
            .alpn_protocol()
            .map(|p| format!(", ALPN {}", String::from_utf8_lossy(p)))
            .unwrap_or_default();
        format!("{version} {suite}{alpn}")
    }

    /// Reads plaintext (as much as `buf` takes, from many records);
    /// drives the handshake as needed. The peer closing TCP without
    /// close_notify is the end (the HTTP framing decides whether anything
    /// is missing); one read path with [`TlsLayer`].
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<Read> {
        let (mut wire, tls, reading) = self.wire();
        reading.read(tls, &mut wire, buf)
    }

    /// Queues plaintext and sends what the socket takes.
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.plain.push(data);
        self.flush()
    }

    /// Encrypts queued plaintext a batch at a time and writes records until
    /// done or the socket pushes back.
    pub fn flush(&mut self) -> io::Result<()> {
        let (mut wire, tls, _) = self.wire();
        wire.flush(tls)
    }

    fn wire(&mut self) -> (SockWire<'_, S>, &mut Connection, &mut Reading) {
        let wire = SockWire {
            stream: &mut self.stream,
            plain: &mut self.plain,
            readable: &mut self.readable,
            writable: &mut self.writable,
        };
        (wire, &mut self.tls, &mut self.reading)
    }

    /// Whether anything is waiting for the socket.
    pub fn pending(&self) -> bool {
        self.tls.wants_write() || !self.plain.is_empty()
    }

    /// Plaintext bytes not yet on the wire (approximately: records rustls
    /// holds count as one batch).
    pub fn queued(&self) -> usize {
        self.plain.len()
            + if self.tls.wants_write() {
                RECORD_BATCH
            } else {
                0
            }
    }

    /// Sends close_notify (best effort).
    pub fn close(&mut self) {
        self.tls.send_close_notify();
        let _ = self.flush();
    }
}

/// Where a read's ciphertext comes from and where rustls's records go:
/// the socket itself ([`TlsConn`]) or a buffered [`Conn`] ([`TlsLayer`]).
trait Wire {
    /// Gives rustls more ciphertext.
    fn feed(&mut self, tls: &mut Connection) -> io::Result<Feed>;
    /// Writes what rustls has to send (handshake, alerts, data).
    fn flush(&mut self, tls: &mut Connection) -> io::Result<()>;
}

enum Feed {
    /// Some ciphertext went to rustls.
    Fed,
    /// Nothing there now.
    WouldBlock,
    /// TCP ended (and rustls was told).
    Eof,
}

/// The read path of [`TlsConn`] and [`TlsLayer`].
#[derive(Debug, Default)]
struct Reading {
    tcp_eof: bool,
    /// A failure met after some plaintext, reported by the next read.
    failed: Option<io::Error>,
}

impl Reading {
    /// Fills `buf` with as much plaintext as is there (many records), so
    /// a bulk transfer makes few large writes; what ends the filling (the
    /// end, a failure: an alert, a bad record, a reset) is reported by the
    /// next call once the plaintext decrypted before it was given. A TCP
    /// end without close_notify is the end, as for nc.
    fn read(
        &mut self,
        tls: &mut Connection,
        wire: &mut impl Wire,
        buf: &mut [u8],
    ) -> io::Result<Read> {
        if self.failed.is_some() {
            return self.drain_then_fail(tls, buf, 0);
        }
        let mut filled = 0;
        let done = |filled: usize, end: Read| Ok(if filled > 0 { Read::Data(filled) } else { end });
        while filled < buf.len() {
            match tls.reader().read(&mut buf[filled..]) {
                Ok(0) => return done(filled, Read::Eof),
                Ok(n) => {
                    filled += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return done(filled, Read::Eof)
                }
                Err(e) => return self.fail(tls, buf, filled, e),
            }
            if self.tcp_eof {
                return done(filled, Read::Eof);
            }
            match wire.feed(tls) {
                Ok(Feed::Fed) => {}
                Ok(Feed::WouldBlock) => return done(filled, Read::WouldBlock),
                Ok(Feed::Eof) => self.tcp_eof = true,
                Err(e) => return self.fail(tls, buf, filled, e),
            }
            if let Err(e) = tls.process_new_packets() {
                // Tell the peer why (an alert), if the socket takes it.
                let _ = wire.flush(tls);
                let e = failure_of(tls, &e);
                return self.fail(tls, buf, filled, e);
            }
            if let Err(e) = wire.flush(tls) {
                return self.fail(tls, buf, filled, e);
            }
        }
        done(filled, Read::WouldBlock)
    }

    /// `e`, once the plaintext decrypted before it (in `buf` from
    /// `filled`, and still in rustls) is delivered.
    fn fail(
        &mut self,
        tls: &mut Connection,
        buf: &mut [u8],
        filled: usize,
        e: io::Error,
    ) -> io::Result<Read> {
        self.failed = Some(e);
        self.drain_then_fail(tls, buf, filled)
    }

    fn drain_then_fail(
        &mut self,
        tls: &mut Connection,
        buf: &mut [u8],
        mut filled: usize,
    ) -> io::Result<Read> {
        while filled < buf.len() {
            match tls.reader().read(&mut buf[filled..]) {
                Ok(n) if n > 0 => filled += n,
                _ => break,
            }
        }
        if filled > 0 {
            return Ok(Read::Data(filled));
        }
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(Read::WouldBlock),
        }
    }
}

/// [`TlsConn`]'s socket, with its readiness flags and queued plaintext.
struct SockWire<'a, S> {
    stream: &'a mut S,
    plain: &'a mut OutBuf,
    readable: &'a mut bool,
    writable: &'a mut bool,
}

impl<S: io::Read + io::Write> Wire for SockWire<'_, S> {
    fn feed(&mut self, tls: &mut Connection) -> io::Result<Feed> {
        if !*self.readable {
            return Ok(Feed::WouldBlock);
        }
        loop {
            match tls.read_tls(self.stream) {
                Ok(0) => return Ok(Feed::Eof),
                Ok(_) => return Ok(Feed::Fed),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *self.readable = false;
                    return Ok(Feed::WouldBlock);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Encrypts queued plaintext a batch at a time and writes records until
    /// done or the socket pushes back.
    fn flush(&mut self, tls: &mut Connection) -> io::Result<()> {
        loop {
            while tls.wants_write() && *self.writable {
                match tls.write_tls(self.stream) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => *self.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if tls.wants_write() || self.plain.is_empty() || tls.is_handshaking() {
                return Ok(());
            }
            let batch = &self.plain.front()[..self.plain.len().min(RECORD_BATCH)];
            let n = tls.writer().write(batch)?;
            self.plain.consume(n);
        }
    }
}

/// What `-v` and `tls check` show of a session: protocol, cipher suite,
/// ALPN, and the server certificate's subject and expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    pub version: String,
    pub cipher: String,
    pub alpn: Option<String>,
    pub subject: Option<String>,
    /// RFC 3339, UTC.
    pub not_after: Option<String>,
}

impl SessionInfo {
    pub fn of(tls: &Connection) -> SessionInfo {
        let leaf = tls
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|der| CertInfo::parse(der.as_ref()));
        SessionInfo {
            version: tls.protocol_version().map(version_name).unwrap_or_default(),
            cipher: tls
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            alpn: tls
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            subject: leaf.as_ref().map(|c| c.subject.clone()),
            not_after: leaf.map(|c| rfc3339(c.not_after)),
        }
    }
}

/// `TLSv1_3` as `TLSv1.3`.
pub fn version_name(v: rustls::ProtocolVersion) -> String {
    format!("{v:?}").replace('_', ".")
}

/// Seconds since the epoch as RFC 3339 (UTC); the epoch itself for times
/// before it.
pub fn rfc3339(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The parts of a certificate worth showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    pub self_signed: bool,
}

impl CertInfo {
    /// `None` for DER that x509-parser refuses.
    pub fn parse(der: &[u8]) -> Option<CertInfo> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                    GeneralName::IPAddress(ip) => {
                        let text = match ip.len() {
                            4 => <[u8; 4]>::try_from(*ip)
                                .map(|a| std::net::IpAddr::from(a).to_string())
                                .unwrap_or_default(),
                            16 => <[u8; 16]>::try_from(*ip)
                                .map(|a| std::net::IpAddr::from(a).to_string())
                                .unwrap_or_default(),
                            _ => continue,
                        };
                        sans.push(format!("IP:{text}"));
                    }
                    GeneralName::RFC822Name(m) => sans.push(format!("email:{m}")),
                    GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                    _ => {}
                }
            }
        }
        Some(CertInfo {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            sans,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        })
    }
}

/// Ciphertext read from the socket at a time: many records per system
/// call (rustls takes one record at a time from it).
const CIPHER_CHUNK: usize = 256 * 1024;

/// TLS layered over a buffered [`Conn`]: the connection carries the
/// ciphertext (so its queue, counters, acknowledgement tracking and
/// half-close work as for plain TCP) and this layer turns it into
/// plaintext and back. `tcp connect --tls` pipes through it.
pub struct TlsLayer {
    tls: Connection,
    staged: Staged,
    reading: Reading,
    /// The end of the plaintext was reported.
    eof: bool,
    /// stdin ended: close_notify and shutdown once the handshake is done.
    close_pending: bool,
    closed: bool,
    /// Plaintext counters.
    pub sent: u64,
    pub received: u64,
    /// Whether [`TlsLayer::take_session`] has reported the session yet.
    reported: bool,
}

impl TlsLayer {
    pub fn client(config: Arc<ClientConfig>, name: &str) -> Result<TlsLayer> {
        let server = ServerName::try_from(name.trim_matches(['[', ']']).to_string())
            .map_err(|_| Error::usage("--sni", format!("not a valid server name: {name}")))?;
        let tls = ClientConnection::new(config, server)
            .map_err(|e| Error::new(Exit::Tls, "tls", describe(&e)))?;
        Ok(TlsLayer::wrap(Connection::Client(tls)))
    }

    /// The server's side (`tcp listen --tls-cert`): waits for the client's hello.
    pub fn server(config: Arc<ServerConfig>) -> Result<TlsLayer> {
        let tls = ServerConnection::new(config)
            .map_err(|e| Error::new(Exit::Tls, "tls", describe_client(&e)))?;
        Ok(TlsLayer::wrap(Connection::Server(tls)))
    }

    fn wrap(mut tls: Connection) -> TlsLayer {
        tls.set_buffer_limit(None);
        TlsLayer {
            tls,
            staged: Staged::default(),
            reading: Reading::default(),
            eof: false,
            close_pending: false,
            closed: false,
            sent: 0,
            received: 0,
            reported: false,
        }
    }

    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// The session, once, as soon as the handshake is done.
    pub fn take_session(&mut self) -> Option<SessionInfo> {
        if self.reported || self.tls.is_handshaking() {
            return None;
        }
        self.reported = true;
        Some(SessionInfo::of(&self.tls))
    }

    /// Reads plaintext, feeding rustls ciphertext from `conn` as needed.
    /// Like [`Conn::read`], the end is reported once, then `WouldBlock`.
    pub fn read<S: Stream>(
        &mut self,
        conn: &mut Conn<S>,
        buf: &mut [u8],
        now: Instant,
    ) -> io::Result<Read> {
        if self.eof {
            return Ok(Read::WouldBlock);
        }
        let read = self.read_inner(conn, buf, now);
        if let Ok(Read::Eof) = read {
            self.eof = true;
        }
        read
    }

    /// See [`Reading::read`].
    fn read_inner<S: Stream>(
        &mut self,
        conn: &mut Conn<S>,
        buf: &mut [u8],
        now: Instant,
    ) -> io::Result<Read> {
        if self.reading.failed.is_none() {
            self.flush(conn, now)?;
        }
        let mut wire = LayerWire {
            conn,
            now,
            staged: &mut self.staged,
            close_pending: self.close_pending,
            closed: &mut self.closed,
        };
        let read = self.reading.read(&mut self.tls, &mut wire, buf);
        if let Ok(Read::Data(n)) = read {
            self.received += n as u64;
        }
        read
    }

    /// Encrypts `data` (held until the handshake is done) and queues it.
    pub fn send<S: Stream>(
        &mut self,
        conn: &mut Conn<S>,
        data: &[u8],
        now: Instant,
    ) -> io::Result<()> {
        self.tls.writer().write_all(data)?;
        self.sent += data.len() as u64;
        self.flush(conn, now)
    }

    /// Moves every record rustls has into the connection's queue, then
    /// performs a pending close (close_notify, then shutdown).
    pub fn flush<S: Stream>(&mut self, conn: &mut Conn<S>, now: Instant) -> io::Result<()> {
        let mut wire = LayerWire {
            conn,
            now,
            staged: &mut self.staged,
            close_pending: self.close_pending,
            closed: &mut self.closed,
        };
        wire.flush(&mut self.tls)
    }

    /// Plaintext held back by the handshake counts as queued.
    pub fn queued<S: Stream>(&self, conn: &Conn<S>) -> usize {
        let held = usize::from(self.tls.is_handshaking() && self.sent > 0);
        conn.queued() + held
    }

    /// stdin ended: close_notify and a half-close, after the handshake.
    pub fn shutdown_write<S: Stream>(
        &mut self,
        conn: &mut Conn<S>,
        now: Instant,
    ) -> io::Result<()> {
        self.close_pending = true;
        self.flush(conn, now)
    }

    pub fn write_closed(&self) -> bool {
        self.close_pending
    }
}

/// Ciphertext read from the connection (`buf[at..end]` not yet taken by
/// rustls); allocated at the first read.
#[derive(Debug, Default)]
struct Staged {
    buf: Vec<u8>,
    at: usize,
    end: usize,
}

/// [`TlsLayer`]'s connection, with its staged ciphertext and its close.
struct LayerWire<'a, S: Stream> {
    conn: &'a mut Conn<S>,
    now: Instant,
    staged: &'a mut Staged,
    close_pending: bool,
    closed: &'a mut bool,
}

impl<S: Stream> Wire for LayerWire<'_, S> {
    fn feed(&mut self, tls: &mut Connection) -> io::Result<Feed> {
        let s = &mut *self.staged;
        if s.at == s.end {
            if s.buf.len() < CIPHER_CHUNK {
                s.buf.resize(CIPHER_CHUNK, 0);
            }
            (s.at, s.end) = (0, 0);
            match self.conn.read(&mut s.buf, self.now)? {
                Read::Data(n) => s.end = n,
                Read::WouldBlock => return Ok(Feed::WouldBlock),
                Read::Eof => {
                    // Tell rustls: a read of nothing is the end.
                    tls.read_tls(&mut &[][..])?;
                    return Ok(Feed::Eof);
                }
            }
        }
        let mut rest = &s.buf[s.at..s.end];
        s.at += tls.read_tls(&mut rest)?;
        Ok(Feed::Fed)
    }

    fn flush(&mut self, tls: &mut Connection) -> io::Result<()> {
        if self.close_pending && !*self.closed && !tls.is_handshaking() {
            *self.closed = true;
            tls.send_close_notify();
        }
        let mut out = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut out)?;
        }
        self.conn.send(&out, usize::MAX, self.now)?;
        if *self.closed {
            self.conn.shutdown_write(self.now)?;
        }
        self.conn.flush(self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_read_as_words() {
        assert_eq!(words("HandshakeFailure"), "handshake failure");
        assert_eq!(words("UnknownCA"), "unknown c a");
        assert_eq!(words("Unit { x: 1 }"), "unit");
    }

    #[test]
    fn certificate_failures_are_plain_with_the_hint() {
        let cases = [
            (CertificateError::UnknownIssuer, "unknown issuer"),
            (CertificateError::BadSignature, "bad signature"),
            (
                CertificateError::Other(OtherError(Arc::new(CertProblem::SelfSigned))),
                "self-signed certificate",
            ),
            (
                CertificateError::Other(OtherError(Arc::new(webpki::Error::CaUsedAsEndEntity))),
                "CA certificate as its own",
            ),
            (
                CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                    signature_algorithm_id: vec![6, 8, 42],
                    public_key_algorithm_id: vec![1, 2],
                },
                "signature algorithm",
            ),
        ];
        for (e, want) in cases {
            let text = describe(&rustls::Error::InvalidCertificate(e));
            assert!(text.contains(want), "{text}");
            assert!(text.ends_with(CERT_HINT), "{text}");
            assert!(!text.contains('{') && !text.contains('['), "{text}");
        }
    }

    /// Which client reads in [`tls_pair`].
    #[derive(Clone, Copy)]
    enum Side {
        /// A [`TlsLayer`] over a buffered [`Conn`] (`tcp connect --tls`).
        Layer,
        /// A [`TlsConn`] on the socket itself (https, the server core).
        Sock,
    }

    /// A client ([`Side`]) and a server [`TlsLayer`] over a Unix socket
    /// pair, driven by a mio poll: the server sends `data` (then, if given,
    /// `garbage` raw on the socket, then closes); returns the client's reads.
    fn tls_pair(side: Side, data: &[u8], garbage: Option<&[u8]>) -> Vec<io::Result<Read>> {
        use mio::net::UnixStream;
        use mio::{Events, Interest, Poll, Token};
        use rustls::pki_types::PrivateKeyDer;

        let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let server_config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![key.cert.der().clone()],
                PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
            )
            .unwrap();
        let client_config = client_config(None, true, &[]).unwrap();
        let addr: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let now = Instant::now();
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let mut poll = Poll::new().unwrap();
        let both = Interest::READABLE | Interest::WRITABLE;
        poll.registry().register(&mut a, Token(0), both).unwrap();
        poll.registry().register(&mut b, Token(1), both).unwrap();
        let mut cb = Conn::new(b, addr, addr, now);
        let (mut layer, mut sock) = match side {
            Side::Layer => {
                let client = TlsLayer::client(client_config, "localhost").unwrap();
                (Some((client, Conn::new(a, addr, addr, now))), None)
            }
            Side::Sock => (
                None,
                Some(TlsConn::new(a, client_config, "localhost").unwrap()),
            ),
        };
        let mut server = TlsLayer::server(Arc::new(server_config)).unwrap();
        server.send(&mut cb, data, now).unwrap();
        let mut reads = Vec::new();
        let mut buf = vec![0; 256 * 1024];
        let mut sbuf = vec![0; 1024];
        let mut events = Events::with_capacity(8);
        let mut garbage_sent = false;
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        loop {
            assert!(Instant::now() < deadline, "stuck; reads so far: {reads:?}");
            // The server: its handshake, its data, then its end.
            let _ = server.read(&mut cb, &mut sbuf, now);
            server.flush(&mut cb, now).unwrap();
            if !server.is_handshaking() && cb.queued() == 0 && !garbage_sent {
                garbage_sent = true;
                match garbage {
                    Some(g) => {
                        cb.send(g, usize::MAX, now).unwrap();
                        cb.flush(now).unwrap();
                    }
                    None => server.shutdown_write(&mut cb, now).unwrap(),
                }
            }
            loop {
                let r = match (&mut layer, &mut sock) {
                    (Some((client, ca)), _) => client.read(ca, &mut buf, now),
                    (_, Some(client)) => {
                        // Its hello: a TlsConn's user flushes before reading.
                        let _ = client.flush();
                        client.read(&mut buf)
                    }
                    _ => unreachable!(),
                };
                let stop = !matches!(r, Ok(Read::Data(_)));
                let end = matches!(r, Ok(Read::Eof) | Err(_));
                if !matches!(r, Ok(Read::WouldBlock)) {
                    reads.push(r);
                }
                if end {
                    return reads;
                }
                if stop {
                    break;
                }
            }
            poll.poll(&mut events, Some(std::time::Duration::from_millis(100)))
                .unwrap();
            for e in events.iter() {
                match (e.token(), &mut layer, &mut sock) {
                    (Token(0), Some((_, ca)), _) => ca.ready(e),
                    (Token(0), _, Some(client)) => client.set_ready(
                        e.is_readable() || e.is_read_closed() || e.is_error(),
                        e.is_writable() || e.is_write_closed() || e.is_error(),
                    ),
                    _ => cb.ready(e),
                }
            }
        }
    }

    fn data_len(reads: &[io::Result<Read>]) -> Vec<usize> {
        reads
            .iter()
            .filter_map(|r| match r {
                Ok(Read::Data(n)) => Some(*n),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_read_takes_many_records_at_once_and_ends_with_close_notify() {
        for side in [Side::Layer, Side::Sock] {
            let data = vec![7u8; 3 << 20];
            let reads = tls_pair(side, &data, None);
            let sizes = data_len(&reads);
            assert_eq!(sizes.iter().sum::<usize>(), data.len(), "{sizes:?}");
            // Records carry at most 16 KiB; reads hold many of them.
            assert!(sizes.iter().any(|&n| n > 64 * 1024), "{sizes:?}");
            assert!(matches!(reads.last(), Some(Ok(Read::Eof))), "{reads:?}");
        }
    }

    /// No plaintext lost before a failure: what was decrypted before a bad
    /// record is delivered, then the failure.
    fn plaintext_then_failure(side: Side, data: &[u8]) {
        // An application-data record that does not decrypt.
        let bad = b"\x17\x03\x03\x00\x20aaaabbbbccccddddeeeeffffgggghhhh";
        let reads = tls_pair(side, data, Some(bad));
        let sizes = data_len(&reads);
        assert_eq!(sizes.iter().sum::<usize>(), data.len(), "{sizes:?}");
        match reads.last() {
            Some(Err(e)) => assert!(tls_failure(e).is_some(), "{e}"),
            other => panic!("no failure at the end: {other:?}"),
        }
    }

    #[test]
    fn plaintext_read_before_a_bad_record_is_delivered_then_the_failure() {
        plaintext_then_failure(Side::Layer, &[9u8; 100_000]);
        plaintext_then_failure(Side::Layer, b"the last words");
    }

    #[test]
    fn tls_conn_delivers_plaintext_read_before_a_bad_record_then_the_failure() {
        plaintext_then_failure(Side::Sock, &[9u8; 100_000]);
        // One small record and the bad one arrive in one socket read.
        plaintext_then_failure(Side::Sock, b"the last words");
    }

    #[test]
    fn a_server_names_the_client_as_the_peer() {
        let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert_eq!(
            describe_client(&plain),
            "handshake failed: the client does not speak TLS (or not a version netkit knows)"
        );
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA);
        assert_eq!(
            describe_client(&alert),
            "handshake failed: the client does not trust the certificate (alert \"unknown CA\")"
        );
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(
            describe_client(&alert),
            "handshake failed: the client sent the alert \"handshake failure\""
        );
        // The client's own wording is unchanged.
        assert!(describe(&plain).contains("the server does not speak TLS"));
    }

    #[test]
    fn alerts_are_words() {
        let text = describe(&rustls::Error::AlertReceived(
            rustls::AlertDescription::HandshakeFailure,
        ));
        assert_eq!(
            text,
            "handshake failed: the server sent the alert \"handshake failure\""
        );
    }
}
