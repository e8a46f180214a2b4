//! Cold storage: objects a lifecycle rule moved to GLACIER / DEEP_ARCHIVE,
//! or that INTELLIGENT_TIERING moved to its Archive Access / Deep Archive
//! Access tier, must be restored ("thawed") before they can be read. Status
//! comes from the `x-amz-restore` and `x-amz-archive-status` headers of a
//! HEAD on that one object.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{is_archived_tier, is_cold_class, Store};

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
    let head = store.head_state(key).await?;
    let state = cold_state(
        &head.storage_class,
        head.archive_status.as_deref(),
        head.restore.as_deref(),
    );
    Ok(ColdStatus {
        key: key.to_owned(),
        storage_class: head.storage_class,
        archive_status: head.archive_status,
        state,
    })
}

impl ThawTier {
    /// The tier's name in a RestoreObject request.
    fn s3_name(self) -> &'static str {
        match self {
            ThawTier::Expedited => "Expedited",
            ThawTier::Standard => "Standard",
            ThawTier::Bulk => "Bulk",
        }
    }
}

/// The days of a RestoreObject request: for GLACIER / DEEP_ARCHIVE copies;
/// none for an INTELLIGENT_TIERING archive tier, where S3 rejects Days (the
/// object moves back to the frequent tier instead of getting a copy).
fn restore_days(days: i32, archived_tier: bool) -> Option<i32> {
    (!archived_tier).then_some(days)
}

/// Ask S3 to restore a cold object for `days`. Asking again while a restore
/// runs is not an error.
pub(crate) async fn request(store: &Store, key: &str, days: i32, tier: ThawTier) -> Result<()> {
    // Which kind of cold decides the request's shape: one HEAD.
    let current = status(store, key).await?;
    let archived_tier = is_archived_tier(&current.storage_class, current.archive_status.as_deref());
    store
        .restore_object(key, restore_days(days, archived_tier), tier.s3_name())
        .await
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
        // The request itself: store/thaw.rs (`a_restore_request_has_days_only_when_given`).
        assert_eq!(restore_days(7, true), None);
        assert_eq!(ThawTier::Bulk.s3_name(), "Bulk");
        assert_eq!(restore_days(7, false), Some(7));
        assert_eq!(ThawTier::Standard.s3_name(), "Standard");
    }
}
