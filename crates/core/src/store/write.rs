//! Writes: PUT (optionally conditional) and the probe that tells whether
//! the store honours conditional writes at all.

use super::{s3_error, Condition, HttpStatus, PutOutcome, Store};
use crate::codec::Encoding;
use crate::error::{Error, Result};

impl Store {
    /// PUT `body` at `key` under `condition`.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        encoding: Encoding,
        condition: Option<Condition>,
    ) -> Result<PutOutcome> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into());
        if encoding == Encoding::Gzip {
            req = req.content_encoding("gzip");
        }
        req = match condition {
            Some(Condition::IfMatch(etag)) => req.if_match(etag),
            Some(Condition::IfNoneMatch) => req.if_none_match("*"),
            None => req,
        };
        match req.send().await {
            Ok(out) => Ok(PutOutcome::Written {
                etag: out.e_tag().map(str::to_owned),
                version_id: out.version_id().map(str::to_owned),
            }),
            Err(e) if matches!(e.raw_response().map(HttpStatus::status), Some(412 | 409)) => {
                Ok(PutOutcome::PreconditionFailed)
            }
            Err(e) => Err(s3_error("PutObject", key, e)),
        }
    }

    /// Delete one object version (or the current object).
    async fn delete_one(&self, key: &str, version_id: Option<String>) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id)
            .send()
            .await
            .map_err(|e| s3_error("DeleteObject", key, e))?;
        Ok(())
    }

    /// Does this store honour `If-Match` / `If-None-Match` on PUT? Some
    /// S3-compatible stores silently ignore them. Writes a scratch object
    /// under the prefix and removes it (every version) afterwards.
    pub async fn probe_conditional_writes(&self) -> Result<bool> {
        let key = format!("{}.archive-desk-probe-{:016x}", self.layout.prefix(), fastrand::u64(..));
        let mut versions = Vec::new();
        let first = self.put(&key, b"{}".to_vec(), Encoding::Plain, None).await?;
        if let PutOutcome::Written { version_id, .. } = &first {
            versions.push(version_id.clone());
        }
        let mut honoured = true;
        let wrong_etag = Condition::IfMatch("\"00000000000000000000000000000000\"".into());
        for condition in [wrong_etag, Condition::IfNoneMatch] {
            match self
                .put(&key, b"{\"probe\":1}".to_vec(), Encoding::Plain, Some(condition))
                .await?
            {
                PutOutcome::PreconditionFailed => {}
                PutOutcome::Written { version_id, .. } => {
                    honoured = false;
                    versions.push(version_id);
                }
            }
        }
        for version in versions {
            self.delete_one(&key, version).await?;
        }
        Ok(honoured)
    }

    /// Refuse index writes on a store that ignores conditional writes,
    /// unless the config allows it explicitly. Probed once per `Store`.
    pub async fn ensure_safe_index_writes(&self) -> Result<()> {
        if self.allow_unsafe_index_writes {
            return Ok(());
        }
        let honoured = *self
            .conditional_writes
            .get_or_try_init(|| self.probe_conditional_writes())
            .await?;
        if honoured {
            Ok(())
        } else {
            Err(Error::ConditionalWritesUnsupported {
                bucket: self.bucket.clone(),
            })
        }
    }
}
