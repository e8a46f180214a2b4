//! Archive Desk: the desktop shell. Thin on purpose: `commands.rs` maps IPC
//! calls to core functions; the UI in `ui/` talks only through them.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod files;
mod ipc;

fn main() {
    let state = match commands::AppState::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("archive-desk: {e}");
            std::process::exit(1);
        }
    };
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::list_profiles,
            commands::save_profile,
            commands::set_secret,
            commands::import_env,
            commands::choose_file,
            commands::remove_profile,
            commands::test_profile,
            commands::open_profile,
            commands::list_users,
            commands::user_conversations,
            commands::open_conversation,
            commands::restore_conversation,
            commands::export_conversation,
            commands::delete_conversations,
            commands::thaw_conversation,
            commands::cold_status,
            commands::verify_user,
            commands::repair_user,
            commands::read_audit,
            commands::verify_audit,
            commands::cancel_task,
            commands::catalog_status,
            commands::sync_catalog,
            commands::search_catalog,
            commands::export_user,
        ])
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("Archive Desk failed to start");
}
