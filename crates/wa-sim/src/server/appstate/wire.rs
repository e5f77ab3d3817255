//! The outer shape of app-state patches and snapshots, as far as the server
//! reads them to build a snapshot: records are kept as opaque blobs (field
//! numbers from whatsmeow's `WAServerSync.proto`, same in Baileys).

/// `SyncdMutation.operation` SET.
pub(crate) const SET: i32 = 0;

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SyncdVersion {
    #[prost(uint64, optional, tag = "1")]
    pub version: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct KeyId {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub id: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Blob {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub blob: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SyncdRecord {
    #[prost(message, optional, tag = "1")]
    pub index: Option<Blob>,
    #[prost(message, optional, tag = "2")]
    pub value: Option<Blob>,
    #[prost(message, optional, tag = "3")]
    pub key_id: Option<KeyId>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SyncdMutation {
    #[prost(int32, optional, tag = "1")]
    pub operation: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub record: Option<SyncdRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SyncdMutations {
    #[prost(message, repeated, tag = "1")]
    pub mutations: Vec<SyncdMutation>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ExternalBlobReference {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub media_key: Option<Vec<u8>>,
    #[prost(string, optional, tag = "2")]
    pub direct_path: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub handle: Option<String>,
    #[prost(uint64, optional, tag = "4")]
    pub file_size_bytes: Option<u64>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub file_sha256: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "6")]
    pub file_enc_sha256: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SyncdPatch {
    #[prost(message, optional, tag = "1")]
    pub version: Option<SyncdVersion>,
    #[prost(message, repeated, tag = "2")]
    pub mutations: Vec<SyncdMutation>,
    #[prost(message, optional, tag = "3")]
    pub external_mutations: Option<ExternalBlobReference>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub snapshot_mac: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub patch_mac: Option<Vec<u8>>,
    #[prost(message, optional, tag = "6")]
    pub key_id: Option<KeyId>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SyncdSnapshot {
    #[prost(message, optional, tag = "1")]
    pub version: Option<SyncdVersion>,
    #[prost(message, repeated, tag = "2")]
    pub records: Vec<SyncdRecord>,
    #[prost(bytes = "vec", optional, tag = "3")]
    pub mac: Option<Vec<u8>>,
    #[prost(message, optional, tag = "4")]
    pub key_id: Option<KeyId>,
}
