//! Long tasks the UI may cancel (by the id it gave them), their progress
//! sent to the webview at a pace it can take, and blocking work kept off
//! the async runtime's threads.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tauri::ipc::{Channel, IpcResponse};
use tokio::sync::watch;

use archive_desk_core::{CancellationToken, Error};

use crate::ipc::{report, CmdResult};

/// The running tasks, by id.
#[derive(Default)]
pub struct TaskTable {
    tasks: Mutex<HashMap<String, CancellationToken>>,
}

impl TaskTable {
    /// Register a task under `id` (1-64 letters, digits or dashes, not
    /// already running); it stays registered while the guard lives.
    pub fn start(&self, id: &str) -> CmdResult<TaskGuard<'_>> {
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
            table: self,
            id: id.to_owned(),
            token,
        })
    }

    /// Cancel the task `id`; `false` when it is not running (any more).
    pub fn cancel(&self, id: &str) -> bool {
        let tasks = self.tasks.lock().expect("tasks lock");
        tasks.get(id).map(CancellationToken::cancel).is_some()
    }
}

/// A running task; it leaves the task table when dropped (when the command
/// that started it returns).
pub struct TaskGuard<'a> {
    table: &'a TaskTable,
    id: String,
    pub token: CancellationToken,
}

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        self.table.tasks.lock().expect("tasks lock").remove(&self.id);
    }
}

/// Run blocking work (SQLite, the audit log) off the async runtime's threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send + 'static) -> CmdResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| report(Error::Config(format!("background task failed: {e}"))))?
        .map_err(report)
}

/// Run `work` while sending its progress to the webview: the latest value
/// at most every 100 ms (progress is a level, not a log), and the last one
/// when the work ends.
pub async fn with_progress<P, T>(progress: watch::Receiver<P>, channel: &Channel<P>, work: impl Future<Output = T>) -> T
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tauri::ipc::InvokeResponseBody;

    #[test]
    fn tasks_are_registered_by_id_cancelled_and_forgotten() {
        let table = TaskTable::default();
        for bad in ["", "a/b", "x y", &"a".repeat(65)] {
            assert!(table.start(bad).is_err(), "{bad:?}");
        }
        let running = table.start("task-1-1").unwrap();
        let again = table.start("task-1-1").err().expect("a duplicate id is refused");
        assert!(again.message.contains("already running"), "{}", again.message);
        assert!(table.cancel("task-1-1"));
        assert!(running.token.is_cancelled());
        drop(running);
        assert!(table.tasks.lock().unwrap().is_empty());
        assert!(!table.cancel("task-1-1"), "an ended task is not cancelled");
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
