//! GETs: every object the core reads is fetched here and ends in
//! `decode_response` (streamed under the object limit and the store's
//! memory budget, decoded at most once per CPU at a time).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};

use super::{s3_error, Fetched, IndexRead, OpenedConversation, Store};
use crate::codec::{self, Encoding};
use crate::error::{Error, Result};
use crate::layout::{ConversationId, UserFolder};
use crate::model::UserIndex;

/// Shared back-off: when the store says 503 SlowDown after the SDK's own
/// retries, every fetch sharing it pauses, longer each time it happens again.
#[derive(Default)]
pub(crate) struct Throttle {
    pause_until: Mutex<Option<Instant>>,
}

impl Throttle {
    async fn wait(&self) {
        let until = *self.pause_until.lock().expect("throttle");
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    fn slow_down(&self, attempt: u32) {
        let delay = Duration::from_millis(500 << attempt.min(5)) + Duration::from_millis(fastrand::u64(..250));
        let until = Instant::now() + delay;
        let mut pause = self.pause_until.lock().expect("throttle");
        if pause.is_none_or(|p| p < until) {
            *pause = Some(until);
        }
    }
}

/// GETs made under a `Throttle` before giving up on a throttled store.
const THROTTLED_ATTEMPTS: u32 = 6;

/// GETs of one object whose body breaks off (connection cut mid-body)
/// before giving up: the SDK retries failed requests, not a body that
/// stops short, and one cut body must not fail a whole export or sync.
const BODY_ATTEMPTS: u32 = 3;

/// How a body that broke off is reported (and recognised, to GET again).
const BROKEN_BODY: &str = "reading the body failed";

impl Store {
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

    /// Open a conversation by id: `<id>.json`, else `<id>.json.gz` — the
    /// gzip first when this store last saw it stored so (its folder's
    /// listing, or an earlier open): one GET instead of a 404 and a second.
    pub async fn get_conversation(&self, folder: &UserFolder, id: &ConversationId) -> Result<OpenedConversation> {
        let plain = self.layout.conversation_key(folder, id, false);
        let gz = self.layout.conversation_key(folder, id, true);
        let gzip_first = self.stored_names.is_gzip_only(folder, id);
        let (first, second) = if gzip_first { (&gz, &plain) } else { (&plain, &gz) };
        let opened = match self.open_key(first, id).await {
            Err(Error::NotFound { .. }) => self.open_key(second, id).await.map_err(|e| match e {
                Error::NotFound { .. } => Error::NotFound {
                    key: format!("{plain} (or .json.gz)"),
                },
                e => e,
            }),
            other => other,
        }?;
        self.stored_names.opened(folder, id, opened.key == gz);
        Ok(opened)
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

    /// GET `key` and decode it, within the memory budget; GET again (up
    /// to `BODY_ATTEMPTS` in all) when the body breaks off.
    async fn fetch<T>(&self, key: &str, decode: impl Fn(Vec<u8>) -> Result<T>) -> Result<Fetched<T>> {
        let mut attempt = 1;
        loop {
            self.yield_to_foreground().await;
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| get_error(key, e))?;
            match self.decode_response(key, out, &decode).await {
                Err(Error::S3 { message, .. }) if message.starts_with(BROKEN_BODY) && attempt < BODY_ATTEMPTS => {
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    /// Read a GET response's body as a stream, never past the object limit
    /// nor past the length it declared (a body without a length reserves
    /// the whole limit), then decode it. Every GET of the core ends here
    /// (`fetch` and `read_index_throttled`; the one other `get_object`, the
    /// erasure receipt's `digest.rs`, hashes a body without holding it).
    async fn decode_response<T>(
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
            message: format!("{BROKEN_BODY}: {e}"),
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

    /// GET and decode the `metadata.json` at `key`, with its ETag, pausing
    /// with every other fetch of `throttle` while the store answers 503
    /// SlowDown (up to 6 attempts), and again when the body breaks off (as
    /// `fetch`). Missing: `Error::NotFound`.
    pub(crate) async fn read_index_throttled(
        &self,
        key: &str,
        throttle: &Throttle,
    ) -> Result<(UserIndex, Option<String>)> {
        let mut attempt = 1;
        loop {
            match self.read_index_throttled_once(key, throttle).await {
                Err(Error::S3 { message, .. }) if message.starts_with(BROKEN_BODY) && attempt < BODY_ATTEMPTS => {
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    async fn read_index_throttled_once(&self, key: &str, throttle: &Throttle) -> Result<(UserIndex, Option<String>)> {
        let mut attempt = 0;
        let out = loop {
            throttle.wait().await;
            self.yield_to_foreground().await;
            match self.client.get_object().bucket(&self.bucket).key(key).send().await {
                Ok(out) => break out,
                Err(e) => {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    let code = e.as_service_error().and_then(|s| s.code()).unwrap_or_default();
                    let throttled = status == Some(503) || matches!(code, "SlowDown" | "ServiceUnavailable");
                    attempt += 1;
                    if throttled && attempt < THROTTLED_ATTEMPTS {
                        throttle.slow_down(attempt);
                        continue;
                    }
                    return Err(s3_error("GetObject", key, e));
                }
            }
        };
        // The same streamed, size-capped and budgeted read as every other GET.
        let fetched = self
            .decode_response(key, out, |bytes| codec::decode_index(key, bytes, &self.limits))
            .await?;
        Ok((fetched.value.0, fetched.etag))
    }
}

pub(super) fn get_error(key: &str, err: SdkError<GetObjectError>) -> Error {
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
