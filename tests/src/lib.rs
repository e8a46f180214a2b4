//! The test harness: real S3 servers on loopback and fixture archives.
//! Used by the integration tests here, the CLI's tests and `seed-demo`.

pub mod chaos;
pub mod check;
pub mod crash;
pub mod fault_proxy;
pub mod fixtures;
pub mod process;
pub mod raw_s3;
pub mod servers;
pub mod supabase;

use std::sync::OnceLock;

use archive_desk_core::{AuditLog, ConversationId, Layout, Session, Store, StoreConfig, UserFolder};
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};

pub use fault_proxy::{Fault, FaultProxy, Match, Rule};
pub use fixtures::{Expect, Manifest};
pub use raw_s3::RawS3;
pub use servers::{S3Server, ServerKind};

/// Create `bucket` on the store's server.
pub async fn create_bucket(store: &Store) {
    store
        .client()
        .create_bucket()
        .bucket(store.bucket())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create bucket {}: {}",
                store.bucket(),
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
}

/// Create `bucket` on the store's server with Object Lock enabled (which
/// turns versioning on).
pub async fn create_locked_bucket(store: &Store) {
    store
        .client()
        .create_bucket()
        .bucket(store.bucket())
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
}

/// Turn versioning on for the store's bucket.
pub async fn enable_versioning(store: &Store) {
    store
        .client()
        .put_bucket_versioning()
        .bucket(store.bucket())
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// `catalog::sync` of `store` into `catalog`, uncancelled, progress
/// unwatched; a failure panics with the error.
pub async fn sync_catalog(
    store: &Store,
    catalog: &archive_desk_core::Catalog,
    options: &archive_desk_core::SyncOptions,
) -> archive_desk_core::SyncReport {
    let (progress, _) = tokio::sync::watch::channel(archive_desk_core::SyncProgress::default());
    archive_desk_core::catalog::sync(
        store,
        catalog,
        options,
        &progress,
        &archive_desk_core::CancellationToken::new(),
    )
    .await
    .unwrap_or_else(|e| panic!("sync: {e}"))
}

/// A fresh, empty bucket with a unique name on the shared server of `kind`.
pub async fn fresh_store(kind: ServerKind, layout: Layout) -> Store {
    let server = servers::shared(kind);
    let mut config = server.store_config(&format!("t-{}", servers::token()));
    config.layout = layout;
    let store = Store::connect(config).await.expect("store connects");
    create_bucket(&store).await;
    store
}

/// A session on `config`'s bucket (not created here), with its own audit
/// log in the returned directory.
pub async fn session_for(config: StoreConfig) -> (Session, tempfile::TempDir) {
    let store = Store::connect(config).await.expect("store connects");
    let dir = tempfile::tempdir().unwrap();
    (Session::new(store, AuditLog::at(dir.path().join("audit.jsonl"))), dir)
}

/// A session on a fresh, empty bucket on the shared server of `kind`;
/// `tweak` adjusts the config first.
pub async fn fresh_session(kind: ServerKind, tweak: impl FnOnce(&mut StoreConfig)) -> (Session, tempfile::TempDir) {
    let mut config = servers::shared(kind).store_config(&format!("t-{}", servers::token()));
    tweak(&mut config);
    let (session, dir) = session_for(config).await;
    create_bucket(session.store()).await;
    (session, dir)
}

/// The archive copy of conversation `id` is still there: its object
/// opens and its index entry stays (a restore that must not remove it).
pub async fn assert_still_archived(session: &Session, folder: &UserFolder, id: &str) {
    session
        .store()
        .get_conversation(folder, &ConversationId::parse(id).unwrap())
        .await
        .unwrap();
    let index = session.store().read_index(folder).await.unwrap().index;
    assert!(
        index.entries().any(|e| e.conversation_id() == id),
        "{id} left the index"
    );
}

/// The standard fixture archive on the shared server of `kind`, seeded once
/// per test process. Read-only: tests that write use `fresh_store`.
pub struct SeededArchive {
    pub server: &'static S3Server,
    pub bucket: String,
    pub manifest: Manifest,
}

impl SeededArchive {
    pub async fn store(&self) -> Store {
        Store::connect(self.server.store_config(&self.bucket))
            .await
            .expect("store connects")
    }
}

pub fn seeded(kind: ServerKind) -> &'static SeededArchive {
    static MOTO: OnceLock<SeededArchive> = OnceLock::new();
    static RCLONE: OnceLock<SeededArchive> = OnceLock::new();
    let cell = match kind {
        ServerKind::Moto => &MOTO,
        ServerKind::Rclone => &RCLONE,
    };
    cell.get_or_init(|| {
        // Seed on a runtime of its own: the callers' runtimes come and go
        // with each test.
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().expect("runtime").block_on(async move {
                let store = fresh_store(kind, Layout::default()).await;
                let seeder = fixtures::standard(Layout::default(), kind.keeps_storage_class());
                let manifest = seeder.write(&store.client(), store.bucket()).await;
                SeededArchive {
                    server: servers::shared(kind),
                    bucket: store.bucket().to_owned(),
                    manifest,
                }
            })
        })
        .join()
        .expect("seeding the fixture archive")
    })
}

/// Runs each named `async fn check(ServerKind)` of the calling test file
/// once against moto and once against rclone (test modules `moto` and
/// `rclone`), on a two-worker runtime.
#[macro_export]
macro_rules! on_both_servers {
    ($($check:ident),* $(,)?) => {
        mod moto { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $check() { super::$check($crate::ServerKind::Moto).await } )* }
        mod rclone { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $check() { super::$check($crate::ServerKind::Rclone).await } )* }
    };
}
