//! Archive Desk: the desktop shell. Thin on purpose: `commands.rs` maps IPC
//! calls to core functions; the UI in `ui/` talks only through them.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

// First: its macros are in scope for the modules below it.
#[macro_use]
mod command_names;
mod commands;
mod files;
mod ipc;

/// The handler list from the one command list (`command_names.rs`).
macro_rules! command_handlers {
    ($($name:ident),* $(,)?) => {
        tauri::generate_handler![$(commands::$name),*]
    };
}

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
        .invoke_handler(for_each_command!(command_handlers))
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("Archive Desk failed to start");
}

#[cfg(test)]
mod tests {
    use super::command_names::COMMANDS;
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

    /// The names in `invoke<T>("name"` and `invoke("name"` calls.
    fn invoked_names(ts: &str) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (at, _) in ts.match_indices("invoke") {
            if ts[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let mut rest = &ts[at + "invoke".len()..];
            if rest.starts_with('<') {
                // Skip the type argument, which may nest (`Audited<T>`).
                let mut depth = 0;
                let Some(end) = rest.find(|c| {
                    depth += match c {
                        '<' => 1,
                        '>' => -1,
                        _ => 0,
                    };
                    depth == 0
                }) else {
                    continue;
                };
                rest = &rest[end + 1..];
            }
            let Some(args) = rest.strip_prefix('(') else { continue };
            let name = args
                .trim_start()
                .strip_prefix('"')
                .and_then(|a| a.split_once('"'))
                .unwrap_or_else(|| panic!("an invoke without a literal name: {}", &args[..args.len().min(60)]));
            names.insert(name.0.to_owned());
        }
        names
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

    #[test]
    fn the_ui_invokes_exactly_the_commands() {
        let invoked = invoked_names(&read("../ui/src/ipc.ts"));
        let commands = commands();
        let unknown: Vec<_> = invoked.difference(&commands).collect();
        let unused: Vec<_> = commands.difference(&invoked).collect();
        assert!(
            unknown.is_empty(),
            "ui/src/ipc.ts invokes commands not in COMMANDS: {unknown:?}"
        );
        assert!(
            unused.is_empty(),
            "commands never invoked from ui/src/ipc.ts: {unused:?}"
        );
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
    /// so the UI's filter list is checked against its sources.
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
        let audit_ts = read("../ui/src/views/audit.ts");
        let (_, list) = audit_ts
            .split_once("export const AUDIT_ACTIONS = [")
            .expect("AUDIT_ACTIONS in ui/src/views/audit.ts");
        let (list, _) = list.split_once(']').unwrap();
        let offered: BTreeSet<String> = list.split(',').map(|a| a.trim().trim_matches('"').to_owned()).collect();
        assert_eq!(
            offered, recorded,
            "AUDIT_ACTIONS in ui/src/views/audit.ts and the core's actions differ"
        );
    }

    #[test]
    fn invoked_names_are_read_from_typed_and_untyped_calls() {
        let ts = r#"import { Channel, invoke } from "x";
            a: () => invoke<Audited<RestoreReport>>("restore_conversation", { user }),
            b: () => invoke<ChosenFile | null>( "choose_file"),
            c: () => invoke("verify_audit"),
            d: () => reinvoke("not_a_call"),"#;
        let expected: BTreeSet<String> = ["restore_conversation", "choose_file", "verify_audit"]
            .map(String::from)
            .into();
        assert_eq!(invoked_names(ts), expected);
    }
}
