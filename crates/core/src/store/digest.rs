//! The SHA-256 of an object version's stored bytes, for an erasure's
//! receipt: the body is streamed into the hash a chunk at a time and never
//! held, so this GET needs no share of the memory budget and no decoding
//! (the receipt proves what was stored, whatever it holds).

use sha2::{Digest, Sha256};

use super::read::get_error;
use super::Store;
use crate::error::{Error, Result};

/// What an object version held, as its hash.
#[derive(Debug, Clone)]
pub(crate) struct ContentHash {
    /// Lowercase hex.
    pub(crate) sha256: String,
    pub(crate) bytes: u64,
    pub(crate) etag: Option<String>,
}

impl Store {
    /// GET `key` (at `version_id`, else its current object) and hash its
    /// bytes as they stream in. Cold objects fail as `ColdStorage`.
    pub(crate) async fn hash_version(&self, key: &str, version_id: Option<&str>) -> Result<ContentHash> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
            .map_err(|e| get_error(key, e))?;
        let etag = out.e_tag().map(str::to_owned);
        let mut body = out.body;
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(|e| Error::S3 {
            operation: "GetObject",
            key: key.to_owned(),
            message: format!("reading the body failed: {e}"),
        })? {
            bytes += chunk.len() as u64;
            hash.update(&chunk);
        }
        Ok(ContentHash {
            sha256: format!("{:x}", hash.finalize()),
            bytes,
            etag,
        })
    }
}
