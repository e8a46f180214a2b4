//! Archive Desk: the desktop shell. Thin on purpose: the commands declared
//! in `command_list.rs` map IPC calls to core functions (`commands/`);
//! the UI in `ui/` talks only through them.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

// First: its macros are in scope for the modules below it.
#[macro_use]
mod command_list;
mod commands;
mod contract;
mod diagnostics;
mod files;
mod ipc;
mod state;
mod tasks;

use tauri::Manager;

/// The handler list from the one command table (`command_list.rs`).
macro_rules! command_handlers {
    ($( $name:ident $args:tt $(channel $channel:tt)? -> $result:ty; )*) => {
        tauri::generate_handler![$(contract::$name),*]
    };
}

/// The directory of the profiles file: one running app per such directory
/// (a second launch with the same one focuses the first; tests, each with
/// a directory of their own, run side by side).
fn config_dir() -> std::path::PathBuf {
    match archive_desk_core::Profiles::default_location() {
        Ok(profiles) => profiles.path().parent().map(Into::into).unwrap_or_default(),
        Err(_) => std::path::PathBuf::new(),
    }
}

/// The single-instance D-Bus name (Linux): the app's identifier and a hash
/// of the config directory. macOS and Windows key the instance on the
/// identifier alone.
fn instance_id(identifier: &str, config_dir: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(config_dir.as_os_str().as_encoded_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    // D-Bus name elements may not start with a digit.
    format!("{}.i{hex}", identifier.replace('-', "_"))
}

/// Linux: the page closing itself (`window.close()`, or WebDriver closing
/// its browsing context) closes the window, as a browser does, so the app
/// exits. wry answers the page's "close" by destroying the webview alone:
/// the empty window and the process lived on, the window state was never
/// saved, and a relaunch met the old instance (it holds the single-instance
/// name) and handed over to it. wry's handler is the first and destroying
/// drops every later one, so the webview's "destroy" is what is watched.
#[cfg(target_os = "linux")]
fn close_window_with_its_page<R: tauri::Runtime>(window: &tauri::WebviewWindow<R>) -> tauri::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use webkit2gtk::glib::prelude::ObjectExt;

    // Set when the window itself is closing (it then destroys the webview too).
    let closing = Arc::new(AtomicBool::new(false));
    let seen = closing.clone();
    window.on_window_event(move |event| {
        if matches!(
            event,
            tauri::WindowEvent::CloseRequested { .. } | tauri::WindowEvent::Destroyed
        ) {
            seen.store(true, Ordering::SeqCst);
        }
    });
    let owner = window.clone();
    window.with_webview(move |webview| {
        webview.inner().connect_local("destroy", false, move |_| {
            if !closing.load(Ordering::SeqCst) {
                diagnostics::note(format_args!("the page closed: closing its window"));
                let _ = owner.close();
            }
            None
        });
    })
}

fn main() {
    diagnostics::start_clock();
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("archive-desk {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let context = tauri::generate_context!("../tauri.conf.json");
    let config_dir = config_dir();
    // The window state is written there on exit, by a plugin that does not
    // create it: before the first profile is saved it may not exist yet.
    if let Err(e) = std::fs::create_dir_all(&config_dir) {
        eprintln!("archive-desk: cannot create {}: {e}", config_dir.display());
    }
    let instance = instance_id(&context.config().identifier, &config_dir);
    tauri::Builder::default()
        // First, so a second launch exits before it sets anything else up.
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .dbus_id(instance)
                .callback(|app, _args, _cwd| {
                    diagnostics::note(format_args!("second launch: focusing the open window"));
                    if let Some(window) = app.get_webview_window("main") {
                        let _ = window.unminimize();
                        let _ = window.show();
                        let _ = window.set_focus();
                    }
                })
                .build(),
        )
        .plugin(diagnostics::log_plugin())
        .plugin(
            tauri_plugin_window_state::Builder::new()
                // Kept beside the profiles, not in Tauri's own config dir.
                .with_filename(config_dir.join("window-state.json").to_string_lossy())
                .with_state_flags(
                    tauri_plugin_window_state::StateFlags::SIZE
                        | tauri_plugin_window_state::StateFlags::POSITION
                        | tauri_plugin_window_state::StateFlags::MAXIMIZED,
                )
                .build(),
        )
        .plugin(tauri_plugin_dialog::init())
        .setup(|app| {
            // The window and its webview were built just before.
            diagnostics::note(format_args!("setup begins at {} ms", diagnostics::since_start_ms()));
            match state::AppState::new(app.handle().clone()) {
                Ok(state) => {
                    let store = state.profiles.keychain().store().clone();
                    diagnostics::note(format_args!(
                        "start version={} os={} {} keychain={:?} persists={} at {} ms",
                        env!("CARGO_PKG_VERSION"),
                        std::env::consts::OS,
                        std::env::consts::ARCH,
                        store.name,
                        store.persists,
                        diagnostics::since_start_ms()
                    ));
                    // While the webview starts, not after the page asks.
                    state.open_early();
                    app.manage(state)
                }
                Err(e) => {
                    eprintln!("archive-desk: {e}");
                    std::process::exit(1);
                }
            };
            #[cfg(target_os = "linux")]
            for window in app.webview_windows().values() {
                close_window_with_its_page(window)?;
            }
            Ok(())
        })
        // The launch's timeline in the log: when the webview starts and
        // ends loading the page (never its URL).
        .on_page_load(|_, payload| {
            let event = match payload.event() {
                tauri::webview::PageLoadEvent::Started => "started",
                tauri::webview::PageLoadEvent::Finished => "finished",
            };
            diagnostics::note(format_args!(
                "page load {event} at {} ms",
                diagnostics::since_start_ms()
            ));
        })
        .invoke_handler(for_each_command!(command_handlers))
        .build(context)
        .expect("Archive Desk failed to start")
        // After the plugins' own handlers (the window state is saved by
        // then): the line the e2e's `App::close` waits for.
        .run(|_, event| {
            if let tauri::RunEvent::Exit = event {
                diagnostics::note(format_args!("exit"));
            }
        });
}

#[cfg(test)]
mod tests {
    use super::command_list::COMMANDS;
    use super::ipc::AuditAction;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn read(relative: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn commands() -> BTreeSet<String> {
        let set: BTreeSet<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
        assert_eq!(set.len(), COMMANDS.len(), "a command is listed twice");
        set
    }

    #[test]
    fn the_capability_allows_exactly_the_commands() {
        let capability: serde_json::Value = serde_json::from_str(&read("capabilities/default.json")).unwrap();
        let allowed: BTreeSet<String> = capability["permissions"]
            .as_array()
            .expect("a permissions list")
            .iter()
            .map(|p| p.as_str().expect("a permission name").to_owned())
            .collect();
        let expected: BTreeSet<String> = commands()
            .iter()
            .map(|c| format!("allow-{}", c.replace('_', "-")))
            .collect();
        assert_eq!(allowed, expected, "capabilities/default.json and COMMANDS differ");
    }

    /// The names in `call("name", ...)` calls (the UI's one typed call of
    /// a command, `ui/src/ipc.ts`).
    fn called_names(ts: &str) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (at, _) in ts.match_indices("call(") {
            if ts[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            {
                continue;
            }
            let args = &ts[at + "call(".len()..];
            // Skips the definition of `call` itself, `call<K ...>(name: K, ...)`.
            if let Some((name, _)) = args.trim_start().strip_prefix('"').and_then(|a| a.split_once('"')) {
                names.insert(name.to_owned());
            }
        }
        names
    }

    /// The UI's TypeScript sources (not tests, not the generated bindings).
    fn ui_sources() -> Vec<(String, String)> {
        fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if path.is_dir() {
                    if name != "bindings" {
                        walk(&path, out);
                    }
                } else if name.ends_with(".ts") && !name.ends_with(".test.ts") {
                    out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src"), &mut out);
        assert!(out.len() > 5, "the UI sources were not found");
        out
    }

    #[test]
    fn the_ui_calls_exactly_the_commands() {
        let sources = ui_sources();
        let called: BTreeSet<String> = sources.iter().flat_map(|(_, ts)| called_names(ts)).collect();
        let commands = commands();
        let unknown: Vec<_> = called.difference(&commands).collect();
        let unused: Vec<_> = commands.difference(&called).collect();
        assert!(unknown.is_empty(), "the UI calls commands not in COMMANDS: {unknown:?}");
        assert!(unused.is_empty(), "commands the UI never calls: {unused:?}");
        // Every command goes through the one typed `call` of ipc.ts.
        for (path, ts) in &sources {
            let invokes = ts.matches("invoke(").count() + ts.matches("invoke<").count();
            let allowed = usize::from(path.ends_with("ui/src/ipc.ts"));
            assert_eq!(invokes, allowed, "{path}: `invoke` outside the one typed call");
        }
    }

    /// The string literals that follow each of `prefixes` in `text`.
    fn literals_after(text: &str, prefixes: &[&str]) -> BTreeSet<String> {
        prefixes
            .iter()
            .flat_map(|prefix| {
                text.match_indices(prefix)
                    .map(move |(at, _)| &text[at + prefix.len()..])
            })
            .filter_map(|rest| rest.split_once('"').map(|(literal, _)| literal.to_owned()))
            .collect()
    }

    /// The core writes audit actions as string literals (`self.record("thaw", ...)`),
    /// so the audit view's filter (`AuditAction`, generated into the UI's
    /// `AuditActions`) is checked against its sources.
    #[test]
    fn the_audit_filter_offers_every_action_the_core_records() {
        let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/core/src");
        let mut sources = String::new();
        // Modules split into directories (`session/`) included.
        let mut dirs = vec![core];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    sources += &std::fs::read_to_string(&path).unwrap();
                }
            }
        }
        let recorded = literals_after(
            &sources,
            &[
                ".record(\"",
                ".record_intent(\"",
                ".refusal(\"",
                ".record_outcome(&operation, \"",
            ],
        );
        assert!(
            recorded.contains("export_user") && recorded.contains("delete"),
            "{recorded:?}"
        );
        let offered: BTreeSet<String> = AuditAction::ALL.iter().map(|a| a.as_str().to_owned()).collect();
        assert_eq!(
            offered, recorded,
            "AuditAction::ALL (src-tauri/src/ipc.rs) and the core's actions differ"
        );
    }

    #[test]
    fn each_config_dir_is_its_own_instance_with_a_valid_dbus_name() {
        let a = super::instance_id("dev.archive-desk.desktop", Path::new("/home/a/.config/archive-desk"));
        let b = super::instance_id("dev.archive-desk.desktop", Path::new("/tmp/e2e/config"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            super::instance_id("dev.archive-desk.desktop", Path::new("/home/a/.config/archive-desk"))
        );
        for name in [&a, &b] {
            let name = format!("{name}.SingleInstance");
            for element in name.split('.') {
                assert!(
                    !element.is_empty() && !element.starts_with(|c: char| c.is_ascii_digit()),
                    "{name}"
                );
                assert!(element.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{name}");
            }
        }
    }

    #[test]
    fn called_names_are_read_from_calls_only() {
        let ts = r#"export function call<K extends CommandName>(name: K, args: Args<K>) {
            a: () => call("restore_conversation", { user }),
            b: () => call( "choose_file", {}),
            c: () => recall("not_a_call"),
            d: () => x.call("not_one_either"),"#;
        let expected: BTreeSet<String> = ["restore_conversation", "choose_file"].map(String::from).into();
        assert_eq!(called_names(ts), expected);
    }
}
