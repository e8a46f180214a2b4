//! What a support person browses: users with their true email and counts
//! (streamed in batches, `user_batches`), and one user's conversations —
//! the index joined with the folder listing, so drift (entries without
//! objects, objects without entries) is visible.

use std::collections::HashMap;

use futures::stream::{self, Stream, StreamExt};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::adaptive::{self, AdaptiveLimit};
use crate::error::{Error, ErrorReport, Result};
use crate::layout::{ObjectKind, UserFolder};
use crate::model::UserIndex;
use crate::store::{look_up_holds, HoldSource, IndexRead, Store, UserPage};

/// Where a shown email comes from.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailSource {
    /// `metadata.json`'s `user_email`: the true email.
    Index,
    /// Reconstructed from the folder name (lossy).
    Guessed,
    Unknown,
}

fn email_of(folder: &UserFolder, index: Option<&UserIndex>) -> (Option<String>, EmailSource) {
    if let Some(email) = index.and_then(UserIndex::user_email) {
        return (Some(email.to_owned()), EmailSource::Index);
    }
    match folder.guessed_email() {
        Some(e) => (Some(e), EmailSource::Guessed),
        None => (None, EmailSource::Unknown),
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct UserSummary {
    pub folder: String,
    pub email: Option<String>,
    pub email_source: EmailSource,
    pub conversation_count: usize,
    pub last_archived_at: Option<String>,
    pub index_missing: bool,
    /// Set when `metadata.json` could not be read; the other fields then
    /// come from the folder name alone.
    pub index_error: Option<ErrorReport>,
}

/// One user's summary from their index (one GET; no per-object requests).
pub async fn user_summary(store: &Store, folder: &UserFolder) -> UserSummary {
    let read = store.read_index(folder).await;
    let index = read.as_ref().ok().map(|r| &r.index);
    let (email, email_source) = email_of(folder, index);
    UserSummary {
        folder: folder.to_string(),
        email,
        email_source,
        conversation_count: index.map_or(0, |i| i.entries().len()),
        last_archived_at: index
            .and_then(|i| i.entries().filter_map(|e| e.archived_at()).max())
            .map(str::to_owned),
        index_missing: read.as_ref().is_ok_and(|r| r.missing),
        index_error: read.as_ref().err().map(ErrorReport::from),
    }
}

/// The most users summarised at once by the listing (each is one GET of
/// its index): the ceiling of its adaptive limit.
pub const SUMMARY_CONCURRENCY: usize = 64;

/// Users per batch of the listing: the first rows show while later ones load.
pub const USER_BATCH: usize = 50;

/// Users in the listing's very first batch: as many indexes as the adaptive
/// limit reads in its first round (`adaptive::INITIAL_LIMIT`), so the first
/// rows show after one round trip rather than after `USER_BATCH` reads.
pub const FIRST_USER_BATCH: usize = crate::adaptive::INITIAL_LIMIT;

/// One streamed batch of the users list.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct UserBatch {
    pub users: Vec<UserSummary>,
    /// Folder names that are not safe to open.
    pub unusable: Vec<String>,
}

/// Every user of the archive with their summary, in listing order, as a
/// stream of batches: per listing page, first its unusable folder names
/// (if any) as a batch of their own, then its users in batches of
/// `USER_BATCH` (the stream's first users batch: `FIRST_USER_BATCH`), up to `concurrency` indexes read at once (an adaptive
/// limit, `adaptive.rs`, shared by every page: more while throughput
/// rises, fewer when the store pushes back). A user whose index
/// cannot be read is still listed (`UserSummary::index_error`); a listing
/// error ends the stream with that error, and `cancel` ends it with
/// `Error::Cancelled` at the next step. It sends no request while a
/// foreground read of the store runs (`Store::foreground`: an exact
/// look-up). Both front ends list users here.
pub fn user_batches(
    store: &Store,
    concurrency: usize,
    cancel: &CancellationToken,
) -> impl Stream<Item = Result<UserBatch>> + Send + 'static {
    user_batches_paged(store, 1000, concurrency, cancel)
}

/// As `user_batches`, listing at most `page_size` users a page.
pub fn user_batches_paged(
    store: &Store,
    page_size: i32,
    concurrency: usize,
    cancel: &CancellationToken,
) -> impl Stream<Item = Result<UserBatch>> + Send + 'static {
    let limit = AdaptiveLimit::new(concurrency);
    // A look-up the person waits on goes first (`Store::foreground`).
    let store = store.in_background();
    let pages = store.list_users_paged(page_size);
    let store = store.with_overload_signals(&limit);
    let batches = pages
        .enumerate()
        .map(move |(i, page)| match page {
            Ok(page) => page_batches(store.clone(), page, limit.clone(), i == 0)
                .map(Ok)
                .left_stream(),
            Err(e) => stream::iter([Err(e)]).right_stream(),
        })
        .flatten();
    until_failed_or_cancelled(batches, cancel.clone())
}

/// One listing page as batches: its unusable names, then its users (the
/// first batch of the `first` page holding `FIRST_USER_BATCH` of them).
fn page_batches(
    store: Store,
    page: UserPage,
    limit: AdaptiveLimit,
    first: bool,
) -> impl Stream<Item = UserBatch> + Send {
    let unusable = (!page.unusable.is_empty()).then(|| UserBatch {
        users: Vec::new(),
        unusable: page.unusable,
    });
    let summaries = stream::iter(page.users).map({
        let limit = limit.clone();
        move |folder| {
            let (store, limit) = (store.clone(), limit.clone());
            async move {
                let summary = user_summary(&store, &folder).await;
                limit.completed();
                summary
            }
        }
    });
    let summaries = Box::pin(adaptive::buffered(summaries, limit));
    let first_size = if first { FIRST_USER_BATCH } else { USER_BATCH };
    let users = stream::unfold((summaries, first_size), |(mut summaries, size)| async move {
        let mut users = Vec::with_capacity(size);
        while users.len() < size {
            match summaries.next().await {
                Some(user) => users.push(user),
                None => break,
            }
        }
        (!users.is_empty()).then(|| {
            let batch = UserBatch {
                users,
                unusable: Vec::new(),
            };
            (batch, (summaries, USER_BATCH))
        })
    });
    stream::iter(unusable).chain(users)
}

/// `batches` until its first error (the last item) or until `cancel`
/// fires, which ends it with `Error::Cancelled` however far the listing got.
fn until_failed_or_cancelled<S>(
    batches: S,
    cancel: CancellationToken,
) -> impl Stream<Item = Result<UserBatch>> + Send + 'static
where
    S: Stream<Item = Result<UserBatch>> + Send + 'static,
{
    stream::unfold(Some((Box::pin(batches), cancel)), |state| async move {
        let (mut batches, cancel) = state?;
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Some((
                Err(Error::Cancelled {
                    what: "users listing".into(),
                }),
                None,
            )),
            next = batches.next() => match next {
                Some(Ok(batch)) => Some((Ok(batch), Some((batches, cancel)))),
                Some(Err(e)) => Some((Err(e), None)),
                None => None,
            },
        }
    })
}

/// One conversation of a user: its index entry and/or its object.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct ConversationRow {
    pub conversation_id: String,
    pub title: Option<String>,
    pub created_at: Option<String>,
    pub archived_at: Option<String>,
    pub message_count: Option<u64>,
    pub key: Option<String>,
    pub size: Option<u64>,
    pub storage_class: Option<String>,
    pub last_modified: Option<String>,
    /// Listed in `metadata.json`.
    pub in_index: bool,
    /// An object exists for it.
    pub in_store: bool,
    /// The S3 Object Lock hold on its current object (legal hold, or
    /// retention with mode and date), which makes delete refuse it. Only
    /// looked up on buckets with Object Lock enabled (or whose lock state
    /// cannot be read).
    pub held: Option<String>,
    /// Whether its object is held could not be told: its HEAD failed
    /// (e.g. denied), or the bucket's lock state could not be read and the
    /// HEAD shows no hold (which may be hidden). Delete checks every
    /// version itself and refuses when it cannot tell.
    pub hold_unknown: bool,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct UserConversations {
    pub folder: String,
    pub email: Option<String>,
    pub email_source: EmailSource,
    pub index_missing: bool,
    pub index_error: Option<ErrorReport>,
    /// Index order first, then objects the index does not list.
    pub conversations: Vec<ConversationRow>,
    /// Keys in the folder that are neither the index nor a conversation.
    pub other_objects: Vec<String>,
}

/// The index and the folder listing, fetched concurrently and joined.
/// A corrupt index is reported in `index_error`; the objects still show.
pub async fn user_conversations(store: &Store, folder: &UserFolder) -> Result<UserConversations> {
    // The lock state (cached after the first user) alongside, not after.
    let (read, objects, locked) = tokio::join!(
        store.read_index(folder),
        store.list_objects(folder),
        store.object_lock_enabled()
    );
    let objects = objects?;

    let mut by_id = HashMap::new();
    let mut other_objects = Vec::new();
    for o in objects {
        match store.classify(folder, &o.key) {
            ObjectKind::Conversation { id, .. } => {
                by_id.entry(id.as_str().to_owned()).or_insert(o);
            }
            ObjectKind::Index => {}
            ObjectKind::Other => other_objects.push(o.key),
        }
    }

    let mut rows = Vec::new();
    let index = read.as_ref().ok().map(|r: &IndexRead| &r.index);
    if let Some(index) = index {
        for e in index.entries() {
            let id = e.conversation_id();
            let object = by_id.remove(&id);
            rows.push(ConversationRow {
                title: e.title().map(str::to_owned),
                created_at: e.created_at().map(str::to_owned),
                archived_at: e.archived_at().map(str::to_owned),
                message_count: e.message_count(),
                in_index: true,
                in_store: object.is_some(),
                key: object.as_ref().map(|o| o.key.clone()),
                size: object.as_ref().map(|o| o.size),
                storage_class: object.as_ref().map(|o| o.storage_class.clone()),
                last_modified: object.and_then(|o| o.last_modified),
                conversation_id: id,
                held: None,
                hold_unknown: false,
            });
        }
    }
    let mut orphans: Vec<_> = by_id.into_iter().collect();
    orphans.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, o) in orphans {
        rows.push(ConversationRow {
            conversation_id: id,
            title: None,
            created_at: None,
            archived_at: None,
            message_count: None,
            key: Some(o.key),
            size: Some(o.size),
            storage_class: Some(o.storage_class),
            last_modified: o.last_modified,
            in_index: false,
            in_store: true,
            held: None,
            hold_unknown: false,
        });
    }
    // Where the lock state cannot be read, look as if it were on: the
    // rows then say what is held, or that it is unknown.
    if !matches!(locked, Ok(false)) {
        mark_holds(store, &mut rows, locked.is_err()).await;
    }

    let (email, email_source) = email_of(folder, index);
    Ok(UserConversations {
        folder: folder.to_string(),
        email,
        email_source,
        index_missing: read.as_ref().is_ok_and(|r| r.missing),
        index_error: read.as_ref().err().map(ErrorReport::from),
        conversations: rows,
        other_objects,
    })
}

/// The user `text` names exactly — a complete email or a folder name —
/// read from the bucket now, whatever the users listing or the catalog
/// know: their `metadata.json` (one GET) and their folder (one listing),
/// fetched together, as `user_conversations` does. So a user archived after
/// the last sync, or one whose index holds no conversation, is found.
/// `Error::NoSuchUser` (`not_found`) when the index does not exist and the
/// folder holds no object; `invalid_name` for text that cannot name a user.
pub async fn look_up_user(store: &Store, text: &str) -> Result<UserConversations> {
    // The users listing and a background sync wait while this runs.
    let _first = store.foreground();
    let text = text.trim();
    let folder = UserFolder::from_user_arg(text)?;
    let found = user_conversations(store, &folder).await?;
    if found.index_missing && found.conversations.is_empty() && found.other_objects.is_empty() {
        return Err(Error::NoSuchUser {
            user: text.to_owned(),
            key: store.layout().index_key(&folder),
        });
    }
    Ok(found)
}

impl UserConversations {
    /// The user's row in the users list, as `user_summary` gives it (the
    /// count and last archived of the index's entries).
    pub fn summary(&self) -> UserSummary {
        let indexed = self.conversations.iter().filter(|c| c.in_index);
        UserSummary {
            folder: self.folder.clone(),
            email: self.email.clone(),
            email_source: self.email_source,
            conversation_count: indexed.clone().count(),
            last_archived_at: indexed.filter_map(|c| c.archived_at.clone()).max(),
            index_missing: self.index_missing,
            index_error: self.index_error.clone(),
        }
    }
}

/// Fill `held` (or `hold_unknown`) from a HEAD of each listed object.
/// Called only where the bucket has Object Lock (or its lock state is
/// unknown): the lock state is in no listing, so this is one request per
/// object, which every other bucket is spared. Display only: delete reads
/// the lock state of every version itself before removing anything.
/// `lock_state_unknown`: a HEAD without lock fields proves nothing then.
async fn mark_holds(store: &Store, rows: &mut [ConversationRow], lock_state_unknown: bool) {
    let (at, keys): (Vec<usize>, Vec<(String, Option<String>)>) = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.key.clone().map(|k| (i, (k, None))))
        .unzip();
    let holds = look_up_holds(store, keys, HoldSource::Head).await;
    for (i, hold) in at.into_iter().zip(holds) {
        match hold {
            Ok(Some(h)) => rows[i].held = Some(h),
            Ok(None) => rows[i].hold_unknown = lock_state_unknown,
            Err(_) => rows[i].hold_unknown = true,
        }
    }
}
