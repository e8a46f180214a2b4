//! The IPC commands: each validates its input, calls one core function and
//! returns its result or `{code, message}`. No domain logic lives here, and
//! no secret is ever returned: secrets go in (to the keychain), never out.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use tauri::ipc::{Channel, IpcResponse};
use tauri::State;
use tokio::sync::{watch, OnceCell, RwLock};

use archive_desk_core::browse::{self, UserBatch, UserConversations};
use archive_desk_core::catalog::{self, CatalogStats};
use archive_desk_core::connection::{self, Check};
use archive_desk_core::export_user::{ExportFormat, ExportProgress, ExportUserOptions, ExportUserReport};
use archive_desk_core::integrity::{RepairReport, Verification};
use archive_desk_core::profile::{ImportReport, Profile, ProfileView, RestoreMode, SaveReport};
use archive_desk_core::restore::{RestoreOptions, RestoreReport};
use archive_desk_core::session::ExportReport;
use archive_desk_core::{
    AuditFilter, AuditLog, AuditRead, AuditVerification, Audited, CancellationToken, Catalog, ColdStatus,
    ConversationId, DeleteReport, Encoding, Error, ErrorReport, Profiles, SearchLimit, SearchOffset, SearchPage,
    SearchText, SecretInput, SecretKind, Session, SyncOptions, SyncProgress, SyncReport, ThawDays, ThawTier,
    UserFolder,
};

use crate::files::{self, ChosenFile, ChosenFiles, FilePurpose};
use crate::ipc::{AuditQuery, ConversationView, OpenedProfile};

type CmdResult<T> = Result<T, ErrorReport>;

fn report(e: Error) -> ErrorReport {
    ErrorReport::from(&e)
}

/// The one state object: profiles, the audit log, the open profile and the
/// long tasks the UI may cancel.
pub struct AppState {
    profiles: Profiles,
    audit: AuditLog,
    open: RwLock<Option<OpenProfile>>,
    tasks: Mutex<HashMap<String, CancellationToken>>,
    /// Files chosen in native dialogs, by the token the page got.
    files: ChosenFiles,
}

/// The profile the window works on: its session, and its search catalog,
/// opened the first time it is needed (the same file the CLI uses).
#[derive(Clone)]
struct OpenProfile {
    name: String,
    session: Session,
    catalog: Arc<OnceCell<Catalog>>,
}

impl AppState {
    pub fn new() -> Result<Self, Error> {
        Ok(AppState {
            profiles: Profiles::default_location()?,
            audit: AuditLog::default_location()?,
            open: RwLock::new(None),
            tasks: Mutex::new(HashMap::new()),
            files: ChosenFiles::default(),
        })
    }

    async fn open_profile(&self) -> CmdResult<OpenProfile> {
        self.open.read().await.clone().ok_or_else(|| ErrorReport {
            code: "no_profile",
            message: "open a profile first".into(),
        })
    }

    async fn session(&self) -> CmdResult<(String, Session)> {
        self.open_profile().await.map(|o| (o.name, o.session))
    }

    async fn catalog(&self) -> CmdResult<(Session, Catalog)> {
        let open = self.open_profile().await?;
        let name = open.name.clone();
        let catalog = open
            .catalog
            .get_or_try_init(|| blocking(move || Catalog::open_default(&name)))
            .await?
            .clone();
        Ok((open.session, catalog))
    }

    /// Register a cancellable task under the id the UI chose for it.
    fn start_task(&self, id: &str) -> CmdResult<TaskGuard<'_>> {
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(report(Error::Config(
                "a task id is 1-64 letters, digits or dashes".into(),
            )));
        }
        let token = CancellationToken::new();
        let mut tasks = self.tasks.lock().expect("tasks lock");
        if tasks.contains_key(id) {
            return Err(report(Error::Config(format!("task {id} is already running"))));
        }
        tasks.insert(id.to_owned(), token.clone());
        Ok(TaskGuard {
            tasks: &self.tasks,
            id: id.to_owned(),
            token,
        })
    }
}

/// A running task; it leaves the task table when the command returns.
struct TaskGuard<'a> {
    tasks: &'a Mutex<HashMap<String, CancellationToken>>,
    id: String,
    token: CancellationToken,
}

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        self.tasks.lock().expect("tasks lock").remove(&self.id);
    }
}

/// Run blocking work (SQLite) off the async runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send + 'static) -> CmdResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| report(Error::Config(format!("background task failed: {e}"))))?
        .map_err(report)
}

/// Run `work` while sending its progress to the webview: the latest value
/// at most every 100 ms (progress is a level, not a log), and the last one
/// when the work ends.
async fn with_progress<P, T>(progress: watch::Receiver<P>, channel: &Channel<P>, work: impl Future<Output = T>) -> T
where
    P: IpcResponse + Clone + Send + Sync,
{
    let mut updates = progress.clone();
    let forward = async {
        while updates.changed().await.is_ok() {
            let latest = updates.borrow_and_update().clone();
            // A closed channel (window gone) only ends the updates; a
            // cancel comes through `cancel_task`.
            let _ = channel.send(latest);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::future::pending::<()>().await
    };
    let out = tokio::select! {
        out = work => out,
        _ = forward => unreachable!("forwarding never ends on its own"),
    };
    let _ = channel.send(progress.borrow().clone());
    out
}

#[tauri::command]
pub async fn list_profiles(state: State<'_, AppState>) -> CmdResult<Vec<ProfileView>> {
    let file = state.profiles.load().map_err(report)?;
    file.profiles
        .keys()
        .map(|name| state.profiles.view(name).map_err(report))
        .collect()
}

/// Save a profile's settings; the report says whether its Supabase key was
/// deleted because the URL changed.
#[tauri::command]
pub async fn save_profile(state: State<'_, AppState>, name: String, profile: Profile) -> CmdResult<SaveReport> {
    state.profiles.put(&name, profile).map_err(report)
}

/// Store a secret typed into the UI; it is never read back into the page.
#[tauri::command]
pub async fn set_secret(
    state: State<'_, AppState>,
    name: String,
    kind: SecretKind,
    value: SecretInput,
) -> CmdResult<()> {
    state.profiles.set_secret(&name, kind, value.secret()).map_err(report)
}

#[tauri::command]
pub async fn import_env(
    state: State<'_, AppState>,
    name: String,
    file: String,
    replace: bool,
) -> CmdResult<ImportReport> {
    let path = state.files.take(&file, FilePurpose::ImportEnv).map_err(report)?;
    state.profiles.import_env(&name, &path, replace).map_err(report)
}

/// Open the native save (or open) dialog; the page gets a token for the
/// chosen file, or `None` when the person cancelled.
#[tauri::command]
pub async fn choose_file(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    purpose: FilePurpose,
    suggested_name: String,
) -> CmdResult<Option<ChosenFile>> {
    files::check_suggested_name(&suggested_name).map_err(report)?;
    Ok(files::choose(&app, purpose, &suggested_name)
        .await
        .map(|path| state.files.issue(purpose, path)))
}

#[tauri::command]
pub async fn remove_profile(state: State<'_, AppState>, name: String) -> CmdResult<()> {
    let mut open = state.open.write().await;
    if open.as_ref().is_some_and(|o| o.name == name) {
        *open = None;
    }
    state.profiles.remove(&name).map_err(report)
}

#[tauri::command]
pub async fn test_profile(state: State<'_, AppState>, name: String) -> CmdResult<Vec<Check>> {
    connection::test_profile(&state.profiles, &name).await.map_err(report)
}

#[tauri::command]
pub async fn open_profile(state: State<'_, AppState>, name: String) -> CmdResult<OpenedProfile> {
    let profile = state.profiles.get(&name).map_err(report)?;
    let session = state.profiles.open(&name, state.audit.clone()).await.map_err(report)?;
    *state.open.write().await = Some(OpenProfile {
        name: name.clone(),
        session,
        catalog: Arc::default(),
    });
    Ok(OpenedProfile {
        name,
        bucket: profile.bucket,
        endpoint: profile.endpoint,
        read_only: profile.read_only,
        can_restore: profile.supabase_url.is_some() || profile.restore_mode == RestoreMode::Postgres,
    })
}

/// Stream the users, a batch at a time, so the first rows show while later
/// pages load (`browse::user_batches`: 16 indexes read at once, batches of
/// 50). Cancellable as `task` (the window cancels it when another profile
/// opens, so a huge bucket is not listed on for nothing).
#[tauri::command]
pub async fn list_users(state: State<'_, AppState>, task: String, on_batch: Channel<UserBatch>) -> CmdResult<usize> {
    let running = state.start_task(&task)?;
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
            return Ok(total);
        }
    }
    Ok(total)
}

#[tauri::command]
pub async fn user_conversations(state: State<'_, AppState>, user: String) -> CmdResult<UserConversations> {
    let (_, session) = state.session().await?;
    let folder = UserFolder::from_user_arg(&user).map_err(report)?;
    browse::user_conversations(session.store(), &folder)
        .await
        .map_err(report)
}

#[tauri::command]
pub async fn open_conversation(state: State<'_, AppState>, user: String, id: String) -> CmdResult<ConversationView> {
    let (_, session) = state.session().await?;
    let folder = UserFolder::from_user_arg(&user).map_err(report)?;
    let id = ConversationId::parse(&id).map_err(report)?;
    let opened = session.store().get_conversation(&folder, &id).await.map_err(report)?;
    Ok(ConversationView::from(&opened))
}

/// Restore one conversation into the profile's Supabase; cancellable as
/// `task` until its write is committed (nothing is left half-done).
#[tauri::command]
pub async fn restore_conversation(
    state: State<'_, AppState>,
    user: String,
    id: String,
    allow_missing_columns: bool,
    remove_from_archive: bool,
    task: String,
) -> CmdResult<Audited<RestoreReport>> {
    // Registered first, so a Cancel clicked while the target is prepared counts.
    let running = state.start_task(&task)?;
    let (name, session) = state.session().await?;
    let profile = state.profiles.get(&name).map_err(report)?;
    let target = state.profiles.restore_target(&name, &profile).map_err(report)?;
    let options = RestoreOptions {
        allow_missing_columns,
        ..Default::default()
    };
    session
        .restore(&user, &id, &target, &options, remove_from_archive, &running.token)
        .await
        .map_err(report)
}

/// Export to a path the person chose in the native save dialog.
#[tauri::command]
pub async fn export_conversation(
    state: State<'_, AppState>,
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

#[tauri::command]
pub async fn delete_conversations(
    state: State<'_, AppState>,
    user: String,
    ids: Vec<String>,
) -> CmdResult<Audited<DeleteReport>> {
    let (_, session) = state.session().await?;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    session.delete(&user, &refs).await.map_err(report)
}

#[tauri::command]
pub async fn thaw_conversation(
    state: State<'_, AppState>,
    user: String,
    id: String,
    days: ThawDays,
    tier: ThawTier,
) -> CmdResult<ColdStatus> {
    let (_, session) = state.session().await?;
    session.thaw(&user, &id, days, tier).await.map_err(report)
}

#[tauri::command]
pub async fn cold_status(state: State<'_, AppState>, user: String, id: String) -> CmdResult<ColdStatus> {
    let (_, session) = state.session().await?;
    session.cold_status(&user, &id).await.map_err(report)
}

#[tauri::command]
pub async fn verify_user(state: State<'_, AppState>, user: String) -> CmdResult<Verification> {
    let (_, session) = state.session().await?;
    session.verify(&user).await.map_err(report)
}

#[tauri::command]
pub async fn repair_user(state: State<'_, AppState>, user: String) -> CmdResult<Audited<RepairReport>> {
    let (_, session) = state.session().await?;
    session
        .repair(&user)
        .await
        .map(|done| done.map(|(_, r)| r))
        .map_err(report)
}

#[tauri::command]
pub async fn read_audit(state: State<'_, AppState>, query: AuditQuery) -> CmdResult<AuditRead> {
    let filter = AuditFilter {
        user: query.user.filter(|s| !s.is_empty()),
        action: query.action.filter(|s| !s.is_empty()),
        since: query.since.filter(|s| !s.is_empty()),
    };
    let log = state.audit.clone();
    let mut read = blocking(move || log.read(&filter)).await?;
    read.records.reverse();
    read.records.truncate(1000);
    Ok(read)
}

/// Check the audit log's hash chain (the audit view's "Verify log").
#[tauri::command]
pub async fn verify_audit(state: State<'_, AppState>) -> CmdResult<AuditVerification> {
    let log = state.audit.clone();
    blocking(move || log.verify()).await
}

/// Cancel a running task (a catalog sync, a whole-user export). `false` when
/// it had already ended.
#[tauri::command]
pub async fn cancel_task(state: State<'_, AppState>, task: String) -> CmdResult<bool> {
    let tasks = state.tasks.lock().expect("tasks lock");
    Ok(tasks.get(&task).map(CancellationToken::cancel).is_some())
}

/// How big the catalog is and when it was last synced.
#[tauri::command]
pub async fn catalog_status(state: State<'_, AppState>) -> CmdResult<CatalogStats> {
    let (_, catalog) = state.catalog().await?;
    blocking(move || catalog.stats()).await
}

/// Bring the catalog up to date with the bucket (cold, warm or resumed),
/// with progress; cancellable as `task`, and resumable after a cancel.
#[tauri::command]
pub async fn sync_catalog(
    state: State<'_, AppState>,
    task: String,
    on_progress: Channel<SyncProgress>,
) -> CmdResult<SyncReport> {
    // Registered first, so a Cancel clicked while the catalog opens counts.
    let running = state.start_task(&task)?;
    let (session, catalog) = state.catalog().await?;
    let (tx, rx) = watch::channel(SyncProgress::default());
    let options = SyncOptions::default();
    let work = catalog::sync(session.store(), &catalog, &options, &tx, &running.token);
    with_progress(rx, &on_progress, work).await.map_err(report)
}

/// Search the catalog by email and title, ranked, a page at a time.
#[tauri::command]
pub async fn search_catalog(
    state: State<'_, AppState>,
    query: SearchText,
    offset: SearchOffset,
    limit: SearchLimit,
) -> CmdResult<SearchPage> {
    let (_, catalog) = state.catalog().await?;
    blocking(move || catalog.search(query.as_str(), offset.get(), limit.get())).await
}

/// Export all of a user's conversations to a path chosen in the native save
/// dialog, with progress; cancellable as `task` (nothing is left behind).
#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub async fn export_user(
    state: State<'_, AppState>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use archive_desk_core::Keychain;
    use std::path::Path;
    use tauri::ipc::InvokeResponseBody;

    fn state(dir: &Path) -> AppState {
        AppState {
            profiles: Profiles::new(dir.join("profiles.toml"), Keychain::default()),
            audit: AuditLog::at(dir.join("audit.jsonl")),
            open: RwLock::new(None),
            tasks: Mutex::new(HashMap::new()),
            files: ChosenFiles::default(),
        }
    }

    #[test]
    fn tasks_are_registered_by_id_cancelled_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path());
        for bad in ["", "a/b", "x y", &"a".repeat(65)] {
            assert!(state.start_task(bad).is_err(), "{bad:?}");
        }
        let running = state.start_task("task-1-1").unwrap();
        let again = state.start_task("task-1-1").err().expect("a duplicate id is refused");
        assert!(again.message.contains("already running"), "{}", again.message);
        state.tasks.lock().unwrap().get("task-1-1").unwrap().cancel();
        assert!(running.token.is_cancelled());
        drop(running);
        assert!(state.tasks.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn progress_is_throttled_and_ends_with_the_last_value() {
        let seen = Arc::new(Mutex::new(Vec::<u64>::new()));
        let sink = seen.clone();
        let channel: Channel<u64> = Channel::new(move |body| {
            if let InvokeResponseBody::Json(json) = body {
                sink.lock().unwrap().push(json.parse().unwrap());
            }
            Ok(())
        });
        let (tx, rx) = watch::channel(0u64);
        let work = async {
            // 200 updates in ~200 ms: far more than the webview needs.
            for i in 1..=200 {
                tx.send_replace(i);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            "done"
        };
        let started = std::time::Instant::now();
        assert_eq!(with_progress(rx, &channel, work).await, "done");
        // At most one message per 100 ms, plus the first and the last,
        // however slow the machine made the updates.
        let allowed = started.elapsed().as_millis() as usize / 100 + 2;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.last(), Some(&200));
        assert!(
            seen.len() <= allowed,
            "not throttled: {} messages, {allowed} allowed",
            seen.len()
        );
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "out of order: {seen:?}");
    }
}
