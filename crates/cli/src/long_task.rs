//! Long commands (`sync`, `export-user`, `restore`): Ctrl-C cancels them
//! cleanly, and progress goes to stderr as one line every couple of seconds.

use std::time::Duration;

use archive_desk_core::CancellationToken;
use tokio::sync::watch;

/// A token that Ctrl-C cancels.
pub fn cancel_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("archive-desk-cli: cancelling...");
            token.cancel();
        }
    });
    cancel
}

/// Print `line(progress)` on stderr every two seconds until the sender goes.
pub fn report_progress<P, F>(mut updates: watch::Receiver<P>, line: F) -> tokio::task::JoinHandle<()>
where
    P: Clone + Send + Sync + 'static,
    F: Fn(&P) -> String + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if updates.has_changed().is_err() {
                break;
            }
            let p = updates.borrow_and_update().clone();
            eprintln!("{}", line(&p));
        }
    })
}
