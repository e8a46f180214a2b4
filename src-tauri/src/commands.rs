//! The IPC commands, one function each, in the order of the table in
//! `command_list.rs` (which declares their arguments and results; the
//! `#[tauri::command]` functions generated from it in `contract.rs` call
//! these). Dispatch only: each turns its arguments into core types, calls
//! the core and returns its result or `{code, message}`. State and tasks
//! live in `state.rs` and `tasks.rs`. No secret is ever returned: secrets
//! go in (to the keychain), never out.

use futures::TryStreamExt;
use tauri::ipc::Channel;
use tokio::sync::watch;

use archive_desk_core::audit::{AuditExportFormat, AuditExportReport};
use archive_desk_core::browse::{self, UserBatch, UserConversations, UserSummary};
use archive_desk_core::catalog::{self, CatalogStats};
use archive_desk_core::connection::{self, Check};
use archive_desk_core::customer_export::CustomerExportReport;
use archive_desk_core::erase::{EraseProgress, ReceiptVerification};
use archive_desk_core::export_user::{ExportFormat, ExportProgress, ExportUserOptions, ExportUserReport};
use archive_desk_core::integrity::{RepairReport, Verification};
use archive_desk_core::message_search::{self, MessageSearchOptions, MessageSearchReport, MessageSearchUpdate};
use archive_desk_core::profile::{ImportReport, Profile, ProfileView, SaveReport};
use archive_desk_core::restore::{LiveStatus, RestoreOptions, RestorePreview, RestoreReport, Target};
use archive_desk_core::session::{BulkProgress, BulkRestoreReport, ExportReport, Selection};
use archive_desk_core::{
    AuditFilter, AuditRead, AuditVerification, Audited, ColdStatus, ConversationId, DeleteReport, Encoding,
    ErasureReport, Error, SearchLimit, SearchOffset, SearchPage, SearchText, SecretInput, SecretKind, Session,
    SyncOptions, SyncProgress, SyncReport, ThawDays, ThawTier, UserFolder,
};

use crate::diagnostics::{self, Diagnostics};
use crate::files::{self, ChosenFile, FilePurpose};
use crate::ipc::{
    report, AuditQuery, CmdResult, ConversationView, MessageView, OpenedProfile, UsersListed, FIRST_MESSAGES,
};
use crate::state::{AppState, EarlyUsers};
use crate::tasks::{blocking, with_progress};

pub async fn list_profiles(state: &AppState) -> CmdResult<Vec<ProfileView>> {
    let file = state.profiles.load().map_err(report)?;
    file.profiles
        .keys()
        .map(|name| state.profiles.view(name).map_err(report))
        .collect()
}

/// The profiles' names alone: the profiles file, no keychain read (what
/// `list_profiles` does for each secret of each profile, slow enough on a
/// busy desktop to hold up the window's launch, which only needs a name).
pub async fn profile_names(state: &AppState) -> CmdResult<Vec<String>> {
    let file = state.profiles.load().map_err(report)?;
    Ok(file.profiles.into_keys().collect())
}

/// Save a profile's settings; the report says whether its Supabase key was
/// deleted because the URL changed.
pub async fn save_profile(state: &AppState, name: String, profile: Profile) -> CmdResult<SaveReport> {
    state.profiles.put(&name, profile).map_err(report)
}

/// Store a secret typed into the UI; it is never read back into the page.
pub async fn set_secret(state: &AppState, name: String, kind: SecretKind, value: SecretInput) -> CmdResult<()> {
    state.profiles.set_secret(&name, kind, value.secret()).map_err(report)
}

pub async fn import_env(state: &AppState, name: String, file: String, replace: bool) -> CmdResult<ImportReport> {
    let path = state.files.take(&file, FilePurpose::ImportEnv).map_err(report)?;
    state.profiles.import_env(&name, &path, replace).map_err(report)
}

/// Open the native save (or open) dialog; the page gets a token for the
/// chosen file, or `None` when the person cancelled.
pub async fn choose_file(
    state: &AppState,
    purpose: FilePurpose,
    suggested_name: String,
) -> CmdResult<Option<ChosenFile>> {
    files::check_suggested_name(&suggested_name).map_err(report)?;
    Ok(files::choose(&state.app, purpose, &suggested_name)
        .await
        .map(|path| state.files.issue(purpose, path)))
}

pub async fn remove_profile(state: &AppState, name: String) -> CmdResult<()> {
    state.remove_profile(&name).await
}

pub async fn test_profile(state: &AppState, name: String) -> CmdResult<Vec<Check>> {
    connection::test_profile(&state.profiles, &name).await.map_err(report)
}

pub async fn open_profile(state: &AppState, name: String) -> CmdResult<OpenedProfile> {
    let profile = state.profiles.get(&name).map_err(report)?;
    // Opened at launch already when it is the only profile (`open_early`).
    let opening = async { state.profiles.open(&name, state.audit.clone()).await.map_err(report) };
    state.open_profile_named(&name, opening).await?;
    let can_restore = profile.has_restore_target();
    Ok(OpenedProfile {
        name,
        bucket: profile.bucket,
        endpoint: profile.endpoint,
        read_only: profile.read_only,
        can_restore,
    })
}

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
    let (from_catalog, mut early_batches) = match state.take_early_users().await {
        Some(EarlyUsers::Catalog(at, users)) => (Some((at, users)), None),
        Some(EarlyUsers::Streamed(batches)) => (None, Some(batches)),
        None => (catalog_users(state).await, None),
    };
    if let Some(batches) = early_batches.as_mut() {
        let mut total = 0;
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
            total += batch.users.len();
            if on_batch.send(batch).is_err() {
                break;
            }
        }
        // Dropping the receiver ends the early listing if it was left early.
        return Ok(UsersListed {
            total,
            from_catalog: None,
        });
    }
    if let Some((synced_at, users)) = from_catalog {
        let total = users.len();
        // Batches keep each message (and the page's work per message) small.
        for chunk in catalog_batches(&users) {
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
        }
        return Ok(UsersListed {
            total,
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
    Ok(UsersListed {
        total,
        from_catalog: None,
    })
}

/// Users sent a message at a time when the list comes from the catalog.
const CATALOG_BATCH: usize = 1000;

/// The first such message: small, so the first rows show before the page
/// has parsed and laid out a thousand.
const FIRST_CATALOG_BATCH: usize = 100;

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

/// Restore one conversation into the profile's Supabase; cancellable as
/// `task` until its write is committed (nothing is left half-done).
pub async fn restore_conversation(
    state: &AppState,
    user: String,
    id: String,
    allow_missing_columns: bool,
    remove_from_archive: bool,
    task: String,
) -> CmdResult<Audited<RestoreReport>> {
    // Registered first, so a Cancel clicked while the target is prepared counts.
    let running = state.start_task(&task)?;
    let (session, target) = session_with_target(state).await?;
    let options = restore_options(allow_missing_columns);
    session
        .restore(&user, &id, &target, &options, remove_from_archive, &running.token)
        .await
        .map_err(report)
}

/// The open profile's session and its restore target (secrets from the keychain).
async fn session_with_target(state: &AppState) -> CmdResult<(Session, Target)> {
    let (name, session) = state.session().await?;
    let profile = state.profiles.get(&name).map_err(report)?;
    let target = state.profiles.restore_target(&name, &profile).map_err(report)?;
    Ok((session, target))
}

fn restore_options(allow_missing_columns: bool) -> RestoreOptions {
    // The rest is a test hook that exists only when the workspace's test
    // harness turns on the core's `test-hooks` feature.
    #[allow(clippy::needless_update)]
    RestoreOptions {
        allow_missing_columns,
        ..Default::default()
    }
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

/// What restoring one conversation would do (the dialog before a restore).
pub async fn preview_restore(
    state: &AppState,
    user: String,
    id: String,
    allow_missing_columns: bool,
) -> CmdResult<RestorePreview> {
    let (session, target) = session_with_target(state).await?;
    session
        .preview_restore(&user, &id, &target, allow_missing_columns)
        .await
        .map_err(report)
}

/// Restore several conversations of a user (or all, or a date range) as
/// one task, with progress; cancellable as `task` (what is not done is
/// left for the next run, which finishes it).
pub async fn restore_conversations(
    state: &AppState,
    user: String,
    selection: Selection,
    allow_missing_columns: bool,
    task: String,
    on_progress: Channel<BulkProgress>,
) -> CmdResult<BulkRestoreReport> {
    let running = state.start_task(&task)?;
    let (session, target) = session_with_target(state).await?;
    let options = restore_options(allow_missing_columns);
    let (tx, rx) = watch::channel(BulkProgress::default());
    let work = session.restore_many(&user, &selection, &target, &options, &running.token, &tx);
    with_progress(rx, &on_progress, work).await.map_err(report)
}

/// Export to a path the person chose in the native save dialog.
pub async fn export_conversation(
    state: &AppState,
    user: String,
    id: String,
    file: String,
    gzip: bool,
) -> CmdResult<ExportReport> {
    let path = state
        .files
        .take(&file, FilePurpose::ExportConversation)
        .map_err(report)?;
    let (_, session) = state.session().await?;
    let encoding = if gzip { Encoding::Gzip } else { Encoding::Plain };
    session.export(&user, &id, &path, encoding).await.map_err(report)
}

pub async fn delete_conversations(
    state: &AppState,
    user: String,
    ids: Vec<String>,
) -> CmdResult<Audited<DeleteReport>> {
    let (_, session) = state.session().await?;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    session.delete(&user, &refs).await.map_err(report)
}

pub async fn thaw_conversation(
    state: &AppState,
    user: String,
    id: String,
    days: ThawDays,
    tier: ThawTier,
) -> CmdResult<ColdStatus> {
    let (_, session) = state.session().await?;
    session.thaw(&user, &id, days, tier).await.map_err(report)
}

pub async fn cold_status(state: &AppState, user: String, id: String) -> CmdResult<ColdStatus> {
    let (_, session) = state.session().await?;
    session.cold_status(&user, &id).await.map_err(report)
}

pub async fn verify_user(state: &AppState, user: String) -> CmdResult<Verification> {
    let (_, session) = state.session().await?;
    session.verify(&user).await.map_err(report)
}

pub async fn repair_user(state: &AppState, user: String) -> CmdResult<Audited<RepairReport>> {
    let (_, session) = state.session().await?;
    session
        .repair(&user)
        .await
        .map(|done| done.map(|(_, r)| r))
        .map_err(report)
}

/// The audit view's filters as the core's.
fn audit_filter(query: AuditQuery) -> AuditFilter {
    AuditFilter {
        user: query.user.filter(|s| !s.is_empty()),
        action: query.action.map(|a| a.as_str().to_owned()),
        since: query.since.filter(|s| !s.is_empty()),
        until: query.until.filter(|s| !s.is_empty()),
    }
}

pub async fn read_audit(state: &AppState, query: AuditQuery) -> CmdResult<AuditRead> {
    let filter = audit_filter(query);
    let log = state.audit.clone();
    let mut read = blocking(move || log.read(&filter)).await?;
    read.records.reverse();
    read.records.truncate(1000);
    Ok(read)
}

/// Check the audit log's hash chain (the audit view's "Verify log").
pub async fn verify_audit(state: &AppState) -> CmdResult<AuditVerification> {
    let log = state.audit.clone();
    blocking(move || log.verify()).await
}

/// Cancel a running task (a catalog sync, a whole-user export). `false` when
/// it had already ended.
pub async fn cancel_task(state: &AppState, task: String) -> CmdResult<bool> {
    Ok(state.tasks.cancel(&task))
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

/// Export all of a user's conversations to a path chosen in the native save
/// dialog, with progress; cancellable as `task` (nothing is left behind).
pub async fn export_user(
    state: &AppState,
    user: String,
    file: String,
    format: ExportFormat,
    gzip: bool,
    task: String,
    on_progress: Channel<ExportProgress>,
) -> CmdResult<ExportUserReport> {
    let path = state.files.take(&file, FilePurpose::ExportUser).map_err(report)?;
    let running = state.start_task(&task)?;
    let (_, session) = state.session().await?;
    let options = ExportUserOptions {
        format,
        gzip,
        ..Default::default()
    };
    let (tx, rx) = watch::channel(ExportProgress::default());
    let work = session.export_user(&user, &path, &options, &tx, &running.token);
    with_progress(rx, &on_progress, work).await.map_err(report)
}

/// The whole-user export for the customer, into a new folder chosen in the
/// save dialog.
pub async fn export_user_for_customer(
    state: &AppState,
    user: String,
    folder: String,
    task: String,
    on_progress: Channel<ExportProgress>,
) -> CmdResult<CustomerExportReport> {
    let path = state
        .files
        .take(&folder, FilePurpose::ExportForCustomer)
        .map_err(report)?;
    let running = state.start_task(&task)?;
    let (_, session) = state.session().await?;
    let (tx, rx) = watch::channel(ExportProgress::default());
    let work = session.export_user_for_customer(
        &user,
        &path,
        ExportUserOptions::default().read_ahead,
        &tx,
        &running.token,
    );
    with_progress(rx, &on_progress, work).await.map_err(report)
}

/// Erase a user, saving the receipt where the save dialog said (the page
/// asked for the typed email first).
pub async fn erase_user(
    state: &AppState,
    user: String,
    receipt_file: String,
    task: String,
    on_progress: Channel<EraseProgress>,
) -> CmdResult<Audited<ErasureReport>> {
    let path = state
        .files
        .take(&receipt_file, FilePurpose::EraseReceipt)
        .map_err(report)?;
    let running = state.start_task(&task)?;
    let (_, session) = state.session().await?;
    let (tx, rx) = watch::channel(EraseProgress::default());
    let work = session.erase_user(&user, &path, &tx, &running.token);
    with_progress(rx, &on_progress, work).await.map_err(report)
}

/// Check a receipt chosen in the open dialog against the open profile's bucket.
pub async fn verify_receipt(state: &AppState, file: String) -> CmdResult<ReceiptVerification> {
    let path = state.files.take(&file, FilePurpose::OpenReceipt).map_err(report)?;
    let (_, session) = state.session().await?;
    session.verify_receipt(&path).await.map_err(report)
}

/// Export what the audit view's filters keep (every matching record,
/// oldest first) as CSV or JSON.
pub async fn export_audit(
    state: &AppState,
    query: AuditQuery,
    format: AuditExportFormat,
    file: String,
) -> CmdResult<AuditExportReport> {
    let path = state.files.take(&file, FilePurpose::ExportAudit).map_err(report)?;
    let filter = audit_filter(query);
    let log = state.audit.clone();
    blocking(move || log.export(&filter, format, &path)).await
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

/// Help → Copy diagnostics: version, OS, the credential store, the log's
/// directory and the recent errors (codes only).
pub async fn diagnostics(state: &AppState) -> CmdResult<Diagnostics> {
    Ok(Diagnostics::new(
        state.profiles.keychain().store().clone(),
        diagnostics::log_dir(&state.app),
        &state.errors,
    ))
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
