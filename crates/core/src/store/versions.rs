//! Object versions, for the permanent delete: the versioning state of the
//! bucket, every version and delete marker under a prefix
//! (ListObjectVersions), and DeleteObjects of up to 1,000 versions.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::{error_status_code, is_not_implemented, s3_error, HttpStatus, Store};
use crate::error::{Error, Result};

/// A bucket's versioning state as GetBucketVersioning gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Versioning {
    /// No status: versioning was never turned on, so no old versions exist.
    Never,
    /// Enabled or Suspended: old versions may exist.
    Versioned,
}

/// One object version (`version_id` None: the current object of a store
/// without versions).
#[derive(Debug, Clone)]
pub(crate) struct ObjectVersion {
    pub(crate) key: String,
    pub(crate) version_id: Option<String>,
    /// Delete markers hold no data and cannot be locked.
    pub(crate) delete_marker: bool,
    /// The key's current version (always, for a store without versions).
    pub(crate) latest: bool,
}

/// Why ListObjectVersions failed.
#[derive(Debug)]
pub(crate) struct VersionsUnlisted {
    /// The failure, naming the prefix.
    pub(crate) error: Error,
    /// The store does not implement it at all.
    pub(crate) not_implemented: bool,
}

fn is_not_implemented_error<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
    R: HttpStatus,
{
    let (status, code) = error_status_code(e);
    is_not_implemented(status, code.as_deref())
}

/// The versioning state in a GetBucketVersioning body whatever its root
/// element: no `<Status>` means never versioned; any status (Enabled,
/// Suspended, or one we do not know) means old versions may exist. `None`
/// when the body is not XML.
fn versioning_in_body(body: &str) -> Option<Versioning> {
    if !body.trim_start().starts_with('<') {
        return None;
    }
    Some(if body.contains("<Status>") {
        Versioning::Versioned
    } else {
        Versioning::Never
    })
}

impl Store {
    /// GetBucketVersioning; a store that does not implement it has never
    /// versioned anything.
    pub(crate) async fn bucket_versioning(&self) -> Result<Versioning> {
        match self.client.get_bucket_versioning().bucket(&self.bucket).send().await {
            // Enabled or Suspended: versions made while it was on are still there.
            Ok(out) if out.status().is_some() => Ok(Versioning::Versioned),
            Ok(_) => Ok(Versioning::Never),
            Err(e) if is_not_implemented_error(&e) => Ok(Versioning::Never),
            Err(e) => {
                // An answer the SDK will not parse: moto wraps it in
                // `<GetBucketVersioningResponse>` instead of
                // `<VersioningConfiguration>`. The Status element is what counts.
                let answered = e
                    .raw_response()
                    .filter(|r| r.status().is_success())
                    .and_then(|r| r.body().bytes())
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(versioning_in_body);
                match answered {
                    Some(state) => Ok(state),
                    None => Err(s3_error("GetBucketVersioning", &self.bucket, e)),
                }
            }
        }
    }

    /// Every version and delete marker under `prefix` (ListObjectVersions,
    /// paginated).
    pub(crate) async fn list_versions(
        &self,
        prefix: &str,
    ) -> std::result::Result<Vec<ObjectVersion>, VersionsUnlisted> {
        let mut out = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .map_err(|e| VersionsUnlisted {
                    not_implemented: is_not_implemented_error(&e),
                    error: s3_error("ListObjectVersions", prefix, e),
                })?;
            for v in page.versions() {
                if let Some(key) = v.key() {
                    out.push(ObjectVersion {
                        key: key.to_owned(),
                        version_id: v.version_id().map(str::to_owned),
                        delete_marker: false,
                        latest: v.is_latest() == Some(true),
                    });
                }
            }
            for m in page.delete_markers() {
                if let Some(key) = m.key() {
                    out.push(ObjectVersion {
                        key: key.to_owned(),
                        version_id: m.version_id().map(str::to_owned),
                        delete_marker: true,
                        latest: m.is_latest() == Some(true),
                    });
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(out);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
    }

    /// One DeleteObjects request (quiet) for up to 1,000 versions; the
    /// first version the store could not delete is the error.
    pub(crate) async fn delete_versions(&self, batch: &[ObjectVersion]) -> Result<()> {
        let first = batch.first().map_or("", |t| t.key.as_str());
        let objects = batch
            .iter()
            .map(|t| {
                ObjectIdentifier::builder()
                    .key(&t.key)
                    .set_version_id(t.version_id.clone())
                    .build()
                    .map_err(|e| Error::Internal(format!("{}: delete request: {e}", t.key)))
            })
            .collect::<Result<Vec<_>>>()?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::Internal(format!("{first}: delete request: {e}")))?;
        let out = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| s3_error("DeleteObjects", first, e))?;
        if let Some(e) = out.errors().first() {
            return Err(Error::S3 {
                operation: "DeleteObjects",
                key: e.key().unwrap_or(first).to_owned(),
                message: format!(
                    "{}: {}",
                    e.code().unwrap_or("error"),
                    e.message().unwrap_or("not deleted")
                ),
            });
        }
        Ok(())
    }
}

impl Store {
    /// DeleteObject of `key`'s current object only while its ETag is still
    /// `etag` (`None`: unconditionally, for stores allowed unsafe index
    /// writes): false when it changed meanwhile (412) and nothing was
    /// deleted. On a versioned bucket this adds a delete marker.
    pub(crate) async fn delete_current_if_match(&self, key: &str, etag: Option<&str>) -> Result<bool> {
        let request = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .set_if_match(etag.map(str::to_owned));
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().map(HttpStatus::status) == Some(412) => Ok(false),
            Err(e) => Err(s3_error("DeleteObject", key, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioning_status_is_read_whatever_the_root_element() {
        let ns = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
        assert_eq!(
            versioning_in_body(&format!("<?xml version=\"1.0\"?>\n<GetBucketVersioningResponse {ns}/>")),
            Some(Versioning::Never)
        );
        for status in ["Enabled", "Suspended"] {
            assert_eq!(
                versioning_in_body(&format!(
                    "<GetBucketVersioningResponse {ns}><Status>{status}</Status></GetBucketVersioningResponse>"
                )),
                Some(Versioning::Versioned)
            );
        }
        assert_eq!(versioning_in_body("Service Unavailable"), None);
    }
}
