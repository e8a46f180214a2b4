//! Cold storage requests: the HEAD that tells an object's storage class,
//! archive tier and restore state, and RestoreObject.

use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier};

use super::{s3_error, Store};
use crate::error::{Error, Result};

/// What a HEAD says about an object's coldness.
#[derive(Debug, Clone)]
pub(crate) struct HeadState {
    /// `STANDARD` when the store does not say.
    pub(crate) storage_class: String,
    /// `x-amz-archive-status` (INTELLIGENT_TIERING archive tiers).
    pub(crate) archive_status: Option<String>,
    /// `x-amz-restore`.
    pub(crate) restore: Option<String>,
}

/// The RestoreObject request body.
fn restore_request(days: Option<i32>, tier: &str) -> Result<RestoreRequest> {
    let params = GlacierJobParameters::builder()
        .tier(Tier::from(tier))
        .build()
        .map_err(|e| Error::Internal(format!("thaw request: {e}")))?;
    Ok(RestoreRequest::builder()
        .glacier_job_parameters(params)
        .set_days(days)
        .build())
}

impl Store {
    /// HEAD of the current object at `key`.
    pub(crate) async fn head_state(&self, key: &str) -> Result<HeadState> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error("HeadObject", key, e))?;
        Ok(HeadState {
            storage_class: head
                .storage_class()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_else(|| "STANDARD".into()),
            archive_status: head.archive_status().map(|s| s.as_str().to_owned()),
            restore: head.restore().map(str::to_owned),
        })
    }

    /// RestoreObject at retrieval `tier` (S3's name: `Expedited`,
    /// `Standard`, `Bulk`), for `days` (`None`: no days, as S3 requires for
    /// an INTELLIGENT_TIERING archive tier). A restore already under way
    /// (409) is not an error.
    pub(crate) async fn restore_object(&self, key: &str, days: Option<i32>, tier: &str) -> Result<()> {
        let request = restore_request(days, tier)?;
        let result = self
            .client
            .restore_object()
            .bucket(&self.bucket)
            .key(key)
            .restore_request(request)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(409) => Ok(()),
            Err(e) => Err(s3_error("RestoreObject", key, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_request_has_days_only_when_given() {
        let it = restore_request(None, "Bulk").unwrap();
        assert_eq!(it.days(), None);
        assert_eq!(it.glacier_job_parameters().map(|p| p.tier().as_str()), Some("Bulk"));
        let glacier = restore_request(Some(7), "Standard").unwrap();
        assert_eq!(glacier.days(), Some(7));
    }
}
