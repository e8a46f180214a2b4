//! The IPC commands, one function each, grouped by what they do (the table
//! in `command_list.rs` declares their arguments and results; the
//! `#[tauri::command]` functions generated from it in `contract.rs` call
//! these). Dispatch only: each turns its arguments into core types, calls
//! the core and returns its result or `{code, message}`. State and tasks
//! live in `state.rs` and `tasks.rs`. No secret is ever returned: secrets
//! go in (to the keychain), never out.

mod audit;
mod browse;
mod changes;
mod export;
mod profiles;

pub use audit::*;
pub use browse::*;
pub use changes::*;
pub use export::*;
pub use profiles::*;
