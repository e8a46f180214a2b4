//! Archive Desk core: everything the app does, without any UI.
//!
//! The CLI, the desktop shell and the tests all call these functions; this
//! crate must never depend on tauri (CI checks it).

pub mod browse;
pub mod codec;
pub mod error;
pub mod layout;
pub mod model;
pub mod secret;
pub mod store;

pub use codec::{Encoding, Limits};
pub use error::{Error, ErrorReport, Result};
pub use layout::{ConversationId, Layout, ObjectKind, UserFolder};
pub use model::{ConversationDocument, Fields, IndexEntry, UserIndex};
pub use secret::Secret;
pub use store::{CredentialSource, ObjectInfo, OpenedConversation, Store, StoreConfig};
