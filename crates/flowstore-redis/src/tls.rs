//! TLS for `rediss://`: rustls on the `ring` provider.

use std::sync::Arc;

use flowstore_core::{Error, Result};
use fred::types::config::{TlsConfig, TlsConnector};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A TLS configuration trusting the CA certificates of `ca_file` (PEM), or the
/// system's roots when there is none.
pub(crate) fn config(ca_file: Option<&str>) -> Result<TlsConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|err| Error::config("cannot read the TLS CA file").with_source(err))?;
            for cert in certs {
                let cert = cert.map_err(|err| {
                    Error::config("invalid PEM in the TLS CA file").with_source(err)
                })?;
                roots.add(cert).map_err(|err| {
                    Error::config("invalid certificate in the TLS CA file").with_source(err)
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                // A system store may hold certificates rustls cannot use; skip them.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(Error::config(
            "no CA certificates to verify the Redis server with (give `ca_file`)",
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::config("TLS setup failed").with_source(err))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(client_config).into())
}
