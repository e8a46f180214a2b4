//! The deletion receipt of an erasure, and its check against the bucket:
//! [`verify_receipt`] lists the user's folder (objects, and versions where
//! the store lists them) and names every key or version of the receipt
//! that exists again or still.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::sha256_hex;
use crate::error::{Error, Result};
use crate::layout::UserFolder;
use crate::store::{Store, Versioning};

/// What the receipt document says it is.
pub const RECEIPT_KIND: &str = "archive-desk erasure receipt";

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureOutcome {
    /// Every conversation object, index entry and `metadata.json` is gone.
    Complete,
    /// Done, but something listed under `kept` stays.
    Incomplete,
    /// Stopped by an error once removal had begun; `removed` is what went.
    Failed,
}

/// One object version removed.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedObject {
    pub key: String,
    /// `None`: the current object of a store without versions.
    pub version_id: Option<String>,
    pub delete_marker: bool,
    /// SHA-256 (hex) of the stored bytes, read just before the removal.
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
    /// Why there is no hash (cold storage).
    pub note: Option<String>,
}

/// One index entry removed: its id and the SHA-256 of the entry's JSON
/// (the receipt holds no title or other content).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedEntry {
    pub conversation_id: String,
    pub sha256: String,
}

/// Something of the user's folder that stays, and why.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptObject {
    pub key: String,
    pub reason: String,
}

/// The deletion receipt: saved as pretty JSON (`to_bytes`), its SHA-256
/// recorded in the audit log.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureReceipt {
    /// Always [`RECEIPT_KIND`].
    pub receipt: String,
    pub profile: Option<String>,
    pub bucket: String,
    /// The custom endpoint (S3-compatible stores); `None` for AWS.
    pub endpoint: Option<String>,
    pub user_email: Option<String>,
    pub user_folder: String,
    /// The OS user name of whoever ran it.
    pub operator: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub outcome: ErasureOutcome,
    /// Old versions existed (versioning on or suspended): all were removed.
    pub versioned_bucket: bool,
    pub removed: Vec<RemovedObject>,
    pub index_entries_removed: Vec<RemovedEntry>,
    /// `metadata.json` is gone (or there was none).
    pub index_deleted: bool,
    pub kept: Vec<KeptObject>,
    pub warnings: Vec<String>,
    /// The error that stopped it (`outcome: failed`), as `code: message`.
    pub error: Option<String>,
}

impl ErasureReceipt {
    /// The saved document: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a receipt serializes");
        bytes.push(b'\n');
        bytes
    }

    /// A receipt file and the SHA-256 of its bytes (what the audit log
    /// recorded when it was saved).
    pub fn read(path: &Path) -> Result<(ErasureReceipt, String)> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let receipt: ErasureReceipt = serde_json::from_slice(&bytes)
            .ok()
            .filter(|r: &ErasureReceipt| r.receipt == RECEIPT_KIND)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{}: not an erasure receipt of this app (JSON with \"receipt\": \"{RECEIPT_KIND}\")",
                    path.display()
                ))
            })?;
        Ok((receipt, sha256_hex(&bytes)))
    }
}

/// Something a receipt lists that exists in the bucket.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StillPresent {
    pub key: String,
    pub version_id: Option<String>,
    /// `current object` (the key exists) or `version` (that version id is listed).
    pub found_as: String,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptVerification {
    pub path: String,
    pub receipt_sha256: String,
    pub bucket: String,
    pub user_folder: String,
    pub user_email: Option<String>,
    /// Keys and versions the receipt lists, all checked.
    pub checked: u64,
    /// Versions were listed too (false: a store without versions, which
    /// reports versioning off; then the keys alone are checked).
    pub versions_checked: bool,
    /// Empty: nothing the receipt lists exists any more.
    pub still_present: Vec<StillPresent>,
}

impl ReceiptVerification {
    /// Nothing listed exists any more.
    pub fn is_clean(&self) -> bool {
        self.still_present.is_empty()
    }

    /// What a front end reports when something listed exists.
    pub fn problem(&self) -> Option<Error> {
        let first = self.still_present.first()?;
        Some(Error::ReceiptNotVerified {
            receipt: self.path.clone(),
            count: self.still_present.len(),
            first: match &first.version_id {
                Some(v) => format!("{} (version {v}, found as {})", first.key, first.found_as),
                None => format!("{} (found as {})", first.key, first.found_as),
            },
        })
    }
}

/// Check `receipt` against the bucket: two listings of the user's folder
/// (ListObjectsV2, ListObjectVersions), never a request per key.
pub(crate) async fn verify_receipt(
    store: &Store,
    path: &Path,
    receipt: &ErasureReceipt,
    receipt_sha256: String,
) -> Result<ReceiptVerification> {
    if receipt.bucket != store.bucket() {
        return Err(Error::InvalidInput(format!(
            "{}: the receipt is for bucket {:?}, this session opens {:?}",
            path.display(),
            receipt.bucket,
            store.bucket()
        )));
    }
    let folder = UserFolder::parse(&receipt.user_folder)?;
    let prefix = store.layout().user_prefix(&folder);
    if let Some(outside) = receipt.removed.iter().find(|o| !o.key.starts_with(&prefix)) {
        return Err(Error::InvalidInput(format!(
            "{}: the receipt lists {} outside the user's folder {prefix}",
            path.display(),
            outside.key
        )));
    }
    let current: HashSet<String> = store.list_objects(&folder).await?.into_iter().map(|o| o.key).collect();
    let (versions, versions_checked): (HashSet<(String, String)>, bool) = match store.list_versions(&prefix).await {
        Ok(all) => (
            all.into_iter().filter_map(|v| Some((v.key, v.version_id?))).collect(),
            true,
        ),
        Err(listing) => match (listing.not_implemented, store.bucket_versioning().await) {
            (true, Ok(Versioning::Never)) => (HashSet::new(), false),
            // Versions may exist and cannot be seen: the receipt cannot be checked.
            _ => return Err(listing.error),
        },
    };
    let mut still_present = Vec::new();
    for o in &receipt.removed {
        let version_listed = o
            .version_id
            .as_ref()
            .is_some_and(|v| versions.contains(&(o.key.clone(), v.clone())));
        let found_as = if version_listed {
            "version"
        } else if current.contains(&o.key) {
            "current object"
        } else {
            continue;
        };
        still_present.push(StillPresent {
            key: o.key.clone(),
            version_id: o.version_id.clone(),
            found_as: found_as.into(),
        });
    }
    Ok(ReceiptVerification {
        path: path.display().to_string(),
        receipt_sha256,
        bucket: receipt.bucket.clone(),
        user_folder: receipt.user_folder.clone(),
        user_email: receipt.user_email.clone(),
        checked: receipt.removed.len() as u64,
        versions_checked,
        still_present,
    })
}
