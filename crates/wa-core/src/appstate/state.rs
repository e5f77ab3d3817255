//! What a device remembers of one collection between patches, and how it is
//! stored as one blob.

use std::collections::BTreeMap;

use super::AppStateError;
use super::crypto::LtHash;

/// Leading bytes of a stored state ("WhatsApp App State").
const MAGIC: &[u8; 4] = b"WAAS";
/// Format version of [`CollectionState::to_bytes`].
const FORMAT: u8 = 1;

/// The synced state of one collection: its version, its LTHash, and the
/// value MAC of every live record by index MAC (needed to subtract a record
/// from the hash when a later patch overwrites or removes it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionState {
    /// The version of the last patch (or snapshot) applied; 0 before any.
    pub version: u64,
    /// LTHash of the live records.
    pub hash: LtHash,
    /// Value MAC of each live record, by index MAC.
    pub value_macs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl CollectionState {
    /// A collection nothing was synced into yet.
    pub fn new() -> CollectionState {
        CollectionState::default()
    }

    /// Applies one mutation to the hash and the map: an earlier value of
    /// `index_mac` is subtracted, then a SET adds `value_mac` and a REMOVE
    /// forgets the index.
    pub(super) fn apply(&mut self, set: bool, index_mac: &[u8], value_mac: &[u8]) {
        let previous = if set {
            self.value_macs
                .insert(index_mac.to_vec(), value_mac.to_vec())
        } else {
            self.value_macs.remove(index_mac)
        };
        if let Some(previous) = previous {
            self.hash.subtract(&previous);
        }
        if set {
            self.hash.add(value_mac);
        }
    }

    /// Encodes the state for a store: `"WAAS"`, format version 1, the
    /// version (u64 big-endian), the 128-byte hash, the number of records
    /// (u32 BE), then per record the index MAC and the value MAC, each as a
    /// u32 BE length and its bytes, in index-MAC order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 1 + 8 + 128 + 4 + self.value_macs.len() * 72);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(self.hash.as_bytes());
        put_len(&mut out, self.value_macs.len());
        for (index_mac, value_mac) in &self.value_macs {
            put_len(&mut out, index_mac.len());
            out.extend_from_slice(index_mac);
            put_len(&mut out, value_mac.len());
            out.extend_from_slice(value_mac);
        }
        out
    }

    /// Decodes what [`CollectionState::to_bytes`] wrote. Refuses another
    /// magic or format version, truncation, trailing bytes and duplicate
    /// index MACs; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<CollectionState, AppStateError> {
        let mut r = Reader(bytes);
        if r.take(MAGIC.len())? != MAGIC {
            return Err(AppStateError::BadState(
                "not a collection state (bad magic)",
            ));
        }
        if r.take(1)? != [FORMAT] {
            return Err(AppStateError::BadState("unsupported format version"));
        }
        let version = u64::from_be_bytes(r.array()?);
        let hash = LtHash(r.array()?);
        let count = r.len()?;
        let mut value_macs = BTreeMap::new();
        for _ in 0..count {
            let index_len = r.len()?;
            let index_mac = r.take(index_len)?.to_vec();
            let value_len = r.len()?;
            let value_mac = r.take(value_len)?.to_vec();
            if value_macs.insert(index_mac, value_mac).is_some() {
                return Err(AppStateError::BadState("duplicate index MAC"));
            }
        }
        if !r.0.is_empty() {
            return Err(AppStateError::BadState("trailing bytes"));
        }
        Ok(CollectionState {
            version,
            hash,
            value_macs,
        })
    }
}

/// Appends `len` as a u32 BE. MACs are 32 bytes and collections hold far
/// fewer than 2^32 records; a longer one is clamped, and
/// [`CollectionState::from_bytes`] then refuses the blob.
fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

/// A cursor over stored bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AppStateError> {
        if self.0.len() < n {
            return Err(AppStateError::BadState("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AppStateError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len(&mut self) -> Result<usize, AppStateError> {
        let n = u32::from_be_bytes(self.array()?);
        usize::try_from(n).map_err(|_| AppStateError::BadState("length too large"))
    }
}
