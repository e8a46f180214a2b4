//! Reading: the users list (from a synced catalog at once, else streamed
//! from the bucket), exact look-ups, a user's conversations, an opened
//! conversation (its first messages, then the rest), live and cold status,
//! Verify, and the catalog (status, sync, search) and message search.

use futures::TryStreamExt;
use tauri::ipc::Channel;
use tokio::sync::watch;

use archive_desk_core::browse::{self, UserBatch, UserConversations, UserSummary};
use archive_desk_core::catalog::{self, CatalogStats};
use archive_desk_core::integrity::Verification;
use archive_desk_core::message_search::{self, MessageSearchOptions, MessageSearchReport, MessageSearchUpdate};
use archive_desk_core::restore::LiveStatus;
use archive_desk_core::{
    ColdStatus, ConversationId, Error, SearchLimit, SearchOffset, SearchPage, SearchText, SyncOptions, SyncProgress,
    SyncReport, UserFolder,
};

use super::changes::session_with_target;
use crate::ipc::{report, CmdResult, ConversationView, MessageView, UsersListed, FIRST_MESSAGES};
use crate::state::{AppState, EarlyUsers};
use crate::tasks::{blocking, with_progress};

/// Stream the users, a batch at a time. Once the profile's catalog has
/// been synced they come from it at once (`Catalog::user_summaries`, no
/// request; the window refreshes the catalog in the background and lists
/// again); without one, from the bucket, so the first rows show while later
/// pages load (`browse::user_batches`: an adaptive number of indexes read
/// at once, a first batch of 8, then batches of 50). Cancellable as `task` (the window cancels it when another profile
/// opens, so a huge bucket is not listed on for nothing).
pub async fn list_users(state: &AppState, task: String, on_batch: Channel<UserBatch>) -> CmdResult<UsersListed> {
    let running = state.start_task(&task)?;
    // The first listing of the profile opened at launch began then.
    // Its first users may have gone with the profile (`given`).
    let (from_catalog, mut early_batches) = match state.take_early_users().await {
        Some(EarlyUsers::Catalog {
            synced_at,
            users,
            given,
        }) => (Some((synced_at, users, given)), None),
        Some(EarlyUsers::Streamed { failed: Some(e), .. }) => return Err(report(e)),
        Some(EarlyUsers::Streamed { batches, given, .. }) => (None, Some((batches, given))),
        None => (catalog_users(state).await.map(|(at, users)| (at, users, 0)), None),
    };
    if let Some((batches, given)) = early_batches.as_mut() {
        let (mut total, mut sent) = (*given, 0);
        loop {
            let batch = tokio::select! {
                _ = running.token.cancelled() => return Err(report(Error::Cancelled {
                    what: "users listing".into(),
                })),
                batch = batches.recv() => batch,
            };
            let Some(batch) = batch.transpose().map_err(report)? else {
                break;
            };
            let n = batch.users.len();
            total += n;
            if on_batch.send(batch).is_err() {
                break;
            }
            sent += n;
        }
        // Dropping the receiver ends the early listing if it was left early.
        return Ok(UsersListed {
            total,
            sent,
            from_catalog: None,
        });
    }
    if let Some((synced_at, users, given)) = from_catalog {
        let (total, mut sent) = (users.len(), 0);
        // Batches keep each message (and the page's work per message) small.
        for chunk in catalog_batches(&users[given..]) {
            if running.token.is_cancelled() {
                return Err(report(Error::Cancelled {
                    what: "users listing".into(),
                }));
            }
            let batch = UserBatch {
                users: chunk.to_vec(),
                unusable: Vec::new(),
            };
            if on_batch.send(batch).is_err() {
                break;
            }
            sent += chunk.len();
        }
        return Ok(UsersListed {
            total,
            sent,
            from_catalog: Some(synced_at),
        });
    }
    let (_, session) = state.session().await?;
    let mut batches = std::pin::pin!(browse::user_batches(
        session.store(),
        browse::SUMMARY_CONCURRENCY,
        &running.token
    ));
    let mut total = 0;
    while let Some(batch) = batches.try_next().await.map_err(report)? {
        total += batch.users.len();
        if on_batch.send(batch).is_err() {
            // The window went away or moved on: stop listing.
            break;
        }
    }
    // Every user listed here went through the channel.
    Ok(UsersListed {
        total,
        sent: total,
        from_catalog: None,
    })
}

/// Users sent a message at a time when the list comes from the catalog.
const CATALOG_BATCH: usize = 1000;

/// The first such message: small, so the first rows show before the page
/// has parsed and laid out a thousand.
pub const FIRST_CATALOG_BATCH: usize = 100;

/// `users` as the messages of a listing from the catalog.
fn catalog_batches(users: &[UserSummary]) -> impl Iterator<Item = &[UserSummary]> {
    let (first, rest) = users.split_at(users.len().min(FIRST_CATALOG_BATCH));
    (!first.is_empty())
        .then_some(first)
        .into_iter()
        .chain(rest.chunks(CATALOG_BATCH))
}

/// The users of a synced catalog and when it was synced; `None` without
/// one (never synced, or it cannot be opened: the bucket answers instead).
async fn catalog_users(state: &AppState) -> Option<(String, Vec<UserSummary>)> {
    let (session, catalog) = state.catalog().await.ok()?;
    let (bucket, prefix) = (
        session.store().bucket().to_owned(),
        session.store().layout().prefix().to_owned(),
    );
    blocking(move || catalog.synced_user_summaries(&bucket, &prefix))
        .await
        .ok()
        .flatten()
}

/// The user a complete email or folder name names, read from the bucket
/// now whatever the list or the catalog know (`browse::look_up_user`);
/// `not_found` when there is no such user.
pub async fn look_up_user(state: &AppState, text: SearchText) -> CmdResult<UserConversations> {
    let (_, session) = state.session().await?;
    browse::look_up_user(session.store(), text.as_str())
        .await
        .map_err(report)
}

pub async fn user_conversations(state: &AppState, user: String) -> CmdResult<UserConversations> {
    let (_, session) = state.session().await?;
    let folder = UserFolder::from_user_arg(&user).map_err(report)?;
    // The users listing and a background sync wait meanwhile.
    let _first = session.store().foreground();
    browse::user_conversations(session.store(), &folder)
        .await
        .map_err(report)
}

pub async fn open_conversation(state: &AppState, user: String, id: String) -> CmdResult<ConversationView> {
    let (_, session) = state.session().await?;
    let folder = UserFolder::from_user_arg(&user).map_err(report)?;
    let id = ConversationId::parse(&id).map_err(report)?;
    let _first = session.store().foreground();
    let opened = session.store().get_conversation(&folder, &id).await.map_err(report)?;
    let (view, rest) = ConversationView::from(&opened).split_at(FIRST_MESSAGES);
    state.rest.keep(folder.as_str(), id.as_str(), FIRST_MESSAGES, rest);
    Ok(view)
}

/// The messages of a conversation from `from` on: those `open_conversation`
/// left out, kept since; read again if another conversation was opened
/// meanwhile.
pub async fn conversation_messages(
    state: &AppState,
    user: String,
    id: String,
    from: usize,
) -> CmdResult<Vec<MessageView>> {
    let folder = UserFolder::from_user_arg(&user).map_err(report)?;
    let id = ConversationId::parse(&id).map_err(report)?;
    if let Some(kept) = state.rest.take(folder.as_str(), id.as_str(), from) {
        return Ok(kept);
    }
    let (_, session) = state.session().await?;
    let _first = session.store().foreground();
    let opened = session.store().get_conversation(&folder, &id).await.map_err(report)?;
    Ok(ConversationView::from(&opened).split_at(from).1)
}

/// The stored document of a conversation, pretty-printed (the raw JSON tab
/// asks for it when opened, not with every `open_conversation`).
pub async fn conversation_json(state: &AppState, user: String, id: String) -> CmdResult<String> {
    let (_, session) = state.session().await?;
    let folder = UserFolder::from_user_arg(&user).map_err(report)?;
    let id = ConversationId::parse(&id).map_err(report)?;
    let opened = session.store().get_conversation(&folder, &id).await.map_err(report)?;
    Ok(crate::ipc::raw_json(&opened))
}

/// Whether each of the user's conversations is in the profile's Supabase
/// now (read in batches); `None` when the profile has no restore target.
pub async fn live_status(state: &AppState, user: String) -> CmdResult<Option<Vec<LiveStatus>>> {
    let (name, _) = state.session().await?;
    if !state.profiles.get(&name).map_err(report)?.has_restore_target() {
        return Ok(None);
    }
    let (session, target) = session_with_target(state).await?;
    session.live_status(&user, &target).await.map(Some).map_err(report)
}

pub async fn cold_status(state: &AppState, user: String, id: String) -> CmdResult<ColdStatus> {
    let (_, session) = state.session().await?;
    session.cold_status(&user, &id).await.map_err(report)
}

pub async fn verify_user(state: &AppState, user: String) -> CmdResult<Verification> {
    let (_, session) = state.session().await?;
    session.verify(&user).await.map_err(report)
}

/// How big the catalog is and when it was last synced.
pub async fn catalog_status(state: &AppState) -> CmdResult<CatalogStats> {
    let (_, catalog) = state.catalog().await?;
    blocking(move || catalog.stats()).await
}

/// Bring the catalog up to date with the bucket (cold, warm or resumed),
/// with progress; cancellable as `task`, and resumable after a cancel.
pub async fn sync_catalog(state: &AppState, task: String, on_progress: Channel<SyncProgress>) -> CmdResult<SyncReport> {
    // Registered first, so a Cancel clicked while the catalog opens counts.
    let running = state.start_task(&task)?;
    let (session, catalog) = state.catalog().await?;
    let (tx, rx) = watch::channel(SyncProgress::default());
    let options = SyncOptions::default();
    // In the background: what the person opens meanwhile goes first.
    let store = session.store().in_background();
    let work = catalog::sync(&store, &catalog, &options, &tx, &running.token);
    with_progress(rx, &on_progress, work).await.map_err(report)
}

/// Search the catalog by email and title, ranked, a page at a time.
pub async fn search_catalog(
    state: &AppState,
    query: SearchText,
    offset: SearchOffset,
    limit: SearchLimit,
) -> CmdResult<SearchPage> {
    let (_, catalog) = state.catalog().await?;
    blocking(move || catalog.search(query.as_str(), offset.get(), limit.get())).await
}

/// Find text in every message of one user's conversations, each
/// conversation's matches streamed as it is searched; cancellable as `task`.
pub async fn search_user_messages(
    state: &AppState,
    user: String,
    query: SearchText,
    task: String,
    on_update: Channel<MessageSearchUpdate>,
) -> CmdResult<MessageSearchReport> {
    let running = state.start_task(&task)?;
    let (_, session) = state.session().await?;
    let folder = UserFolder::from_user_arg(&user).map_err(report)?;
    let options = MessageSearchOptions::default();
    let mut last_sent = std::time::Instant::now();
    let send = |update: MessageSearchUpdate| {
        // Matches always go out; a bare count at most every 100 ms (a level).
        if !update.matches.is_empty()
            || update.conversations_done == update.conversations_total
            || last_sent.elapsed() >= std::time::Duration::from_millis(100)
        {
            last_sent = std::time::Instant::now();
            // A closed channel (window gone) only loses updates; a cancel
            // comes through `cancel_task`.
            let _ = on_update.send(update);
        }
    };
    message_search::search_user_messages(session.store(), &folder, query.as_str(), &options, send, &running.token)
        .await
        .map_err(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_desk_core::browse::EmailSource;

    fn users(n: usize) -> Vec<UserSummary> {
        (0..n)
            .map(|i| UserSummary {
                folder: format!("u{i}"),
                email: None,
                email_source: EmailSource::Unknown,
                conversation_count: 0,
                last_archived_at: None,
                index_missing: false,
                index_error: None,
            })
            .collect()
    }

    #[test]
    fn a_listing_from_the_catalog_sends_a_small_first_batch_then_large_ones() {
        let sizes = |n| catalog_batches(&users(n)).map(<[_]>::len).collect::<Vec<_>>();
        assert_eq!(sizes(2150), [100, 1000, 1000, 50]);
        assert_eq!(sizes(1100), [100, 1000]);
        assert_eq!(sizes(40), [40]);
        assert!(sizes(0).is_empty());
        // Every user once, in order.
        let all = users(2150);
        let sent: Vec<&str> = catalog_batches(&all).flatten().map(|u| u.folder.as_str()).collect();
        assert_eq!(sent, all.iter().map(|u| u.folder.as_str()).collect::<Vec<_>>());
    }
}
