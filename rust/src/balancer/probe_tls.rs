//! TLS for https active probes (rustls with the ring provider).
//!
//! Kong's probes are cosockets: `sslhandshake(nil, sni, https_verify_certificate)`, verified
//! against the node's `lua_ssl_trusted_certificate` (`system`: the system store; else PEM
//! files or PEM text) and the server name. Verification off still encrypts and still checks
//! the handshake's signatures; it only takes any certificate.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned};

/// A probe's TLS stream over its TCP connection.
pub type TlsStream = StreamOwned<ClientConnection, std::net::TcpStream>;

/// The two client configurations of the node's probes, built once when the thread starts.
pub struct ProbeTls {
    /// Verifying against the trusted certificates, or why it cannot (no CA certificate).
    verified: Result<Arc<ClientConfig>, String>,
    unverified: Arc<ClientConfig>,
}

impl ProbeTls {
    /// From `lua_ssl_trusted_certificate`'s entries: `system`, a PEM file's path or PEM text.
    /// A file that cannot be read or holds no certificate is an error.
    pub fn new(trusted: &[String]) -> Result<ProbeTls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for entry in trusted {
            let certificates: Vec<CertificateDer<'static>> = if entry == "system" {
                // a system store that is partly unreadable still gives what it could read
                rustls_native_certs::load_native_certs().certs
            } else if entry.contains("-----BEGIN") {
                CertificateDer::pem_slice_iter(entry.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("lua_ssl_trusted_certificate: bad PEM text: {e}"))?
            } else {
                let found = CertificateDer::pem_file_iter(entry)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("lua_ssl_trusted_certificate: cannot read {entry}: {e}"))?;
                if found.is_empty() {
                    return Err(format!("lua_ssl_trusted_certificate: no certificate in {entry}"));
                }
                found
            };
            // a certificate webpki cannot use as an anchor is skipped, as OpenSSL skips it
            roots.add_parsable_certificates(certificates);
        }
        let verified = if roots.is_empty() {
            Err("no trusted CA certificate (lua_ssl_trusted_certificate)".to_owned())
        } else {
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| e.to_string())
        };
        let unverified = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        Ok(ProbeTls { verified, unverified: Arc::new(unverified) })
    }

    /// The handshake over a connected stream (whose timeouts bound it), `name` sent as the SNI
    /// (not sent for an IP address, as TLS allows none) and, with `verify`, checked against
    /// the certificate. The error is the handshake's, in words.
    pub fn connect(&self, mut tcp: std::net::TcpStream, verify: bool, name: &str) -> Result<TlsStream, String> {
        let config = if verify {
            self.verified.clone()?
        } else {
            self.unverified.clone()
        };
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(bare.to_owned()).map_err(|e| format!("bad server name: {e}"))?;
        let mut conn = ClientConnection::new(config, server_name).map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            match conn.complete_io(&mut tcp) {
                Ok((0, 0)) if conn.is_handshaking() => return Err("closed".to_owned()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err("timeout".to_owned())
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(StreamOwned::new(conn, tcp))
    }
}

/// `https_verify_certificate: false`: any certificate, the handshake's signatures still
/// checked by the provider.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
