//! The archive in an S3 bucket (AWS or any S3-compatible store), on one
//! shared `aws-sdk-s3` client with timeouts and standard retries. The client
//! is private to this module and its submodules: every S3 request of the
//! core is a `Store` method (`list.rs` listings, `read.rs` GETs, `write.rs`
//! PUTs and the conditional-write probe, `versions.rs` versions and
//! DeleteObjects, `digest.rs` content hashes for erasure receipts,
//! `thaw.rs` HEAD and RestoreObject, `lock.rs` Object Lock).
//! Listings are streamed page by page; nothing here issues a request per
//! object where a list will do.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;
use serde::Serialize;
use tokio::sync::{watch, OnceCell};

use crate::adaptive::AdaptiveLimit;
use crate::codec::{Encoding, Limits};
use crate::error::{Error, Result};
use crate::layout::{Layout, ObjectKind, UserFolder};
use crate::model::{ConversationDocument, UserIndex};
use crate::secret::Secret;

mod budget;
mod digest;
mod list;
mod lock;
mod read;
mod stored_names;
mod thaw;
mod versions;
mod write;

use budget::MemoryBudget;
pub(crate) use list::successor;
pub use list::KeyRange;
pub use lock::describe_hold;
pub(crate) use lock::{look_up_holds, HoldSource};
pub(crate) use read::Throttle;
use stored_names::StoredNames;
pub(crate) use versions::{ObjectVersion, Versioning};

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
    /// The custom endpoint it was configured with, if any.
    endpoint: Option<String>,
    /// Conversations last seen stored as `<id>.json.gz` only.
    stored_names: Arc<StoredNames>,
    /// Reads a person is waiting on, shared by every clone of the store.
    foreground: Arc<watch::Sender<usize>>,
    /// This clone's GETs and listings wait while any foreground read runs
    /// (`in_background`).
    background: bool,
}

/// A read the person waits on is under way (`Store::foreground`): the
/// store's background clones start no new request until it is dropped.
pub struct ForegroundRead(Arc<watch::Sender<usize>>);

impl Drop for ForegroundRead {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
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
        if let Some(endpoint) = &config.endpoint {
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
            endpoint: config.endpoint,
            stored_names: Arc::default(),
            foreground: Arc::new(watch::channel(0).0),
            background: false,
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The custom endpoint (S3-compatible stores); `None` for AWS.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The memory budget of this store's reads, in bytes (see `StoreConfig`).
    pub fn memory_budget_bytes(&self) -> u64 {
        self.memory.bytes()
    }

    pub fn allows_unsafe_index_writes(&self) -> bool {
        self.allow_unsafe_index_writes
    }

    /// Classify a listed key of `folder`.
    pub fn classify(&self, folder: &UserFolder, key: &str) -> ObjectKind {
        self.layout.classify(folder, key)
    }

    /// Mark a read the person waits on (an exact look-up, a user's
    /// conversations, an opened conversation) until the guard is dropped:
    /// the store's background clones (`in_background`: the users listing,
    /// the catalog sync) send no new request meanwhile, so its requests do
    /// not queue behind theirs at the server (on a busy link or a small
    /// machine the listing's dozens of GETs in flight cost a look-up
    /// hundreds of milliseconds). Requests already sent are not stopped.
    pub fn foreground(&self) -> ForegroundRead {
        // Its own reads would wait for it.
        debug_assert!(!self.background, "a foreground read on a background store");
        self.foreground.send_modify(|n| *n += 1);
        ForegroundRead(self.foreground.clone())
    }

    /// The same store, whose GETs and listings each wait until no
    /// foreground read (`foreground`) is under way before being sent.
    pub fn in_background(&self) -> Store {
        Store {
            background: true,
            ..self.clone()
        }
    }

    /// Whether this is a background clone (`in_background`).
    pub fn is_background(&self) -> bool {
        self.background
    }

    /// Before a request: a background store waits out foreground reads.
    async fn yield_to_foreground(&self) {
        if self.background {
            let mut idle = self.foreground.subscribe();
            // The sender lives as long as `self`, so this cannot fail.
            let _ = idle.wait_for(|n| *n == 0).await;
        }
    }

    /// The same store (bucket, caches, memory budget) on a client that
    /// makes up to `max_attempts` attempts per request (standard retries:
    /// the catalog sync's many GETs, whose rate its adaptive concurrency
    /// limit governs rather than the SDK's adaptive mode, which slows the
    /// whole client to a crawl under a steady trickle of 503s).
    pub(crate) fn with_attempts(&self, max_attempts: u32) -> Store {
        let config = self
            .client
            .config()
            .to_builder()
            .retry_config(RetryConfig::standard().with_max_attempts(max_attempts))
            .build();
        Store {
            client: Client::from_conf(config),
            ..self.clone()
        }
    }

    /// The same store on a client that tells `limit` of every attempt the
    /// store pushed back (503 SlowDown or another 5xx, a timeout, a broken
    /// connection), also those the SDK retries away: what an adaptive
    /// concurrency limit backs off on.
    pub(crate) fn with_overload_signals(&self, limit: &AdaptiveLimit) -> Store {
        let config = self
            .client
            .config()
            .to_builder()
            .interceptor(OverloadSignals(limit.clone()))
            .build();
        Store {
            client: Client::from_conf(config),
            ..self.clone()
        }
    }
}

/// Reports push-backs to an adaptive limit (see `with_overload_signals`).
#[derive(Debug)]
struct OverloadSignals(AdaptiveLimit);

impl Intercept for OverloadSignals {
    fn name(&self) -> &'static str {
        "OverloadSignals"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let pushed_back = match context.response() {
            Some(response) => matches!(response.status().as_u16(), 500 | 502 | 503 | 504),
            // No response at all: a timeout or a broken connection.
            None => context.output_or_error().is_some_and(|r| r.is_err()),
        };
        if pushed_back {
            self.0.overloaded();
        }
        Ok(())
    }
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

    /// The core's sources outside `store.rs` and `store/`, as (path, text).
    fn sources_outside_the_store() -> Vec<(String, String)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).expect("src dir") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("source file");
                    out.push((path.display().to_string(), text));
                }
            }
        }
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        walk(&src, &mut all);
        assert!(all.len() > 20, "the walk found the sources");
        all.into_iter()
            .filter(|(path, _)| {
                let rel = std::path::Path::new(path).strip_prefix(&src).expect("under src");
                rel != std::path::Path::new("store.rs") && !rel.starts_with("store")
            })
            .collect()
    }

    /// Every S3 request of the core is a `Store` method: no other module
    /// names the SDK (so none can build a client of its own, nor a GET
    /// that skips `decode_response`).
    #[test]
    fn only_the_store_talks_to_s3() {
        let outside = sources_outside_the_store();
        assert!(outside.iter().any(|(p, _)| p.ends_with("catalog/sync.rs")));
        for (path, text) in outside {
            for sdk in ["aws_sdk_s3", "aws_config"] {
                assert!(!text.contains(sdk), "{path} uses {sdk}: S3 requests belong in store/");
            }
        }
    }
}
