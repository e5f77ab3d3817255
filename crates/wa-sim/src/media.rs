//! Media: the answer to `media_conn` and the HTTPS host it names, where
//! clients upload encrypted blobs and fetch them back by direct path.
//!
//! The host listens on `127.0.0.1:0` with a certificate made at start,
//! signed by a CA whose PEM is written to a file for clients to trust. Blobs
//! live in memory for as long as the simulator does.

mod http;
mod store;
#[cfg(test)]
mod tests;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument as _, debug, info, info_span, warn};
use wa_core::binary::Node;

pub use store::MediaFault;
use store::Store;

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The media host of a simulator.
#[derive(Debug)]
pub(crate) struct MediaServer {
    store: Arc<Store>,
    ca_pem_path: PathBuf,
    accept: AbortHandle,
}

impl MediaServer {
    /// Starts the media host on loopback.
    pub(crate) async fn start() -> std::io::Result<MediaServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let host = listener.local_addr()?.to_string();
        let certs = tls::make().map_err(std::io::Error::other)?;
        let ca_pem_path = std::env::temp_dir().join(format!(
            "wa-sim-media-ca-{}-{}.pem",
            std::process::id(),
            listener.local_addr()?.port()
        ));
        std::fs::write(&ca_pem_path, certs.ca_pem.as_bytes())?;
        let auth = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        let store = Arc::new(Store::new(host, auth));
        let acceptor = TlsAcceptor::from(certs.config);
        let accept = tokio::spawn(accept_loop(listener, acceptor, store.clone())).abort_handle();
        info!(host = store.host(), ca = %ca_pem_path.display(), "media host listening");
        Ok(MediaServer {
            store,
            ca_pem_path,
            accept,
        })
    }

    /// The answer to `<iq xmlns="w:m" type="set"><media_conn/></iq>`, if media
    /// is served.
    pub(crate) fn media_conn(&self) -> Option<Node> {
        // whatsmeow requires all four attributes to be integers or strings as
        // here; Baileys reads `auth`, `ttl` and each host's `hostname`.
        Some(
            Node::new("media_conn")
                .attr("auth", self.store.auth().to_owned())
                .attr("ttl", "300")
                .attr("auth_ttl", "21600")
                .attr("max_buckets", "12")
                .children(vec![
                    Node::new("host").attr("hostname", self.store.host().to_owned()),
                ]),
        )
    }

    /// Stores `blob` as an upload of `kind` (`md-app-state`, `md-msg-hist`,
    /// ...) would be stored, without HTTP: for blobs the server or a
    /// scripted phone makes. Returns the direct path; `None` for an unknown
    /// kind.
    pub(crate) fn put_blob(&self, kind: &str, blob: Vec<u8>) -> Option<String> {
        use sha2::{Digest as _, Sha256};
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&blob));
        let ticket = self
            .store
            .admit(kind, &token, Some(self.store.auth()))
            .ok()?;
        let uploaded = self.store.put(ticket, blob.into()).ok()?;
        Some(uploaded.direct_path)
    }

    /// The blob at a direct path, if stored.
    pub(crate) fn get_blob(&self, direct_path: &str) -> Option<bytes::Bytes> {
        self.store.get(direct_path)
    }

    /// Fails downloads of `direct_path` as `fault` says.
    pub(crate) fn set_fault(&self, direct_path: &str, fault: MediaFault) {
        self.store.set_fault(direct_path, fault);
    }

    /// `127.0.0.1:PORT`, as `media_conn` names the host.
    pub(crate) fn host(&self) -> &str {
        self.store.host()
    }

    /// The file holding the PEM of the CA that signed the host's certificate.
    pub(crate) fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }
}

impl Drop for MediaServer {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = std::fs::remove_file(&self.ca_pem_path);
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, store: Arc<Store>) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let (acceptor, store) = (acceptor.clone(), store.clone());
                let span = info_span!("media", %peer);
                tokio::spawn(
                    async move {
                        if let Err(e) = serve(tcp, acceptor, store).await {
                            debug!(error = %e, "media connection ended");
                        }
                    }
                    .instrument(span),
                );
            }
            Err(e) => {
                // Out of descriptors and the like: do not spin.
                warn!(error = %e, "media accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Why a media connection ended early.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("tls handshake: {0}")]
    Tls(#[from] std::io::Error),
    #[error("tls handshake timed out")]
    Timeout,
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
}

async fn serve(tcp: TcpStream, acceptor: TlsAcceptor, store: Arc<Store>) -> Result<(), ServeError> {
    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
        .await
        .map_err(|_| ServeError::Timeout)??;
    let service = service_fn(move |req| http::handle(store.clone(), req));
    // The timer makes hyper's header read timeout (30 s) take effect.
    http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(tls), service)
        .await?;
    Ok(())
}
