//! TLS connections (feature `tls`): rustls on the ring provider.

use std::path::Path;
use std::sync::Arc;

use flowstore_core::{Error, Result};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

/// A connector that verifies the server's certificate and host name against
/// the certificates in `ca_file` (PEM), or the Mozilla roots when `None`.
pub(crate) fn connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |what: &str| {
                Error::config(format!("cannot use the CA file {}: {what}", path.display()))
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|err| bad("cannot read it").with_source(err))?;
            for cert in certs {
                let cert = cert.map_err(|err| bad("not a PEM certificate").with_source(err))?;
                roots
                    .add(cert)
                    .map_err(|err| bad("unusable certificate").with_source(err))?;
            }
            if roots.is_empty() {
                return Err(bad("it holds no certificate"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::config("cannot set up TLS").with_source(err))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
