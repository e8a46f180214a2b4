//! The archive in an S3 bucket (AWS or any S3-compatible store), on one
//! shared `aws-sdk-s3` client with timeouts and standard retries.
//! Listings are streamed page by page; nothing here issues a request per
//! object where a list will do.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::Client;
use aws_smithy_types::date_time::Format;
use futures::Stream;
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::codec::{self, Encoding, Limits};
use crate::error::{Error, Result};
use crate::layout::{ConversationId, Layout, ObjectKind, UserFolder};
use crate::model::{ConversationDocument, UserIndex};
use crate::secret::Secret;

mod budget;
mod lock;

use budget::MemoryBudget;
pub use lock::describe_hold;
pub(crate) use lock::{look_up_holds, HoldSource};

/// Where AWS credentials come from.
#[derive(Debug, Clone, Default)]
pub enum CredentialSource {
    /// The AWS default chain (env vars, `~/.aws` files, SSO, instance
    /// roles), optionally with a named `~/.aws` profile.
    #[default]
    DefaultChain,
    NamedProfile(String),
    Static {
        access_key_id: String,
        secret_access_key: Secret,
    },
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub bucket: String,
    /// `None`: from the AWS config chain, else `us-east-1`.
    pub region: Option<String>,
    /// A custom endpoint for S3-compatible stores.
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    pub credentials: CredentialSource,
    pub layout: Layout,
    pub limits: Limits,
    /// Write `metadata.json` even on a store that ignores `If-Match`
    /// (risk: losing an entry an archiver writes at the same moment).
    pub allow_unsafe_index_writes: bool,
    /// Object bodies held in memory at once, across every concurrent read
    /// of this store (raised to `limits.max_object_bytes` if lower).
    pub memory_budget_bytes: u64,
}

/// Default `memory_budget_bytes`: four maximal objects, thousands of indexes.
pub const DEFAULT_MEMORY_BUDGET: u64 = 256 << 20;

impl StoreConfig {
    pub fn new(bucket: impl Into<String>) -> Self {
        StoreConfig {
            bucket: bucket.into(),
            region: None,
            endpoint: None,
            force_path_style: false,
            credentials: CredentialSource::DefaultChain,
            layout: Layout::default(),
            limits: Limits::default(),
            allow_unsafe_index_writes: false,
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET,
        }
    }
}

/// A precondition for a PUT.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Only if the object still has this ETag.
    IfMatch(String),
    /// Only if no object exists at the key.
    IfNoneMatch,
}

/// What a conditional PUT did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Written {
        etag: Option<String>,
        version_id: Option<String>,
    },
    /// The precondition failed (412) or raced another conditional write (409).
    PreconditionFailed,
}

/// One listed object of a user's folder.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    /// RFC 3339.
    pub last_modified: Option<String>,
    /// `STANDARD` when the store does not say.
    pub storage_class: String,
}

impl ObjectInfo {
    /// Objects that must be restored (thawed) before they can be read.
    pub fn is_cold(&self) -> bool {
        is_cold_class(&self.storage_class)
    }
}

pub fn is_cold_class(class: &str) -> bool {
    matches!(class, "GLACIER" | "DEEP_ARCHIVE")
}

/// An INTELLIGENT_TIERING object that the tiering moved to an archive tier
/// (`x-amz-archive-status` on its HEAD; listings do not carry it): as cold
/// as GLACIER until restored.
pub fn is_archived_tier(class: &str, archive_status: Option<&str>) -> bool {
    class == "INTELLIGENT_TIERING" && matches!(archive_status, Some("ARCHIVE_ACCESS" | "DEEP_ARCHIVE_ACCESS"))
}

/// One page of the users listing.
#[derive(Debug, Clone, Default)]
pub struct UserPage {
    pub users: Vec<UserFolder>,
    /// Folder names that cannot be used safely as key parts; shown, not opened.
    pub unusable: Vec<String>,
}

/// A user's `metadata.json` as read.
#[derive(Debug, Clone)]
pub struct IndexRead {
    pub key: String,
    pub index: UserIndex,
    /// `None` when the index is missing.
    pub etag: Option<String>,
    /// No `metadata.json` exists (the index is empty, not corrupt).
    pub missing: bool,
    /// How it was stored; writes keep it.
    pub encoding: Encoding,
}

/// An opened conversation.
#[derive(Debug, Clone)]
pub struct OpenedConversation {
    pub key: String,
    pub encoding: Encoding,
    pub document: ConversationDocument,
}

/// One fetched object, decoded.
pub(crate) struct Fetched<T> {
    pub(crate) value: T,
    pub(crate) etag: Option<String>,
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    bucket: String,
    layout: Layout,
    limits: Limits,
    allow_unsafe_index_writes: bool,
    /// Result of the conditional-write probe, once run.
    conditional_writes: Arc<OnceCell<bool>>,
    memory: MemoryBudget,
    /// Whether the bucket has S3 Object Lock enabled, once read.
    object_lock: Arc<OnceCell<bool>>,
}

impl Store {
    pub async fn connect(config: StoreConfig) -> Result<Self> {
        if config.bucket.is_empty() {
            return Err(Error::Config("no bucket given".into()));
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .read_timeout(Duration::from_secs(30))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .operation_timeout(Duration::from_secs(300))
                    .build(),
            );
        loader = match config.credentials {
            CredentialSource::DefaultChain => loader,
            CredentialSource::NamedProfile(name) => loader.profile_name(name),
            CredentialSource::Static {
                access_key_id,
                secret_access_key,
            } => loader.credentials_provider(aws_credential_types::Credentials::new(
                access_key_id,
                secret_access_key.expose(),
                None,
                None,
                "archive-desk",
            )),
        };
        if let Some(region) = config.region {
            loader = loader.region(aws_config::Region::new(region));
        }
        let shared = loader.load().await;
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(config.force_path_style);
        if shared.region().is_none() {
            s3 = s3.region(aws_config::Region::from_static("us-east-1"));
        }
        if let Some(endpoint) = config.endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        Ok(Store {
            client: Client::from_conf(s3.build()),
            bucket: config.bucket,
            layout: config.layout,
            limits: config.limits,
            allow_unsafe_index_writes: config.allow_unsafe_index_writes,
            conditional_writes: Arc::default(),
            memory: MemoryBudget::new(config.memory_budget_bytes.max(config.limits.max_object_bytes)),
            object_lock: Arc::default(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn allows_unsafe_index_writes(&self) -> bool {
        self.allow_unsafe_index_writes
    }

    /// The user folders under the prefix, one ListObjectsV2 page (up to 1,000
    /// users) at a time.
    pub fn list_users(&self) -> impl Stream<Item = Result<UserPage>> + Send + 'static {
        self.list_users_paged(1000)
    }

    /// As `list_users`, with at most `page_size` users a page.
    pub fn list_users_paged(&self, page_size: i32) -> impl Stream<Item = Result<UserPage>> + Send + 'static {
        let store = self.clone();
        futures::stream::try_unfold(Some(None::<String>), move |token| {
            let store = store.clone();
            async move {
                let Some(token) = token else { return Ok(None) };
                let prefix = store.layout.prefix().to_owned();
                let out = store
                    .client
                    .list_objects_v2()
                    .bucket(&store.bucket)
                    .prefix(&prefix)
                    .delimiter("/")
                    .max_keys(page_size)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| s3_error("ListObjectsV2", &prefix, e))?;
                let mut page = UserPage::default();
                for cp in out.common_prefixes() {
                    let Some(p) = cp.prefix() else { continue };
                    match store.layout.folder_of_common_prefix(p) {
                        Ok(folder) => page.users.push(folder),
                        Err(_) => page.unusable.push(p.to_owned()),
                    }
                }
                let next = match out.next_continuation_token() {
                    Some(t) if out.is_truncated() == Some(true) => Some(Some(t.to_owned())),
                    _ => None,
                };
                Ok(Some((page, next)))
            }
        })
    }

    /// Every object in a user's folder (paginated, one request per 1,000).
    pub async fn list_objects(&self, folder: &UserFolder) -> Result<Vec<ObjectInfo>> {
        let prefix = self.layout.user_prefix(folder);
        let mut objects = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| s3_error("ListObjectsV2", &prefix, e))?;
            for o in out.contents() {
                let Some(key) = o.key() else { continue };
                objects.push(ObjectInfo {
                    key: key.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().map(str::to_owned),
                    last_modified: o.last_modified().and_then(|t| t.fmt(Format::DateTime).ok()),
                    storage_class: o
                        .storage_class()
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_else(|| "STANDARD".to_owned()),
                });
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(objects)
    }

    /// The user's `metadata.json`. Missing: an empty index and `missing`.
    /// Corrupt: an error naming the key.
    pub async fn read_index(&self, folder: &UserFolder) -> Result<IndexRead> {
        let key = self.layout.index_key(folder);
        match self
            .fetch(&key, |bytes| codec::decode_index(&key, bytes, &self.limits))
            .await
        {
            Ok(Fetched {
                value: (index, encoding),
                etag,
            }) => Ok(IndexRead {
                index,
                etag,
                missing: false,
                encoding,
                key,
            }),
            Err(Error::NotFound { .. }) => Ok(IndexRead {
                key,
                index: UserIndex::default(),
                etag: None,
                missing: true,
                encoding: Encoding::Plain,
            }),
            Err(e) => Err(e),
        }
    }

    /// Open a conversation by id: `<id>.json`, else `<id>.json.gz`.
    pub async fn get_conversation(&self, folder: &UserFolder, id: &ConversationId) -> Result<OpenedConversation> {
        let plain = self.layout.conversation_key(folder, id, false);
        match self.open_key(&plain, id).await {
            Err(Error::NotFound { .. }) => {
                let gz = self.layout.conversation_key(folder, id, true);
                self.open_key(&gz, id).await.map_err(|e| match e {
                    Error::NotFound { .. } => Error::NotFound {
                        key: format!("{plain} (or .json.gz)"),
                    },
                    e => e,
                })
            }
            other => other,
        }
    }

    /// Open the conversation stored at `key`, which must hold conversation `id`.
    pub async fn open_key(&self, key: &str, id: &ConversationId) -> Result<OpenedConversation> {
        let (document, encoding) = self
            .fetch(key, |bytes| codec::decode_conversation(key, bytes, &self.limits))
            .await?
            .value;
        if document.id() != id.as_str() {
            return Err(Error::shape(
                key,
                "$.conversation.id",
                format!(
                    "{:?} does not match the object key's id {:?}",
                    document.id(),
                    id.as_str()
                ),
            ));
        }
        Ok(OpenedConversation {
            key: key.to_owned(),
            encoding,
            document,
        })
    }

    /// Classify a listed key of `folder`.
    pub fn classify(&self, folder: &UserFolder, key: &str) -> ObjectKind {
        self.layout.classify(folder, key)
    }

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

    /// GET `key` and decode it, within the memory budget.
    async fn fetch<T>(&self, key: &str, decode: impl FnOnce(Vec<u8>) -> Result<T>) -> Result<Fetched<T>> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| get_error(key, e))?;
        self.decode_response(key, out, decode).await
    }

    /// Read a GET response's body as a stream, never past the object limit
    /// nor past the length it declared (a body without a length reserves
    /// the whole limit), then decode it. Every GET of the core ends here.
    pub(crate) async fn decode_response<T>(
        &self,
        key: &str,
        out: GetObjectOutput,
        decode: impl FnOnce(Vec<u8>) -> Result<T>,
    ) -> Result<Fetched<T>> {
        let max = self.limits.max_object_bytes;
        let too_large = || Error::TooLarge {
            key: key.to_owned(),
            what: "stored object",
            limit_bytes: max,
        };
        let declared = out.content_length().filter(|n| *n >= 0).map(|n| n as u64);
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let cap = declared.unwrap_or(max);
        let _body = self.memory.reserve_body(cap).await;
        let etag = out.e_tag().map(str::to_owned);
        let mut body = out.body;
        let mut bytes = Vec::with_capacity(cap.min(1 << 20) as usize);
        while let Some(chunk) = body.try_next().await.map_err(|e| Error::S3 {
            operation: "GetObject",
            key: key.to_owned(),
            message: format!("reading the body failed: {e}"),
        })? {
            if (bytes.len() + chunk.len()) as u64 > cap {
                return Err(match declared {
                    Some(n) => Error::S3 {
                        operation: "GetObject",
                        key: key.to_owned(),
                        message: format!("the body is longer than its declared {n} bytes"),
                    },
                    None => too_large(),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let _decoder = self.memory.decode_turn().await;
        Ok(Fetched {
            value: decode(bytes)?,
            etag,
        })
    }
}

fn get_error(key: &str, err: SdkError<GetObjectError>) -> Error {
    if let Some(service) = err.as_service_error() {
        match service {
            GetObjectError::NoSuchKey(_) => return Error::NotFound { key: key.to_owned() },
            // Cold whatever the class: GLACIER, DEEP_ARCHIVE, or an
            // INTELLIGENT_TIERING archive tier (then the error names it).
            GetObjectError::InvalidObjectState(e) => {
                let class = e
                    .storage_class()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_else(|| "an archive tier".to_owned());
                return Error::ColdStorage {
                    key: key.to_owned(),
                    storage_class: match e.access_tier() {
                        Some(tier) => format!("{class}, {}", tier.as_str()),
                        None => class,
                    },
                };
            }
            _ => {}
        }
    }
    s3_error("GetObject", key, err)
}

/// Any SDK error as `Error`; a 404 is `NotFound` whatever the store calls it.
pub(crate) fn s3_error<E, R>(operation: &'static str, key: &str, err: SdkError<E, R>) -> Error
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    if err.raw_response().map(HttpStatus::status) == Some(404)
        && err.as_service_error().and_then(|e| e.code()) != Some("NoSuchBucket")
    {
        return Error::NotFound { key: key.to_owned() };
    }
    let message = match err.as_service_error() {
        Some(e) => format!(
            "{}: {}",
            e.code().unwrap_or("error"),
            e.message().unwrap_or("no message")
        ),
        None => DisplayErrorContext(&err).to_string(),
    };
    Error::S3 {
        operation,
        key: key.to_owned(),
        message,
    }
}

/// The HTTP status and the S3 error code of a failed request, where known.
pub(crate) fn error_status_code<E, R>(err: &SdkError<E, R>) -> (Option<u16>, Option<String>)
where
    E: ProvideErrorMetadata,
    R: HttpStatus,
{
    (
        err.raw_response().map(HttpStatus::status),
        err.as_service_error().and_then(|e| e.code()).map(str::to_owned),
    )
}

/// The store does not implement the operation at all (rclone `serve s3`
/// answers ListObjectVersions with 501 NotImplemented), as opposed to
/// refusing it (AccessDenied) or failing for now (503, timeouts).
pub(crate) fn is_not_implemented(status: Option<u16>, code: Option<&str>) -> bool {
    status == Some(501) || code == Some("NotImplemented")
}

/// The HTTP status of a raw response, whatever its type.
pub(crate) trait HttpStatus {
    fn status(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_tiers_only_for_intelligent_tiering() {
        assert!(is_archived_tier("INTELLIGENT_TIERING", Some("ARCHIVE_ACCESS")));
        assert!(is_archived_tier("INTELLIGENT_TIERING", Some("DEEP_ARCHIVE_ACCESS")));
        assert!(!is_archived_tier("INTELLIGENT_TIERING", None));
        assert!(!is_archived_tier("STANDARD", Some("ARCHIVE_ACCESS")));
    }
}
