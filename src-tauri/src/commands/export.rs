//! Exports: one conversation, a whole user, a user for the customer.

use tauri::ipc::Channel;
use tokio::sync::watch;

use archive_desk_core::customer_export::CustomerExportReport;
use archive_desk_core::export_user::{ExportFormat, ExportProgress, ExportUserOptions, ExportUserReport};
use archive_desk_core::session::ExportReport;
use archive_desk_core::Encoding;

use crate::files::FilePurpose;
use crate::ipc::{report, CmdResult};
use crate::state::AppState;
use crate::tasks::with_progress;

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
