// The app's IPC commands, each declared once: its name, its arguments (name
// and Rust type, in the order the function in `commands/` takes them
// after the state), the channel it streams into if any, and its result.
// From this one table:
// - `build.rs` (which `include!`s this file) makes an `allow-<name>`
//   permission per command; capabilities/default.json must list exactly
//   those (a test in `main.rs`);
// - `contract.rs` generates the `#[tauri::command]` functions, which call
//   `commands/` with the declared arguments (a function that differs
//   from its declaration does not compile), and the TypeScript schema
//   `ui/src/bindings/commands.ts` that `ui/src/ipc.ts` calls through;
// - `main.rs` builds the handler list.
// The types are only named here; they resolve where the table is expanded
// (`contract.rs`), so build.rs needs none of them.

/// Calls `$then! { entries }` with every command of the table.
macro_rules! for_each_command {
    ($then:ident) => {
        $then! {
            list_profiles() -> Vec<ProfileView>;
            profile_names() -> Vec<String>;
            save_profile(name: String, profile: Profile) -> SaveReport;
            set_secret(name: String, kind: SecretKind, value: SecretInput) -> ();
            import_env(name: String, file: String, replace: bool) -> ImportReport;
            choose_file(purpose: FilePurpose, suggested_name: String) -> Option<ChosenFile>;
            remove_profile(name: String) -> ();
            test_profile(name: String) -> Vec<Check>;
            open_profile(name: String) -> OpenedProfile;
            open_launch_profile() -> Option<OpenedProfile>;
            list_users(task: String) channel(on_batch: UserBatch) -> UsersListed;
            look_up_user(text: SearchText) -> UserConversations;
            user_conversations(user: String) -> UserConversations;
            open_conversation(user: String, id: String) -> ConversationView;
            conversation_messages(user: String, id: String, from: usize) -> Vec<MessageView>;
            conversation_json(user: String, id: String) -> String;
            restore_conversation(
                user: String,
                id: String,
                allow_missing_columns: bool,
                remove_from_archive: bool,
                task: String,
            ) -> Audited<RestoreReport>;
            live_status(user: String) -> Option<Vec<LiveStatus>>;
            preview_restore(user: String, id: String, allow_missing_columns: bool) -> RestorePreview;
            restore_conversations(user: String, selection: Selection, allow_missing_columns: bool, task: String)
                channel(on_progress: BulkProgress) -> BulkRestoreReport;
            export_conversation(user: String, id: String, file: String, gzip: bool) -> ExportReport;
            delete_conversations(user: String, ids: Vec<String>) -> Audited<DeleteReport>;
            thaw_conversation(user: String, id: String, days: ThawDays, tier: ThawTier) -> ColdStatus;
            cold_status(user: String, id: String) -> ColdStatus;
            verify_user(user: String) -> Verification;
            repair_user(user: String) -> Audited<RepairReport>;
            read_audit(query: AuditQuery) -> AuditRead;
            verify_audit() -> AuditVerification;
            cancel_task(task: String) -> bool;
            catalog_status() -> CatalogStats;
            sync_catalog(task: String) channel(on_progress: SyncProgress) -> SyncReport;
            search_catalog(query: SearchText, offset: SearchOffset, limit: SearchLimit) -> SearchPage;
            export_user(user: String, file: String, format: ExportFormat, gzip: bool, task: String)
                channel(on_progress: ExportProgress) -> ExportUserReport;
            export_user_for_customer(user: String, folder: String, task: String)
                channel(on_progress: ExportProgress) -> CustomerExportReport;
            erase_user(user: String, receipt_file: String, task: String)
                channel(on_progress: EraseProgress) -> Audited<ErasureReport>;
            verify_receipt(file: String) -> ReceiptVerification;
            export_audit(query: AuditQuery, format: AuditExportFormat, file: String) -> AuditExportReport;
            search_user_messages(user: String, query: SearchText, task: String)
                channel(on_update: MessageSearchUpdate) -> MessageSearchReport;
            diagnostics() -> Diagnostics;
        }
    };
}

/// The names of the table's entries, as the webview invokes them.
macro_rules! command_names {
    ($( $name:ident $args:tt $(channel $channel:tt)? -> $result:ty; )*) => {
        &[$(stringify!($name)),*]
    };
}

/// Every command's name, in table order.
// The app itself only uses it through the tests; build.rs uses it for real.
#[allow(dead_code)]
pub const COMMANDS: &[&str] = for_each_command!(command_names);
