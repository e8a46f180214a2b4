//! S3 Object Lock: whether a bucket has it, and the hold on each object
//! version, read for display (HEAD) or for a delete (the lock APIs).

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::date_time::Format;
use futures::StreamExt;

use super::{error_status_code, is_not_implemented, s3_error, HttpStatus, Store};
use crate::error::{Error, Result};

/// Why an object version cannot be deleted now, from the Object Lock fields
/// of its HEAD: a legal hold, or a retention whose date is still ahead of
/// `now`. `None`: not held.
pub fn describe_hold(
    legal_hold: Option<&str>,
    mode: Option<&str>,
    retain_until: Option<&aws_smithy_types::DateTime>,
    now: &aws_smithy_types::DateTime,
) -> Option<String> {
    let mut holds = Vec::new();
    if legal_hold == Some("ON") {
        holds.push("legal hold ON".to_owned());
    }
    if let (Some(mode), Some(until)) = (mode, retain_until) {
        if until > now {
            let until = until.fmt(Format::DateTime).unwrap_or_else(|_| until.to_string());
            holds.push(format!("retention {mode} until {until}"));
        }
    }
    (!holds.is_empty()).then(|| holds.join(", "))
}

impl Store {
    /// Does the bucket have S3 Object Lock enabled? One
    /// GetObjectLockConfiguration per `Store` (a bucket cannot turn it off);
    /// errors are not cached. No configuration or NotImplemented mean none.
    /// An answer the SDK will not parse is classified by its body
    /// ([`object_lock_in_body`]): rclone `serve s3` ignores the
    /// `?object-lock` subresource and answers with a bucket listing (no
    /// lock); anything unrecognised is an error, so a delete refuses rather
    /// than skipping the hold checks.
    pub async fn object_lock_enabled(&self) -> Result<bool> {
        let enabled = self
            .object_lock
            .get_or_try_init(|| async {
                match self
                    .client
                    .get_object_lock_configuration()
                    .bucket(&self.bucket)
                    .send()
                    .await
                {
                    Ok(out) => match out.object_lock_configuration() {
                        Some(c) => Ok(c.object_lock_enabled().is_some_and(|e| e.as_str() == "Enabled")),
                        None => Err(Error::S3 {
                            operation: "GetObjectLockConfiguration",
                            key: self.bucket.clone(),
                            message: "the answer carries no Object Lock configuration".to_owned(),
                        }),
                    },
                    Err(e) => {
                        let (status, code) = error_status_code(&e);
                        if matches!(code.as_deref(), Some("ObjectLockConfigurationNotFoundError"))
                            || is_not_implemented(status, code.as_deref())
                        {
                            return Ok(false);
                        }
                        let answered = e
                            .raw_response()
                            .filter(|r| r.status().is_success())
                            .and_then(|r| r.body().bytes())
                            .and_then(|b| std::str::from_utf8(b).ok())
                            .and_then(object_lock_in_body);
                        match answered {
                            Some(enabled) => Ok(enabled),
                            None => Err(s3_error("GetObjectLockConfiguration", &self.bucket, e)),
                        }
                    }
                }
            })
            .await?;
        Ok(*enabled)
    }

    /// The Object Lock hold on one object version (`None`: the current
    /// one), from its HEAD; `Ok(None)` when it is not held. For display
    /// only: S3 includes the lock fields only for callers allowed to read
    /// them (`s3:GetObjectRetention`, `s3:GetObjectLegalHold`), so a HEAD
    /// cannot tell "not held" from "not allowed to see" — delete asks
    /// [`Store::object_lock_state`] instead.
    pub async fn object_hold(&self, key: &str, version_id: Option<&str>) -> Result<Option<String>> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
            .map_err(|e| s3_error("HeadObject", key, e))?;
        let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
        Ok(describe_hold(
            head.object_lock_legal_hold_status().map(|s| s.as_str()),
            head.object_lock_mode().map(|m| m.as_str()),
            head.object_lock_retain_until_date(),
            &now,
        ))
    }

    /// The Object Lock hold on one object version, from GetObjectLegalHold
    /// and GetObjectRetention (asked together), which answer or refuse
    /// explicitly: "no configuration" means no hold, any other failure is
    /// [`Error::HoldsUnreadable`] naming the permission to grant.
    pub async fn object_lock_state(&self, key: &str, version_id: Option<&str>) -> Result<Option<String>> {
        let unreadable = |permission: &'static str, failure: Error| {
            let cause = failure.to_string();
            Error::HoldsUnreadable {
                key: match version_id {
                    Some(v) => format!("{key} (version {v})"),
                    None => key.to_owned(),
                },
                permission,
                cause: cause.strip_prefix(&format!("{key}: ")).unwrap_or(&cause).to_owned(),
            }
        };
        let legal_hold = async {
            match self
                .client
                .get_object_legal_hold()
                .bucket(&self.bucket)
                .key(key)
                .set_version_id(version_id.map(str::to_owned))
                .send()
                .await
            {
                Ok(out) => Ok(out.legal_hold().and_then(|h| h.status()).map(|s| s.as_str().to_owned())),
                Err(e) if no_lock_configuration(&e) => Ok(None),
                Err(e) => Err(unreadable(
                    "s3:GetObjectLegalHold",
                    s3_error("GetObjectLegalHold", key, e),
                )),
            }
        };
        let retention = async {
            match self
                .client
                .get_object_retention()
                .bucket(&self.bucket)
                .key(key)
                .set_version_id(version_id.map(str::to_owned))
                .send()
                .await
            {
                Ok(out) => Ok(out
                    .retention()
                    .map(|r| (r.mode().map(|m| m.as_str().to_owned()), r.retain_until_date().cloned()))),
                Err(e) if no_lock_configuration(&e) => Ok(None),
                Err(e) => match e.raw_response().and_then(retention_from_object_answer) {
                    Some(retention) => Ok(Some(retention)),
                    None => Err(unreadable(
                        "s3:GetObjectRetention",
                        s3_error("GetObjectRetention", key, e),
                    )),
                },
            }
        };
        let (legal_hold, retention) = futures::try_join!(legal_hold, retention)?;
        let (mode, until) = retention.unwrap_or_default();
        let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
        Ok(describe_hold(
            legal_hold.as_deref(),
            mode.as_deref(),
            until.as_ref(),
            &now,
        ))
    }
}

/// Lock lookups in flight (browse and delete alike).
pub(crate) const HOLD_LOOKUPS: usize = 16;

/// Where a hold is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoldSource {
    /// HEAD: display only (silent about holds the caller may not read).
    Head,
    /// GetObjectLegalHold + GetObjectRetention: what a delete relies on.
    LockApis,
}

/// The hold of each `(key, version)`, in input order, `HOLD_LOOKUPS` at a
/// time: the lock state is in no listing, so this is one lookup per
/// version, which only buckets with Object Lock (or of unknown lock state)
/// pay for. A version gone since the listing has no hold.
pub(crate) async fn look_up_holds(
    store: &Store,
    versions: Vec<(String, Option<String>)>,
    source: HoldSource,
) -> Vec<Result<Option<String>>> {
    // Owned inputs and a cloned `Store`: the futures borrow nothing, so
    // browse and delete stay `Send` for spawned callers.
    futures::stream::iter(versions)
        .map(|(key, version_id)| {
            let store = store.clone();
            async move {
                let hold = match source {
                    HoldSource::Head => store.object_hold(&key, version_id.as_deref()).await,
                    HoldSource::LockApis => store.object_lock_state(&key, version_id.as_deref()).await,
                };
                match hold {
                    Err(Error::NotFound { .. }) => Ok(None),
                    other => other,
                }
            }
        })
        .buffered(HOLD_LOOKUPS)
        .collect()
        .await
}

/// GetObjectLegalHold / GetObjectRetention answered that there is nothing
/// to hold: the version has no lock configuration (S3: 404
/// NoSuchObjectLockConfiguration), is gone since the listing (404
/// NoSuchKey / NoSuchVersion), or the bucket has no Object Lock at all
/// (400 InvalidRequest "Bucket is missing Object Lock Configuration",
/// asked when the lock state could not be read). Never a denial or a
/// server error.
fn no_lock_configuration<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
    R: HttpStatus,
{
    let (status, code) = error_status_code(err);
    let message = err.as_service_error().and_then(|e| e.message()).unwrap_or("");
    match code.as_deref() {
        Some("NoSuchObjectLockConfiguration" | "NoSuchKey" | "NoSuchVersion") => true,
        Some("InvalidRequest") => message.contains("Object Lock Configuration"),
        Some("NoSuchBucket") => false,
        _ => status == Some(404),
    }
}

/// moto (5.x) does not implement GetObjectRetention: `GET ?retention`
/// falls through to GetObject and comes back with status 500, the object's
/// own bytes as body and its GetObject headers (ETag, and the lock headers
/// `x-amz-object-lock-mode` / `-retain-until-date` when a retention is
/// set), whether or not the version has a retention. That answer is
/// recognised precisely — an ETag and no S3 error document — and the
/// retention is read from those headers. A real server error carries an
/// `<Error>` body and no ETag, and still refuses the delete.
fn retention_from_object_answer(
    response: &aws_sdk_s3::config::http::HttpResponse,
) -> Option<(Option<String>, Option<aws_smithy_types::DateTime>)> {
    let headers = response.headers();
    let body = response.body().bytes().unwrap_or_default();
    if !is_object_answer(headers.get("etag").is_some(), body) {
        return None;
    }
    let mode = headers.get("x-amz-object-lock-mode").map(str::to_owned);
    let until = match headers.get("x-amz-object-lock-retain-until-date") {
        // A date we cannot read is no answer: the caller refuses.
        Some(d) => Some(aws_smithy_types::DateTime::from_str(d, Format::DateTime).ok()?),
        None => None,
    };
    Some((mode, until))
}

/// An answer that is an object (it has an ETag), not an S3 error document.
fn is_object_answer(has_etag: bool, body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    has_etag && !text.contains("<Error>")
}

/// Object Lock from a GetObjectLockConfiguration body the SDK would not
/// parse: `Some(true)` when it says `<ObjectLockEnabled>Enabled`;
/// `Some(false)` for a lock configuration without it, or a bucket listing
/// (rclone `serve s3` ignores `?object-lock`); `None` for anything else.
pub(crate) fn object_lock_in_body(body: &str) -> Option<bool> {
    if body.contains("<ObjectLockEnabled>Enabled</ObjectLockEnabled>") {
        Some(true)
    } else if body.contains("<ObjectLockConfiguration") || body.contains("<ListBucketResult") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_types::DateTime;

    use super::*;

    #[test]
    fn holds_are_legal_holds_and_retention_still_ahead() {
        let now = DateTime::from_secs(1_800_000_000);
        let later = DateTime::from_secs(1_800_000_000 + 86_400);
        let earlier = DateTime::from_secs(1_800_000_000 - 1);
        assert_eq!(describe_hold(None, None, None, &now), None);
        assert_eq!(describe_hold(Some("OFF"), None, None, &now), None);
        assert_eq!(
            describe_hold(Some("ON"), None, None, &now).as_deref(),
            Some("legal hold ON")
        );
        assert_eq!(
            describe_hold(None, Some("COMPLIANCE"), Some(&later), &now).as_deref(),
            Some("retention COMPLIANCE until 2027-01-16T08:00:00Z")
        );
        // Expired retention no longer holds.
        assert_eq!(describe_hold(None, Some("GOVERNANCE"), Some(&earlier), &now), None);
        assert_eq!(
            describe_hold(Some("ON"), Some("GOVERNANCE"), Some(&later), &now).as_deref(),
            Some("legal hold ON, retention GOVERNANCE until 2027-01-16T08:00:00Z")
        );
    }

    #[test]
    fn object_lock_body_is_enabled_listing_or_unknown() {
        let ns = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
        assert_eq!(
            object_lock_in_body(&format!(
                "<?xml version=\"1.0\"?><ObjectLockConfiguration {ns}><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>"
            )),
            Some(true)
        );
        // Wrapped in another root element: what counts is the element.
        assert_eq!(
            object_lock_in_body("<R><ObjectLockEnabled>Enabled</ObjectLockEnabled></R>"),
            Some(true)
        );
        assert_eq!(
            object_lock_in_body(&format!("<ObjectLockConfiguration {ns}/>")),
            Some(false)
        );
        assert_eq!(
            object_lock_in_body(&format!(
                "<?xml version=\"1.0\"?><ListBucketResult {ns}><Name>b</Name></ListBucketResult>"
            )),
            Some(false)
        );
        assert_eq!(object_lock_in_body(""), None);
        assert_eq!(object_lock_in_body("<html>gateway</html>"), None);
        assert_eq!(object_lock_in_body("OK"), None);
    }

    #[test]
    fn only_an_object_with_an_etag_is_an_object_answer() {
        assert!(is_object_answer(true, b"{\"conversation\":{}}"));
        assert!(!is_object_answer(false, b"{}"));
        assert!(!is_object_answer(
            true,
            b"<?xml version=\"1.0\"?><Error><Code>InternalError</Code></Error>"
        ));
    }
}
