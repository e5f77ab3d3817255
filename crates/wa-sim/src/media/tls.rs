//! The media host's certificates, made at start: a CA that clients trust
//! (its PEM goes to a file, e.g. for Node's `NODE_EXTRA_CA_CERTS`) and a
//! leaf it signs for `127.0.0.1` and `localhost`.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio_rustls::rustls::{self, ServerConfig, pki_types::PrivateKeyDer};

/// Why the certificates or the TLS config could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// rcgen refused the parameters.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("tls config: {0}")]
    Config(#[from] rustls::Error),
}

/// A fresh CA and a server config presenting a leaf it signed.
pub(crate) struct Certs {
    /// The CA certificate, PEM.
    pub(crate) ca_pem: String,
    /// Serves the leaf (and the CA) over TLS 1.2/1.3, HTTP/1.1.
    pub(crate) config: Arc<ServerConfig>,
}

impl std::fmt::Debug for Certs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certs").finish_non_exhaustive()
    }
}

/// Makes the CA, the leaf and the server config.
pub(crate) fn make() -> Result<Certs, TlsError> {
    let mut ca_params = CertificateParams::new(Vec::new())?;
    ca_params.distinguished_name = name("wa-sim media CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let leaf_key = KeyPair::generate()?;
    let mut leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    leaf_params.distinguished_name = name("wa-sim media");
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;

    let key = PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Certs {
        ca_pem: ca.pem(),
        config: Arc::new(config),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}
