// The app's IPC commands, listed once. `build.rs` includes this file for the
// allow-list (each name gets an `allow-<name>` permission), `main.rs` builds
// the handler list from the same macro, and the tests in `main.rs` check
// capabilities/default.json and ui/src/ipc.ts against `COMMANDS`.

/// Calls `$then!(name, ...)` with every command's name: one list feeds
/// both `COMMANDS` and `tauri::generate_handler!`, which only takes paths.
macro_rules! for_each_command {
    ($then:ident) => {
        $then!(
            list_profiles,
            save_profile,
            set_secret,
            import_env,
            choose_file,
            remove_profile,
            test_profile,
            open_profile,
            list_users,
            user_conversations,
            open_conversation,
            restore_conversation,
            export_conversation,
            delete_conversations,
            thaw_conversation,
            cold_status,
            verify_user,
            repair_user,
            read_audit,
            verify_audit,
            cancel_task,
            catalog_status,
            sync_catalog,
            search_catalog,
            export_user,
        )
    };
}

macro_rules! command_names {
    ($($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

/// Every command's name, as the webview invokes it.
// The app itself only uses it through the tests; build.rs uses it for real.
#[allow(dead_code)]
pub const COMMANDS: &[&str] = for_each_command!(command_names);
