//! What changes the bucket or the restore target: restore (one, a
//! preview, several), delete, thaw, repair and erase.

use tauri::ipc::Channel;
use tokio::sync::watch;

use archive_desk_core::erase::EraseProgress;
use archive_desk_core::integrity::RepairReport;
use archive_desk_core::restore::{RestoreOptions, RestorePreview, RestoreReport, Target};
use archive_desk_core::session::{BulkProgress, BulkRestoreReport, Selection};
use archive_desk_core::{Audited, ColdStatus, DeleteReport, ErasureReport, Session, ThawDays, ThawTier};

use crate::files::FilePurpose;
use crate::ipc::{report, CmdResult};
use crate::state::AppState;
use crate::tasks::with_progress;

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
pub(super) async fn session_with_target(state: &AppState) -> CmdResult<(Session, Target)> {
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

pub async fn repair_user(state: &AppState, user: String) -> CmdResult<Audited<RepairReport>> {
    let (_, session) = state.session().await?;
    session
        .repair(&user)
        .await
        .map(|done| done.map(|(_, r)| r))
        .map_err(report)
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
