//! The one state object of the app: profiles, the audit log, the open
//! profile (its session and its search catalog), the running tasks and the
//! files chosen in native dialogs.

use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, Shared};
use futures::StreamExt;
use tauri::AppHandle;
use tokio::sync::{mpsc, OnceCell, RwLock};

use archive_desk_core::browse::{self, UserBatch, UserSummary};
use archive_desk_core::{AuditLog, CancellationToken, Catalog, Error, Profiles, Session};

use crate::diagnostics::{self, ErrorHistory};
use crate::files::ChosenFiles;
use crate::ipc::{report, CmdResult, MessageView};
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
    /// The profile opened at start, before the page asks for it.
    early: Mutex<Option<EarlyProfile>>,
    /// The messages of the conversation opened last that its answer left
    /// out, until the page asks for them (`conversation_messages`).
    pub rest: KeptMessages,
}

/// The messages an opened conversation's answer left out: those of the
/// conversation opened last only, given once.
#[derive(Default)]
pub struct KeptMessages(Mutex<Option<Kept>>);

/// Messages `from` on of conversation `id` of `user`.
struct Kept {
    user: String,
    id: String,
    from: usize,
    messages: Vec<MessageView>,
}

impl KeptMessages {
    /// Keep these (those of the conversation opened before are dropped).
    pub fn keep(&self, user: &str, id: &str, from: usize, messages: Vec<MessageView>) {
        *self.0.lock().expect("kept messages") = Some(Kept {
            user: user.to_owned(),
            id: id.to_owned(),
            from,
            messages,
        });
    }

    /// The kept messages of conversation `id` of `user` from `from` on, if
    /// those are the ones kept.
    pub fn take(&self, user: &str, id: &str, from: usize) -> Option<Vec<MessageView>> {
        let mut kept = self.0.lock().expect("kept messages");
        match kept.take() {
            Some(k) if k.user == user && k.id == id && k.from == from => Some(k.messages),
            other => {
                *kept = other;
                None
            }
        }
    }
}

/// The only profile, opened by the shell as it starts, while the webview
/// is still starting (`AppState::open_early`): its session, its catalog
/// and the users list's start are ready (or under way) when the page's
/// `open_profile` and `list_users` ask, rather than begun by them one
/// after the other.
struct EarlyProfile {
    name: String,
    /// `None` when it failed: `open_profile` then opens it again and
    /// reports the error.
    opened: Shared<BoxFuture<'static, Option<EarlyOpened>>>,
    /// Cancels the users listing started early (when not taken).
    cancel: CancellationToken,
}

#[derive(Clone)]
struct EarlyOpened {
    session: Session,
    catalog: Option<Catalog>,
    users: Arc<Mutex<Option<EarlyUsers>>>,
}

/// The users list as started early: its first users go with the profile
/// when already read (`AppState::first_early_users`), the rest to the
/// page's first `list_users`.
pub enum EarlyUsers {
    /// From the catalog synced at `synced_at`; the first `given` of them
    /// went with the profile.
    Catalog {
        synced_at: String,
        users: Vec<UserSummary>,
        given: usize,
    },
    /// Streamed from the bucket: the batches read so far and to come;
    /// `given` users went with the profile, and `failed` is the listing's
    /// error when it was met while handing them over.
    Streamed {
        batches: mpsc::Receiver<archive_desk_core::Result<UserBatch>>,
        given: usize,
        failed: Option<archive_desk_core::Error>,
    },
}

/// The profile the window works on: its session, and its search catalog,
/// opened the first time it is needed (the same file the CLI uses).
#[derive(Clone)]
struct OpenProfile {
    name: String,
    session: Session,
    catalog: Arc<OnceCell<Catalog>>,
    /// The users list started at launch, until the first `list_users` takes it.
    early_users: Arc<Mutex<Option<EarlyUsers>>>,
    /// Cancels the early listing when another profile opens.
    early_cancel: Option<CancellationToken>,
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
            early: Mutex::new(None),
            rest: KeptMessages::default(),
        })
    }

    /// Open the only profile now, as the app starts (with several, the
    /// page asks which): its session, its catalog, and its users — the
    /// synced catalog's, or the bucket's listing started, its batches kept
    /// for the page. The page's `open_profile` of that name and its first
    /// `list_users` then take what is ready instead of starting it.
    pub fn open_early(&self) {
        let Ok(file) = self.profiles.load() else { return };
        let mut names = file.profiles.keys();
        let (Some(name), None) = (names.next(), names.next()) else {
            return;
        };
        let (name, profiles, audit) = (name.clone(), self.profiles.clone(), self.audit.clone());
        let cancel = CancellationToken::new();
        let opening = {
            let (name, cancel) = (name.clone(), cancel.clone());
            async move {
                let session = profiles.open(&name, audit).await.ok()?;
                diagnostics::note(format_args!(
                    "early open: session at {} ms",
                    diagnostics::since_start_ms()
                ));
                let catalog = {
                    let name = name.clone();
                    blocking(move || Catalog::open_default(&name)).await.ok()
                };
                let store = session.store();
                let (bucket, prefix) = (store.bucket().to_owned(), store.layout().prefix().to_owned());
                let synced = match &catalog {
                    Some(c) => {
                        let c = c.clone();
                        blocking(move || c.synced_user_summaries(&bucket, &prefix))
                            .await
                            .ok()
                            .flatten()
                    }
                    None => None,
                };
                let users = match synced {
                    Some((synced_at, users)) => EarlyUsers::Catalog {
                        synced_at,
                        users,
                        given: 0,
                    },
                    None => EarlyUsers::Streamed {
                        batches: stream_users(&session, cancel),
                        given: 0,
                        failed: None,
                    },
                };
                diagnostics::note(format_args!(
                    "early open: users {} at {} ms",
                    match users {
                        EarlyUsers::Catalog { .. } => "read from the catalog",
                        EarlyUsers::Streamed { .. } => "listing started",
                    },
                    diagnostics::since_start_ms()
                ));
                Some(EarlyOpened {
                    session,
                    catalog,
                    users: Arc::new(Mutex::new(Some(users))),
                })
            }
        };
        let opened = tauri::async_runtime::spawn(opening)
            .map(|joined| joined.ok().flatten())
            .boxed()
            .shared();
        *self.early.lock().expect("early lock") = Some(EarlyProfile { name, opened, cancel });
    }

    /// The profile `open_early` began opening, until the page opens one.
    pub fn launch_profile_name(&self) -> Option<String> {
        self.early.lock().expect("early lock").as_ref().map(|e| e.name.clone())
    }

    async fn open_profile(&self) -> CmdResult<OpenProfile> {
        self.open.read().await.clone().ok_or_else(|| report(Error::NoProfile))
    }

    /// Make profile `name` the one the window works on: the session opened
    /// at launch when it is that profile, else one `open` opens now.
    pub async fn open_profile_named<F>(&self, name: &str, open: F) -> CmdResult<Session>
    where
        F: std::future::Future<Output = CmdResult<Session>>,
    {
        let early = self.early.lock().expect("early lock").take();
        let mut early_cancel = None;
        let early = match early {
            Some(e) if e.name == name => {
                early_cancel = Some(e.cancel.clone());
                e.opened.await
            }
            Some(e) => {
                e.cancel.cancel();
                None
            }
            None => None,
        };
        let (session, catalog, early_users) = match early {
            Some(o) => (o.session, Arc::new(OnceCell::new_with(o.catalog)), o.users),
            None => (open.await?, Arc::default(), Arc::default()),
        };
        let mut open = self.open.write().await;
        if let Some(previous) = open.as_ref().and_then(|o| o.early_cancel.as_ref()) {
            previous.cancel();
        }
        *open = Some(OpenProfile {
            name: name.to_owned(),
            session: session.clone(),
            catalog,
            early_users,
            early_cancel,
        });
        Ok(session)
    }

    /// The first users of the open profile's launch listing: from the
    /// catalog, at most `count`; streamed, its first batch, waited for up to
    /// `FIRST_BATCH_WAIT` (the page asks about when it lands: measured, it
    /// lost that race by a few ms and its rows came a `list_users` round
    /// trip later). They go with the profile, so the first rows need no
    /// round trip while the webview is busiest starting, and the first
    /// `list_users` goes on after them (`open_profile` asks, before that
    /// `list_users` takes the rest).
    pub async fn first_early_users(&self, count: usize) -> Option<UserBatch> {
        let slot = self.open.read().await.as_ref()?.early_users.clone();
        // Taken out while waiting (no lock held across the wait), put back after.
        let mut early = slot.lock().expect("early users lock").take()?;
        let first = match &mut early {
            EarlyUsers::Catalog { users, given, .. } if *given == 0 && !users.is_empty() => {
                *given = count.min(users.len());
                Some(UserBatch {
                    users: users[..*given].to_vec(),
                    unusable: Vec::new(),
                })
            }
            EarlyUsers::Streamed { batches, given, failed } if *given == 0 && failed.is_none() => {
                match tokio::time::timeout(FIRST_BATCH_WAIT, batches.recv()).await {
                    Ok(Some(Ok(batch))) => {
                        *given = batch.users.len();
                        Some(batch)
                    }
                    Ok(Some(Err(e))) => {
                        *failed = Some(e);
                        None
                    }
                    // Ended (nothing to list), or not read yet: `list_users` sends what comes.
                    Ok(None) | Err(_) => None,
                }
            }
            _ => None,
        };
        *slot.lock().expect("early users lock") = Some(early);
        first
    }

    /// The users list started at launch for the open profile, once.
    pub async fn take_early_users(&self) -> Option<EarlyUsers> {
        let open = self.open.read().await;
        let users = open.as_ref()?.early_users.lock().expect("early users lock").take();
        users
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

/// How far the listing started at launch reads ahead of the page: its
/// first batches (`browse::FIRST_USER_BATCH` users, then `USER_BATCH`),
/// more than a window shows. It then waits for the page's `list_users`:
/// reading on meanwhile took the CPU the webview needs to start (measured
/// with the GUI benchmark: the page began ~300 ms later than when the
/// list came from the catalog, and so did its first row).
const EARLY_BATCHES: usize = 2;

/// How long opening the launch profile waits for its listing's first batch.
const FIRST_BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(300);

/// The users of `session`'s bucket streamed (`browse::user_batches`) into
/// a channel by a task of their own, `EARLY_BATCHES` ahead of its reader,
/// until read to the end, `cancel`led or no longer wanted (the receiver
/// dropped).
fn stream_users(session: &Session, cancel: CancellationToken) -> mpsc::Receiver<archive_desk_core::Result<UserBatch>> {
    let (tx, rx) = mpsc::channel(EARLY_BATCHES);
    let batches = browse::user_batches(session.store(), browse::SUMMARY_CONCURRENCY, &cancel);
    tauri::async_runtime::spawn(async move {
        let mut batches = std::pin::pin!(batches);
        let mut first = true;
        while let Some(batch) = batches.next().await {
            if std::mem::take(&mut first) {
                diagnostics::note(format_args!(
                    "users: first batch at {} ms",
                    diagnostics::since_start_ms()
                ));
            }
            // Waits while the page has not taken the batches ahead; the
            // listing sends no request meanwhile.
            if tx.send(batch).await.is_err() {
                break;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(ids: &[&str]) -> Vec<MessageView> {
        ids.iter()
            .map(|id| MessageView {
                id: (*id).to_owned(),
                role: None,
                created_at: None,
                feedback: None,
                content: format!("text of {id}"),
            })
            .collect()
    }

    #[test]
    fn kept_messages_are_given_once_and_only_for_their_conversation() {
        let kept = KeptMessages::default();
        kept.keep("u", "c1", 200, messages(&["m200", "m201"]));
        // Another conversation, or another start: not these.
        assert!(kept.take("u", "c2", 200).is_none());
        assert!(kept.take("v", "c1", 200).is_none());
        assert!(kept.take("u", "c1", 100).is_none());
        let given = kept.take("u", "c1", 200).expect("kept");
        assert_eq!(
            given.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["m200", "m201"]
        );
        assert!(kept.take("u", "c1", 200).is_none(), "given once");
        // Opening another conversation drops the last one's.
        kept.keep("u", "c1", 200, messages(&["a"]));
        kept.keep("u", "c2", 200, messages(&["b"]));
        assert!(kept.take("u", "c1", 200).is_none());
        assert_eq!(kept.take("u", "c2", 200).expect("kept")[0].id, "b");
    }
}
