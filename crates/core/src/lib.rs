//! Archive Desk core: everything the app does, without any UI.
//!
//! The CLI, the desktop shell and the tests all call these functions; this
//! crate must never depend on tauri (CI checks it).

pub mod adaptive;
pub mod audit;
pub mod bounds;
pub mod browse;
pub mod catalog;
pub mod codec;
pub mod cold;
pub mod connection;
pub mod customer_export;
mod delete;
pub mod erase;
pub mod error;
pub mod export_user;
pub mod index_write;
pub mod integrity;
pub mod keychain;
pub mod layout;
mod loopback;
pub mod message_search;
pub mod model;
mod owner_only;
pub mod plural;
pub mod profile;
pub mod restore;
pub mod secret;
pub mod session;
pub mod store;

pub use audit::{AuditFilter, AuditLog, AuditRead, AuditRecord, AuditVerification, BreakKind, BrokenLink, ChainStatus};
pub use bounds::{SearchLimit, SearchOffset, SearchText, SecretInput, ThawDays};
pub use browse::UserBatch;
pub use catalog::{
    CancellationToken, Catalog, CatalogEntry, SearchHit, SearchPage, SyncOptions, SyncProgress, SyncReport,
};
pub use codec::{Encoding, Limits};
pub use cold::{ColdState, ColdStatus, ThawTier};
pub use delete::DeleteReport;
pub use error::{Error, ErrorCode, ErrorReport, RestoreFailure, Result};
pub use keychain::{Keychain, KeychainStore, Persistence, SecretKind};
pub use layout::{ConversationId, Layout, ObjectKind, UserFolder};
pub use model::{ConversationDocument, Fields, IndexEntry, UserIndex};
pub use profile::{Profile, Profiles, RestoreOverrides, SessionOverrides};
pub use restore::RestoreMode;
pub use secret::Secret;
pub use session::{Audited, ErasureReport, Session, SessionBuilder};
pub use store::{CredentialSource, ForegroundRead, ObjectInfo, OpenedConversation, Store, StoreConfig};
