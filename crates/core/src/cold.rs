//! Cold storage: objects a lifecycle rule moved to GLACIER / DEEP_ARCHIVE,
//! or that INTELLIGENT_TIERING moved to its Archive Access / Deep Archive
//! Access tier, must be restored ("thawed") before they can be read. Status
//! comes from the `x-amz-restore` and `x-amz-archive-status` headers of a
//! HEAD on that one object.

use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{is_archived_tier, is_cold_class, s3_error, Store};

/// Retrieval speed (and price) of a restore.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
            _ => Err(Error::InvalidInput(format!(
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
    /// INTELLIGENT_TIERING only: `ARCHIVE_ACCESS` or `DEEP_ARCHIVE_ACCESS`
    /// while the object sits in an archive tier.
    pub archive_status: Option<String>,
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

/// The state of an object from its HEAD: class, archive tier, restore header.
fn cold_state(storage_class: &str, archive_status: Option<&str>, restore: Option<&str>) -> ColdState {
    if is_cold_class(storage_class) {
        restore.map_or(ColdState::Frozen, parse_restore_header)
    } else if is_archived_tier(storage_class, archive_status) {
        // A restored INTELLIGENT_TIERING object moves back to the frequent
        // tier and loses its archive status; while it has one, it is frozen
        // or on its way out.
        match restore.map(parse_restore_header) {
            Some(ColdState::Restoring) => ColdState::Restoring,
            _ => ColdState::Frozen,
        }
    } else {
        ColdState::Warm
    }
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
    let archive_status = head.archive_status().map(|s| s.as_str().to_owned());
    let state = cold_state(&storage_class, archive_status.as_deref(), head.restore());
    Ok(ColdStatus {
        key: key.to_owned(),
        storage_class,
        archive_status,
        state,
    })
}

/// The RestoreObject request: days for GLACIER / DEEP_ARCHIVE copies; none
/// for an INTELLIGENT_TIERING archive tier, where S3 rejects Days (the
/// object moves back to the frequent tier instead of getting a copy).
fn restore_request(days: i32, tier: ThawTier, archived_tier: bool) -> Result<RestoreRequest> {
    let tier = match tier {
        ThawTier::Expedited => Tier::Expedited,
        ThawTier::Standard => Tier::Standard,
        ThawTier::Bulk => Tier::Bulk,
    };
    let params = GlacierJobParameters::builder()
        .tier(tier)
        .build()
        .map_err(|e| Error::Internal(format!("thaw request: {e}")))?;
    let request = RestoreRequest::builder().glacier_job_parameters(params);
    Ok(if archived_tier {
        request.build()
    } else {
        request.days(days).build()
    })
}

/// Ask S3 to restore a cold object for `days`. Asking again while a restore
/// runs is not an error.
pub(crate) async fn request(store: &Store, key: &str, days: i32, tier: ThawTier) -> Result<()> {
    // Which kind of cold decides the request's shape: one HEAD.
    let current = status(store, key).await?;
    let archived_tier = is_archived_tier(&current.storage_class, current.archive_status.as_deref());
    let result = store
        .client()
        .restore_object()
        .bucket(store.bucket())
        .key(key)
        .restore_request(restore_request(days, tier, archived_tier)?)
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
    fn the_ipc_names_of_thaw_tiers_are_the_cli_names() {
        for (name, tier) in [
            ("expedited", ThawTier::Expedited),
            ("standard", ThawTier::Standard),
            ("bulk", ThawTier::Bulk),
        ] {
            assert_eq!(serde_json::to_string(&tier).unwrap(), format!("{name:?}"));
            assert_eq!(serde_json::from_str::<ThawTier>(&format!("{name:?}")).unwrap(), tier);
            assert_eq!(name.parse::<ThawTier>().unwrap(), tier);
        }
    }

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

    #[test]
    fn intelligent_tiering_archive_tiers_are_cold() {
        let it = "INTELLIGENT_TIERING";
        for tier in ["ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS"] {
            assert_eq!(cold_state(it, Some(tier), None), ColdState::Frozen, "{tier}");
            assert_eq!(
                cold_state(it, Some(tier), Some("ongoing-request=\"true\"")),
                ColdState::Restoring
            );
        }
        // The frequent / infrequent / archive instant tiers have no archive status.
        assert_eq!(cold_state(it, None, None), ColdState::Warm);
        // Restored: back in the frequent tier, no archive status.
        assert_eq!(cold_state(it, None, Some("ongoing-request=\"false\"")), ColdState::Warm);
        assert_eq!(cold_state("STANDARD", Some("ARCHIVE_ACCESS"), None), ColdState::Warm);
        assert_eq!(cold_state("DEEP_ARCHIVE", None, None), ColdState::Frozen);
        assert_eq!(cold_state("STANDARD", None, None), ColdState::Warm);
    }

    #[test]
    fn restore_of_an_archive_tier_takes_no_days() {
        let it = restore_request(7, ThawTier::Bulk, true).unwrap();
        assert_eq!(it.days(), None);
        assert_eq!(it.glacier_job_parameters().map(|p| p.tier().as_str()), Some("Bulk"));
        let glacier = restore_request(7, ThawTier::Standard, false).unwrap();
        assert_eq!(glacier.days(), Some(7));
    }
}
