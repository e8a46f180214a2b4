//! The one state object of the app: profiles, the audit log, the open
//! profile (its session and its search catalog), the running tasks and the
//! files chosen in native dialogs.

use std::sync::Arc;

use tauri::AppHandle;
use tokio::sync::{OnceCell, RwLock};

use archive_desk_core::{AuditLog, Catalog, Error, Profiles, Session};

use crate::diagnostics::ErrorHistory;
use crate::files::ChosenFiles;
use crate::ipc::{report, CmdResult};
use crate::tasks::{blocking, TaskGuard, TaskTable};

pub struct AppState {
    pub profiles: Profiles,
    pub audit: AuditLog,
    open: RwLock<Option<OpenProfile>>,
    pub tasks: TaskTable,
    /// Files chosen in native dialogs, by the token the page got.
    pub files: ChosenFiles,
    /// The running app, which native dialogs are opened from.
    pub app: AppHandle,
    /// The commands that failed lately, for "Copy diagnostics".
    pub errors: ErrorHistory,
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
    pub fn new(app: AppHandle) -> Result<Self, Error> {
        Ok(AppState {
            profiles: Profiles::default_location()?,
            audit: AuditLog::default_location()?,
            open: RwLock::new(None),
            tasks: TaskTable::default(),
            files: ChosenFiles::default(),
            app,
            errors: ErrorHistory::default(),
        })
    }

    async fn open_profile(&self) -> CmdResult<OpenProfile> {
        self.open.read().await.clone().ok_or_else(|| report(Error::NoProfile))
    }

    /// Make `session` (of profile `name`) the one the window works on.
    pub async fn set_open(&self, name: String, session: Session) {
        *self.open.write().await = Some(OpenProfile {
            name,
            session,
            catalog: Arc::default(),
        });
    }

    /// Remove a profile (settings, secrets and catalog), closing it first
    /// if it is the open one.
    pub async fn remove_profile(&self, name: &str) -> CmdResult<()> {
        let mut open = self.open.write().await;
        if open.as_ref().is_some_and(|o| o.name == name) {
            *open = None;
        }
        self.profiles.remove(name).map_err(report)
    }

    /// The open profile's name and session.
    pub async fn session(&self) -> CmdResult<(String, Session)> {
        self.open_profile().await.map(|o| (o.name, o.session))
    }

    /// The open profile's session and its catalog (opened on first use).
    pub async fn catalog(&self) -> CmdResult<(Session, Catalog)> {
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
    pub fn start_task(&self, id: &str) -> CmdResult<TaskGuard<'_>> {
        self.tasks.start(id)
    }
}
