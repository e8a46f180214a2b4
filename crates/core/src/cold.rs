//! Cold storage: objects a lifecycle rule moved to GLACIER / DEEP_ARCHIVE
//! must be restored ("thawed") before they can be read. Status comes from
//! the `x-amz-restore` header of a HEAD on that one object.

use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::{is_cold_class, s3_error, Store};

/// Retrieval speed (and price) of a restore.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThawTier {
    Expedited,
    Standard,
    Bulk,
}

impl std::str::FromStr for ThawTier {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "expedited" => Ok(ThawTier::Expedited),
            "standard" => Ok(ThawTier::Standard),
            "bulk" => Ok(ThawTier::Bulk),
            _ => Err(Error::Config(format!(
                "unknown restore tier {s:?}: use expedited, standard or bulk"
            ))),
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ColdState {
    /// Not in a cold class: readable now.
    Warm,
    /// Cold, and no restore requested.
    Frozen,
    /// A restore is under way.
    Restoring,
    /// Restored; readable until `until` (RFC 1123 as S3 gives it).
    Available { until: Option<String> },
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct ColdStatus {
    pub key: String,
    pub storage_class: String,
    #[serde(flatten)]
    pub state: ColdState,
}

/// Parse `ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`.
fn parse_restore_header(header: &str) -> ColdState {
    if header.contains("ongoing-request=\"true\"") {
        return ColdState::Restoring;
    }
    let until = header
        .split_once("expiry-date=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(date, _)| date.to_owned());
    ColdState::Available { until }
}

pub async fn status(store: &Store, key: &str) -> Result<ColdStatus> {
    let head = store
        .client()
        .head_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await
        .map_err(|e| s3_error("HeadObject", key, e))?;
    let storage_class = head
        .storage_class()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_else(|| "STANDARD".into());
    let state = if !is_cold_class(&storage_class) {
        ColdState::Warm
    } else {
        head.restore().map_or(ColdState::Frozen, parse_restore_header)
    };
    Ok(ColdStatus {
        key: key.to_owned(),
        storage_class,
        state,
    })
}

/// Ask S3 to restore a cold object for `days`. Asking again while a restore
/// runs is not an error.
pub(crate) async fn request(store: &Store, key: &str, days: i32, tier: ThawTier) -> Result<()> {
    let tier = match tier {
        ThawTier::Expedited => Tier::Expedited,
        ThawTier::Standard => Tier::Standard,
        ThawTier::Bulk => Tier::Bulk,
    };
    let params = GlacierJobParameters::builder()
        .tier(tier)
        .build()
        .map_err(|e| Error::Config(e.to_string()))?;
    let result = store
        .client()
        .restore_object()
        .bucket(store.bucket())
        .key(key)
        .restore_request(
            RestoreRequest::builder()
                .days(days)
                .glacier_job_parameters(params)
                .build(),
        )
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(409) => Ok(()),
        Err(e) => Err(s3_error("RestoreObject", key, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_header() {
        assert_eq!(parse_restore_header("ongoing-request=\"true\""), ColdState::Restoring);
        assert_eq!(
            parse_restore_header("ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""),
            ColdState::Available {
                until: Some("Fri, 21 Dec 2012 00:00:00 GMT".into())
            }
        );
    }
}
