//! Read-modify-write of a user's `metadata.json` that never loses a
//! concurrent writer's entry: read with its ETag, edit, PUT with `If-Match`
//! (or `If-None-Match: *` when creating it); on a precondition failure read
//! again and re-apply the edit, with bounded, jittered retries.

use std::time::Duration;

use crate::codec;
use crate::error::{Error, Result};
use crate::layout::UserFolder;
use crate::model::UserIndex;
use crate::store::{Condition, PutOutcome, Store};

const MAX_ATTEMPTS: u32 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexUpdate {
    pub key: String,
    /// False when the edit changed nothing (no write was made).
    pub written: bool,
    pub attempts: u32,
}

/// Apply `edit` to the user's index. `edit` may run several times, each time
/// on the freshest index, and returns whether it changed anything.
pub async fn update_index<F>(store: &Store, folder: &UserFolder, mut edit: F) -> Result<IndexUpdate>
where
    F: FnMut(&mut UserIndex) -> bool,
{
    store.ensure_safe_index_writes().await?;
    let key = store.layout().index_key(folder);
    for attempt in 1..=MAX_ATTEMPTS {
        let mut read = store.read_index(folder).await?;
        if !edit(&mut read.index) {
            return Ok(IndexUpdate {
                key,
                written: false,
                attempts: attempt,
            });
        }
        let condition = match (read.missing, read.etag) {
            (true, _) => Some(Condition::IfNoneMatch),
            (false, Some(etag)) => Some(Condition::IfMatch(etag)),
            // A store that gives no ETag: only allowed with the explicit override.
            (false, None) if store.allows_unsafe_index_writes() => None,
            (false, None) => {
                return Err(Error::ConditionalWritesUnsupported {
                    bucket: store.bucket().to_owned(),
                })
            }
        };
        let body = codec::encode(&read.index, read.encoding);
        match store.put(&key, body, read.encoding, condition).await? {
            PutOutcome::Written { .. } => {
                return Ok(IndexUpdate {
                    key,
                    written: true,
                    attempts: attempt,
                })
            }
            PutOutcome::PreconditionFailed => tokio::time::sleep(backoff(attempt)).await,
        }
    }
    Err(Error::IndexConflict {
        key,
        attempts: MAX_ATTEMPTS,
    })
}

/// Exponential from 10 ms, capped at 500 ms, with full jitter so racing
/// writers spread out.
fn backoff(attempt: u32) -> Duration {
    let cap = (10u64 << attempt.min(6)).min(500);
    Duration::from_millis(fastrand::u64(1..=cap))
}
