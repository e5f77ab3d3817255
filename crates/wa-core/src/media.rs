//! Media encryption: how attachments (and history and app-state blobs) are
//! sealed before they go to a media host, and checked when they come back.
//!
//! A random 32-byte media key is expanded with HKDF-SHA256 (no salt, an info
//! string per [`MediaKind`]) into 112 bytes: IV `[0..16]`, AES-256 key
//! `[16..48]`, MAC key `[48..80]` (the rest is unused here). The plaintext is
//! AES-256-CBC encrypted with PKCS#7 padding, and the uploaded blob is
//! `ciphertext || HMAC-SHA256(mac key, iv || ciphertext)[..10]`. The message
//! that points at the blob carries the media key, `fileSha256` (of the
//! plaintext), `fileEncSha256` (of the blob) and `fileLength` (of the
//! plaintext). Nothing here does I/O; `wa-client` moves the blobs.

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac as _};
use rand::CryptoRng;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Length of a media key.
pub const MEDIA_KEY_LEN: usize = 32;
/// Length of the truncated HMAC at the end of a blob.
pub const MAC_LEN: usize = 10;
/// AES block size: ciphertexts are a non-zero multiple of it.
const BLOCK: usize = 16;
/// Bytes of HKDF output WhatsApp expands a media key to.
const EXPANDED_LEN: usize = 112;

/// What a blob holds. Decides the HKDF info string and the upload path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `imageMessage`.
    Image,
    /// `stickerMessage`: keyed and uploaded as an image.
    Sticker,
    /// `videoMessage`.
    Video,
    /// A video with `gifPlayback`: keyed and uploaded as a video.
    Gif,
    /// `audioMessage`.
    Audio,
    /// A voice note (`audioMessage` with `ptt`): keyed and uploaded as audio.
    Ptt,
    /// `documentMessage`.
    Document,
    /// A history-sync chunk (`HistorySyncNotification`).
    History,
    /// An app-state blob (`ExternalBlobReference` of a snapshot or patch).
    AppState,
    /// The thumbnail of a link preview (`extendedTextMessage.thumbnail*`).
    LinkThumbnail,
}

impl MediaKind {
    /// The HKDF info string the media key is expanded with.
    pub fn hkdf_info(self) -> &'static str {
        match self {
            MediaKind::Image | MediaKind::Sticker => "WhatsApp Image Keys",
            MediaKind::Video | MediaKind::Gif => "WhatsApp Video Keys",
            MediaKind::Audio | MediaKind::Ptt => "WhatsApp Audio Keys",
            MediaKind::Document => "WhatsApp Document Keys",
            MediaKind::History => "WhatsApp History Keys",
            MediaKind::AppState => "WhatsApp App State Keys",
            MediaKind::LinkThumbnail => "WhatsApp Link Thumbnail Keys",
        }
    }

    /// The `<type>` of the upload path `/mms/<type>/<token>`, also sent as
    /// `mms-type` when downloading.
    ///
    /// whatsmeow and Baileys disagree on two kinds; these follow whatsmeow:
    /// history chunks go to `md-msg-hist` (Baileys: `md-app-state`) and link
    /// thumbnails to `thumbnail-link` (Baileys: `image`).
    pub fn mms_type(self) -> &'static str {
        match self {
            MediaKind::Image | MediaKind::Sticker => "image",
            MediaKind::Video | MediaKind::Gif => "video",
            MediaKind::Audio | MediaKind::Ptt => "audio",
            MediaKind::Document => "document",
            MediaKind::History => "md-msg-hist",
            MediaKind::AppState => "md-app-state",
            MediaKind::LinkThumbnail => "thumbnail-link",
        }
    }

    /// Every kind, for tests and tables.
    pub const ALL: [MediaKind; 10] = [
        MediaKind::Image,
        MediaKind::Sticker,
        MediaKind::Video,
        MediaKind::Gif,
        MediaKind::Audio,
        MediaKind::Ptt,
        MediaKind::Document,
        MediaKind::History,
        MediaKind::AppState,
        MediaKind::LinkThumbnail,
    ];
}

/// Why a downloaded blob was refused, named after the check that failed.
/// Checks run in the order listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The blob does not hash to the expected `fileEncSha256` (corrupt or
    /// truncated download, or the wrong file).
    #[error("encrypted file does not match its fileEncSha256")]
    EncHashMismatch,
    /// The blob is shorter than one AES block and a MAC.
    #[error("encrypted file too short ({0} bytes)")]
    TooShort(usize),
    /// The MAC does not verify: the wrong media key or kind, or tampering.
    #[error("media MAC does not verify (wrong key or kind?)")]
    MacMismatch,
    /// The ciphertext is not whole blocks, or its padding is invalid.
    #[error("media ciphertext has bad length or padding")]
    BadPadding,
    /// The plaintext does not hash to the expected `fileSha256`.
    #[error("decrypted file does not match its fileSha256")]
    HashMismatch,
}

/// The keys one media key expands to for one [`MediaKind`]. Zeroed on drop;
/// `Debug` prints nothing of them.
#[derive(Clone)]
pub struct MediaKeys {
    iv: [u8; 16],
    cipher_key: [u8; 32],
    mac_key: [u8; 32],
}

impl MediaKeys {
    /// HKDF-SHA256(`media_key`, no salt, [`MediaKind::hkdf_info`], 112 bytes).
    /// Keys of any length are expanded (WhatsApp's are
    /// [`MEDIA_KEY_LEN`] bytes).
    pub fn derive(media_key: &[u8], kind: MediaKind) -> MediaKeys {
        let mut okm = Zeroizing::new([0u8; EXPANDED_LEN]);
        // 112 bytes is far below HKDF-SHA256's limit of 255 * 32.
        let _ = Hkdf::<Sha256>::new(None, media_key).expand(kind.hkdf_info().as_bytes(), &mut *okm);
        let mut keys = MediaKeys {
            iv: [0; 16],
            cipher_key: [0; 32],
            mac_key: [0; 32],
        };
        keys.iv.copy_from_slice(&okm[..16]);
        keys.cipher_key.copy_from_slice(&okm[16..48]);
        keys.mac_key.copy_from_slice(&okm[48..80]);
        keys
    }

    /// The CBC initialisation vector.
    pub fn iv(&self) -> &[u8; 16] {
        &self.iv
    }

    /// The AES-256 key.
    pub fn cipher_key(&self) -> &[u8; 32] {
        &self.cipher_key
    }

    /// The HMAC-SHA256 key.
    pub fn mac_key(&self) -> &[u8; 32] {
        &self.mac_key
    }

    /// HMAC-SHA256(mac key, iv || ciphertext), ready to finalize.
    fn mac(&self, ciphertext: &[u8]) -> Hmac<Sha256> {
        // HMAC zero-pads keys shorter than its 64-byte block, so this is
        // HMAC keyed with the 32-byte MAC key, built without a fallible call.
        let mut key = Zeroizing::new([0u8; 64]);
        key[..32].copy_from_slice(&self.mac_key);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&(*key).into());
        mac.update(&self.iv);
        mac.update(ciphertext);
        mac
    }
}

impl Drop for MediaKeys {
    fn drop(&mut self) {
        self.iv.zeroize();
        self.cipher_key.zeroize();
        self.mac_key.zeroize();
    }
}

impl std::fmt::Debug for MediaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaKeys").finish_non_exhaustive()
    }
}

/// An encrypted blob and what the message pointing at it must carry.
/// `Debug` omits the media key and the blob.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedMedia {
    /// The random key the blob's keys were derived from.
    pub media_key: [u8; MEDIA_KEY_LEN],
    /// What is uploaded: ciphertext and truncated MAC.
    pub blob: Vec<u8>,
    /// SHA-256 of the plaintext (`fileSha256`).
    pub file_sha256: [u8; 32],
    /// SHA-256 of the blob (`fileEncSha256`; base64url of it is the upload
    /// token).
    pub file_enc_sha256: [u8; 32],
    /// Length of the plaintext (`fileLength`).
    pub file_length: u64,
}

impl std::fmt::Debug for EncryptedMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedMedia")
            .field("blob_len", &self.blob.len())
            .field("file_length", &self.file_length)
            .finish_non_exhaustive()
    }
}

/// Encrypts `plaintext` as `kind` under a fresh media key from `rng`.
pub fn encrypt<R: CryptoRng + ?Sized>(
    kind: MediaKind,
    plaintext: &[u8],
    rng: &mut R,
) -> EncryptedMedia {
    let mut media_key = Zeroizing::new([0u8; MEDIA_KEY_LEN]);
    rng.fill_bytes(media_key.as_mut());
    encrypt_with_key(kind, &media_key, plaintext)
}

/// [`encrypt`] in the plaintext's own buffer (see [`encrypt_in_place`]).
pub fn encrypt_owned<R: CryptoRng + ?Sized>(
    kind: MediaKind,
    plaintext: Vec<u8>,
    rng: &mut R,
) -> EncryptedMedia {
    let mut media_key = Zeroizing::new([0u8; MEDIA_KEY_LEN]);
    rng.fill_bytes(media_key.as_mut());
    encrypt_in_place(kind, &media_key, plaintext)
}

/// Encrypts `plaintext` as `kind` under `media_key` (deterministic: for
/// tests, and for re-sending a blob under the key it already has).
pub fn encrypt_with_key(
    kind: MediaKind,
    media_key: &[u8; MEDIA_KEY_LEN],
    plaintext: &[u8],
) -> EncryptedMedia {
    let mut buf = Vec::with_capacity(plaintext.len() + SEAL_ROOM);
    buf.extend_from_slice(plaintext);
    encrypt_in_place(kind, media_key, buf)
}

/// Room a plaintext buffer needs beyond its length for
/// [`encrypt_in_place`] to seal it without moving: the padding (at most a
/// block) and the MAC.
pub const SEAL_ROOM: usize = BLOCK + MAC_LEN;

/// [`encrypt_with_key`] in the plaintext's own buffer, which becomes the
/// blob: a big file is held once, not twice (give it [`SEAL_ROOM`] spare
/// capacity, or it moves once to grow).
pub fn encrypt_in_place(
    kind: MediaKind,
    media_key: &[u8; MEDIA_KEY_LEN],
    mut buf: Vec<u8>,
) -> EncryptedMedia {
    let file_sha256: [u8; 32] = Sha256::digest(&buf).into();
    let len = buf.len();
    let padded = (len / BLOCK + 1) * BLOCK;
    buf.resize(padded, 0);
    let keys = MediaKeys::derive(media_key, kind);
    let cipher = cbc::Encryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into());
    // There is room for the padding, so this cannot fail.
    let sealed = cipher
        .encrypt_padded::<Pkcs7>(&mut buf, len)
        .map_or(padded, <[u8]>::len);
    buf.truncate(sealed);
    let tag = keys.mac(&buf).finalize().into_bytes();
    buf.extend_from_slice(&tag[..MAC_LEN]);
    EncryptedMedia {
        media_key: *media_key,
        file_sha256,
        file_enc_sha256: Sha256::digest(&buf).into(),
        file_length: len as u64,
        blob: buf,
    }
}

/// Checks and decrypts a downloaded `blob` of `kind`.
///
/// In order: the blob's SHA-256 against `file_enc_sha256` (if given), its
/// length, the MAC (in constant time), the padding, and the plaintext's
/// SHA-256 against `file_sha256` (if given). An expected hash of the wrong
/// length is a mismatch. Never panics.
pub fn decrypt(
    kind: MediaKind,
    media_key: &[u8],
    blob: &[u8],
    file_enc_sha256: Option<&[u8]>,
    file_sha256: Option<&[u8]>,
) -> Result<Vec<u8>, MediaError> {
    decrypt_in_place(kind, media_key, blob.to_vec(), file_enc_sha256, file_sha256)
}

/// [`decrypt`] in the blob's own buffer, which becomes the plaintext: a
/// big file is held once, not twice.
pub fn decrypt_in_place(
    kind: MediaKind,
    media_key: &[u8],
    mut blob: Vec<u8>,
    file_enc_sha256: Option<&[u8]>,
    file_sha256: Option<&[u8]>,
) -> Result<Vec<u8>, MediaError> {
    if let Some(want) = file_enc_sha256
        && Sha256::digest(&blob).as_slice() != want
    {
        return Err(MediaError::EncHashMismatch);
    }
    if blob.len() < BLOCK + MAC_LEN {
        return Err(MediaError::TooShort(blob.len()));
    }
    let body = blob.len() - MAC_LEN;
    let keys = MediaKeys::derive(media_key, kind);
    {
        let (ciphertext, tag) = blob.split_at(body);
        keys.mac(ciphertext)
            .verify_truncated_left(tag)
            .map_err(|_| MediaError::MacMismatch)?;
    }
    let cipher = cbc::Decryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into());
    let plain_len = cipher
        .decrypt_padded::<Pkcs7>(&mut blob[..body])
        .map_err(|_| MediaError::BadPadding)?
        .len();
    blob.truncate(plain_len);
    if let Some(want) = file_sha256
        && Sha256::digest(&blob).as_slice() != want
    {
        return Err(MediaError::HashMismatch);
    }
    Ok(blob)
}

#[cfg(test)]
mod tests;
