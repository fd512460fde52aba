//! TLS on the public listener (`server.public_tls_cert`, `public_tls_key`):
//! partners send their shared secret as a bearer token, which must not cross
//! the internet in clear. The certificate is served through a resolver whose
//! key can be swapped, so SIGHUP loads a renewed certificate without a
//! restart; a renewal that does not load keeps the one in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::ring::{default_provider, sign::any_supported_type};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::shutdown::Shutdown;

#[derive(Debug, thiserror::Error)]
#[error("cannot use {path} for TLS: {message}")]
pub struct TlsError {
    path: String,
    message: String,
}

impl TlsError {
    fn new(path: &Path, message: impl ToString) -> TlsError {
        TlsError {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}

/// The public listener's certificate, reloadable from its PEM files.
#[derive(Debug)]
pub struct ReloadableCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<ReloadableCert>, TlsError> {
        let current = read_pair(cert_path, key_path)?;
        Ok(Arc::new(ReloadableCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// Reads the files again; on error the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(read_pair(&self.cert_path, &self.key_path)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// A rustls configuration serving whatever certificate is current.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new(&self.cert_path, e))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(config)
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

/// A certificate chain and its private key, both PEM, checked to match.
fn read_pair(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| TlsError::new(cert_path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(cert_path, e))?;
    if chain.is_empty() {
        return Err(TlsError::new(cert_path, "no PEM certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsError::new(key_path, e))?;
    let signing_key = any_supported_type(&key).map_err(|e| TlsError::new(key_path, e))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| TlsError::new(key_path, format!("does not match the certificate: {e}")))?;
    Ok(certified)
}

/// Reloads the certificate on every SIGHUP until shutdown. Without TLS,
/// SIGHUP is only acknowledged in the log (instead of ending the process,
/// its default effect). The handler is installed on the call, before the
/// returned task first runs, so no early SIGHUP can end the process.
pub fn reload_on_sighup(
    cert: Option<Arc<ReloadableCert>>,
    mut shutdown: Shutdown,
) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    async move {
        #[cfg(unix)]
        if let Ok(mut hangups) = hangups {
            loop {
                tokio::select! {
                    _ = hangups.recv() => {}
                    _ = shutdown.requested() => return,
                }
                reload(cert.as_deref());
            }
        }
        let _ = (cert, shutdown.requested().await);
    }
}

fn reload(cert: Option<&ReloadableCert>) {
    match cert {
        Some(cert) => match cert.reload() {
            Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
            Err(error) => {
                tracing::error!(%error, "SIGHUP: TLS certificate not reloaded; the previous one stays in use");
            }
        },
        None => tracing::info!("SIGHUP: no TLS certificate configured, nothing to reload"),
    }
}
