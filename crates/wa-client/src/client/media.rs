//! Media transfer on a running client: `media_conn` (cached for its ttl),
//! upload, download, and history-sync chunks (see [`crate::media`]).

use bytes::Bytes;
use tokio::time::Instant;
use tracing::{debug, instrument, warn};
use wa_core::history::{self, HistoryError, Source};
use wa_core::media::{self as core_media};
use wa_core::proto::HistorySync;
use wa_core::proto::message::HistorySyncNotification;

use super::{Client, Shared, lock};
use crate::media::{
    Http, MAX_DOWNLOAD, MediaConn, MediaError, MediaKind, UploadedMedia, download_url,
};

/// The media part of the client's state.
#[derive(Debug, Default)]
pub(crate) struct MediaState {
    /// The last `media_conn` answer. An async lock, so concurrent transfers
    /// wait for one IQ instead of each sending their own.
    conn: tokio::sync::Mutex<Option<MediaConn>>,
    /// Built on first use (it reads the CA file).
    http: std::sync::Mutex<Option<Http>>,
}

/// Whether another host may do better after `e`.
fn try_next_host(e: &MediaError) -> bool {
    match e {
        MediaError::Transport(_) => true,
        MediaError::Status { status } => *status >= 500 || *status == 429,
        _ => false,
    }
}

impl Client {
    /// The media hosts and upload credential, from the cache while its ttl
    /// lasts, else asked of the server (which needs a connection).
    pub async fn media_conn(&self) -> Result<MediaConn, MediaError> {
        self.shared.refresh_media_conn(false).await
    }

    /// Encrypts `plaintext` as `kind` under a fresh media key and uploads it;
    /// the answer is what the media message must carry. Tries the hosts in
    /// order, and asks for a new `media_conn` once if the auth is refused.
    #[instrument(skip_all, fields(?kind, len = plaintext.len()))]
    pub async fn upload(
        &self,
        kind: MediaKind,
        plaintext: &[u8],
    ) -> Result<UploadedMedia, MediaError> {
        let sealed = core_media::encrypt(kind, plaintext, &mut rand::rng());
        self.upload_sealed(kind, sealed).await
    }

    /// [`Client::upload`] of a plaintext it may encrypt in its own buffer:
    /// a big file is held once, not twice (with
    /// [`SEAL_ROOM`](wa_core::media::SEAL_ROOM) spare capacity it does not
    /// even move).
    #[instrument(skip_all, fields(?kind, len = plaintext.len()))]
    pub async fn upload_owned(
        &self,
        kind: MediaKind,
        plaintext: Vec<u8>,
    ) -> Result<UploadedMedia, MediaError> {
        let sealed = core_media::encrypt_owned(kind, plaintext, &mut rand::rng());
        self.upload_sealed(kind, sealed).await
    }

    async fn upload_sealed(
        &self,
        kind: MediaKind,
        sealed: core_media::EncryptedMedia,
    ) -> Result<UploadedMedia, MediaError> {
        let blob = Bytes::from(sealed.blob);
        let http = self.shared.media_http()?;
        let mut last = MediaError::BadMediaConn("no host");
        for round in 0..2 {
            let mc = self.shared.refresh_media_conn(round > 0).await?;
            let mut auth_refused = false;
            for host in mc.hosts() {
                let url = mc.upload_url(host, kind, &sealed.file_enc_sha256);
                match http.upload(&url, blob.clone()).await {
                    Ok(stored) => {
                        debug!(%host, "uploaded");
                        return Ok(UploadedMedia {
                            url: stored
                                .url
                                .unwrap_or_else(|| format!("https://{host}{}", stored.direct_path)),
                            direct_path: stored.direct_path,
                            media_key: sealed.media_key,
                            file_sha256: sealed.file_sha256,
                            file_enc_sha256: sealed.file_enc_sha256,
                            file_length: sealed.file_length,
                        });
                    }
                    Err(e @ MediaError::Status { status: 401 | 403 }) => {
                        warn!(%host, error = %e, "upload auth refused");
                        auth_refused = true;
                        last = e;
                        break;
                    }
                    Err(e) if try_next_host(&e) => {
                        warn!(%host, error = %e, "upload failed; trying the next host");
                        last = e;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !auth_refused {
                break;
            }
        }
        Err(last)
    }

    /// Downloads the blob at `direct_path` and decrypts it as `kind` with
    /// `media_key`, checking `file_enc_sha256` and `file_sha256` when given
    /// (and the MAC always). Tries the hosts in order while they fail.
    pub async fn download(
        &self,
        kind: MediaKind,
        direct_path: &str,
        media_key: &[u8],
        file_sha256: Option<&[u8]>,
        file_enc_sha256: Option<&[u8]>,
    ) -> Result<Vec<u8>, MediaError> {
        let hashes = (file_sha256, file_enc_sha256);
        self.shared
            .download(kind, (direct_path, media_key), hashes, MAX_DOWNLOAD)
            .await
    }

    /// [`Client::download`] of a file of at most `max_plaintext` bytes:
    /// the transfer stops (and fails with [`MediaError::TooLarge`]) as
    /// soon as the encrypted blob is longer than such a file's can be, so
    /// nothing larger is ever held in memory.
    pub async fn download_at_most(
        &self,
        kind: MediaKind,
        (direct_path, media_key): (&str, &[u8]),
        (file_sha256, file_enc_sha256): (Option<&[u8]>, Option<&[u8]>),
        max_plaintext: u64,
    ) -> Result<Vec<u8>, MediaError> {
        // AES-CBC pads to the next 16 bytes, then a 10-byte MAC.
        let limit = max_plaintext.saturating_add(16 + 10);
        let hashes = (file_sha256, file_enc_sha256);
        self.shared
            .download(kind, (direct_path, media_key), hashes, limit)
            .await
    }

    /// The history chunk `notification` announces: its inline payload, or
    /// the blob it points at, downloaded and checked; then inflated and
    /// decoded (off the async threads).
    pub async fn history_sync(
        &self,
        notification: &HistorySyncNotification,
    ) -> Result<HistorySync, MediaError> {
        let compressed = match history::notification_source(notification)? {
            Source::Inline(bytes) => bytes,
            Source::Download {
                direct_path,
                media_key,
                file_sha256,
                file_enc_sha256,
                ..
            } => {
                self.download(
                    MediaKind::History,
                    &direct_path,
                    &media_key,
                    file_sha256.as_deref(),
                    file_enc_sha256.as_deref(),
                )
                .await?
            }
        };
        // Inflating a large chunk takes a while: keep it off the runtime.
        let decoded = tokio::task::spawn_blocking(move || history::decode_blob(&compressed))
            .await
            .unwrap_or_else(|e| Err(HistoryError::Inflate(format!("decode task: {e}"))));
        let decoded = decoded?;
        // The pairings first: the tokens are kept under the LIDs.
        if let Err(e) = super::contacts::lids_from_history(&self.shared, &decoded).await {
            warn!(error = %e, "LID mappings from history not kept");
        }
        // The privacy tokens it carries are kept here, whoever reads the
        // rest; a store failure only costs a token the contact resends.
        if let Err(e) = super::tokens::from_history(&self.shared, &decoded).await {
            warn!(error = %e, "privacy tokens from history not kept");
        }
        if let Err(e) = super::secrets::keep_history(&self.shared, &decoded).await {
            warn!(error = %e, "message secrets from history not kept");
        }
        Ok(decoded)
    }
}

impl Shared {
    pub(crate) async fn refresh_media_conn(&self, force: bool) -> Result<MediaConn, MediaError> {
        let mut cached = self.media.conn.lock().await;
        if !force && let Some(mc) = cached.as_ref().filter(|mc| !mc.expired(Instant::now())) {
            return Ok(mc.clone());
        }
        let conn = self.connection()?;
        let answer = conn.iq(MediaConn::request()).await?;
        let mc = MediaConn::parse(&answer, Instant::now())?;
        debug!(hosts = mc.hosts().len(), ttl = ?mc.ttl(), "media_conn fetched");
        *cached = Some(mc.clone());
        Ok(mc)
    }

    pub(crate) fn media_http(&self) -> Result<Http, MediaError> {
        let mut http = lock(&self.media.http);
        if let Some(h) = http.as_ref() {
            return Ok(h.clone());
        }
        let h = Http::new(self.opts.media_ca.as_deref())?;
        *http = Some(h.clone());
        Ok(h)
    }

    /// Downloads the blob at `direct_path` and decrypts it as `kind` with
    /// `media_key`, checking `file_enc_sha256` and `file_sha256` when given
    /// (and the MAC always). Tries the hosts in order while they fail.
    #[instrument(skip_all, fields(?kind))]
    pub(crate) async fn download(
        &self,
        kind: MediaKind,
        (direct_path, media_key): (&str, &[u8]),
        (file_sha256, file_enc_sha256): (Option<&[u8]>, Option<&[u8]>),
        limit: u64,
    ) -> Result<Vec<u8>, MediaError> {
        let http = self.media_http()?;
        let mc = self.refresh_media_conn(false).await?;
        let mut last = MediaError::BadMediaConn("no host");
        for host in mc.hosts() {
            let url = download_url(host, direct_path, kind, file_enc_sha256)?;
            match http.download(&url, limit).await {
                Ok(blob) => {
                    debug!(%host, len = blob.len(), "downloaded");
                    return Ok(core_media::decrypt_in_place(
                        kind,
                        media_key,
                        blob,
                        file_enc_sha256,
                        file_sha256,
                    )?);
                }
                Err(e) if try_next_host(&e) => {
                    warn!(%host, error = %e, "download failed; trying the next host");
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}
