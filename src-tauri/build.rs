// The config lives at the top level (see docs/ARCHITECTURE.md). The app's
// own commands come from src/command_list.rs, so each gets an `allow-...`
// permission and only those listed in capabilities/ can be called from the
// webview.
include!("src/command_list.rs");

fn main() {
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri build configuration");
}
