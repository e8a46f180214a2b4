// The config lives at the top level (see docs/ARCHITECTURE.md); the app's
// own commands are declared here so each gets an `allow-...` permission and
// only those listed in capabilities/ can be called from the webview.
fn main() {
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(&[
            "list_profiles",
            "save_profile",
            "set_secret",
            "import_env",
            "choose_file",
            "remove_profile",
            "test_profile",
            "open_profile",
            "list_users",
            "user_conversations",
            "open_conversation",
            "restore_conversation",
            "export_conversation",
            "delete_conversations",
            "thaw_conversation",
            "cold_status",
            "verify_user",
            "repair_user",
            "read_audit",
            "verify_audit",
            "cancel_task",
            "catalog_status",
            "sync_catalog",
            "search_catalog",
            "export_user",
        ]));
    tauri_build::try_build(attributes).expect("tauri build configuration");
}
