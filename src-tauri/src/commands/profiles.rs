//! Profiles and the app itself: the profiles dialog (listing, saving, secrets
//! into the keychain, importing an `.env`, testing), opening one, Cancel on a
//! running task, and Help → Copy diagnostics.

use archive_desk_core::connection::{self, Check};
use archive_desk_core::profile::{ImportReport, Profile, ProfileView, SaveReport};
use archive_desk_core::{SecretInput, SecretKind};

use crate::diagnostics::{self, Diagnostics};
use crate::files::{self, ChosenFile, FilePurpose};
use crate::ipc::{report, CmdResult, OpenedProfile};
use crate::state::AppState;

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

/// The profile the shell began opening at launch (the only one:
/// `AppState::open_early`), opened as `open_profile` opens it, so the page
/// gets it in one round trip rather than `profile_names` and then
/// `open_profile`; `None` when there was none (no profile, or several).
pub async fn open_launch_profile(state: &AppState) -> CmdResult<Option<OpenedProfile>> {
    match state.launch_profile_name() {
        Some(name) => open_profile(state, name).await.map(Some),
        None => Ok(None),
    }
}

pub async fn open_profile(state: &AppState, name: String) -> CmdResult<OpenedProfile> {
    let profile = state.profiles.get(&name).map_err(report)?;
    // Opened at launch already when it is the only profile (`open_early`).
    let opening = async { state.profiles.open(&name, state.audit.clone()).await.map_err(report) };
    state.open_profile_named(&name, opening).await?;
    let users = state.first_early_users(super::browse::FIRST_CATALOG_BATCH).await;
    if let Some(batch) = &users {
        diagnostics::note(format_args!(
            "open_profile: {} users went with the profile at {} ms",
            batch.users.len(),
            diagnostics::since_start_ms()
        ));
    }
    let can_restore = profile.has_restore_target();
    Ok(OpenedProfile {
        name,
        bucket: profile.bucket,
        endpoint: profile.endpoint,
        read_only: profile.read_only,
        can_restore,
        users,
    })
}

/// Cancel a running task (a catalog sync, a whole-user export). `false` when
/// it had already ended.
pub async fn cancel_task(state: &AppState, task: String) -> CmdResult<bool> {
    Ok(state.tasks.cancel(&task))
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
