//! The IPC contract, expanded from the one table in `command_list.rs`: a
//! `#[tauri::command]` per entry, taking the declared arguments (and
//! channel) and calling the function of the same name in `commands.rs`
//! with them, so a command whose types differ from its declaration does
//! not compile (and a test checks its parameter names, which the
//! compiler cannot); and (under `cargo test`) the TypeScript schema of the same
//! table, `ui/src/bindings/commands.ts`, with the enums the UI offers as
//! choices, `ui/src/bindings/enums.ts`.

use serde::de::DeserializeOwned;
use tauri::ipc::{Channel, CommandArg, CommandItem, InvokeError};
use tauri::{Runtime, State};

use archive_desk_core::audit::{AuditExportFormat, AuditExportReport};
use archive_desk_core::browse::{UserBatch, UserConversations};
use archive_desk_core::catalog::CatalogStats;
use archive_desk_core::connection::Check;
use archive_desk_core::customer_export::CustomerExportReport;
use archive_desk_core::erase::{EraseProgress, ReceiptVerification};
use archive_desk_core::export_user::{ExportFormat, ExportProgress, ExportUserReport};
use archive_desk_core::integrity::{RepairReport, Verification};
use archive_desk_core::message_search::{MessageSearchReport, MessageSearchUpdate};
use archive_desk_core::profile::{ImportReport, Profile, ProfileView, SaveReport};
use archive_desk_core::restore::{LiveStatus, RestorePreview, RestoreReport};
use archive_desk_core::session::{BulkProgress, BulkRestoreReport, ExportReport, Selection};
use archive_desk_core::{
    AuditRead, AuditVerification, Audited, ColdStatus, DeleteReport, ErasureReport, SearchLimit, SearchOffset,
    SearchPage, SearchText, SecretInput, SecretKind, SyncProgress, SyncReport, ThawDays, ThawTier,
};

use crate::diagnostics::Diagnostics;
use crate::files::{ChosenFile, FilePurpose};
use crate::ipc::{AuditQuery, CmdResult, ConversationView, MessageView, OpenedProfile, UsersListed};
use crate::state::AppState;

/// A command argument as the page sent it. One that does not deserialize —
/// a number outside its core bound (`ThawDays`, `SearchLimit`…), an unknown
/// enum value — is answered like every other error, as the core's
/// `{code: "invalid_input", message}`, instead of Tauri's bare string.
pub struct Arg<T>(T);

impl<'de, R: Runtime, T: DeserializeOwned> CommandArg<'de, R> for Arg<T> {
    fn from_command(command: CommandItem<'de, R>) -> Result<Self, InvokeError> {
        let (name, key) = (command.name, command.key);
        T::deserialize(command).map(Arg).map_err(|e| {
            let error = archive_desk_core::Error::InvalidInput(format!("{name}: argument {key}: {e}"));
            InvokeError::from(crate::ipc::report(error))
        })
    }
}

macro_rules! tauri_commands {
    ($(
        $name:ident ( $($arg:ident : $type:ty),* $(,)? )
        $(channel ( $channel:ident : $message:ty ))?
        -> $result:ty;
    )*) => {
        $(
            #[tauri::command]
            #[allow(clippy::too_many_arguments)]
            pub async fn $name(
                state: State<'_, AppState>,
                $($arg: Arg<$type>,)*
                $($channel: Channel<$message>,)?
            ) -> CmdResult<$result> {
                let started = std::time::Instant::now();
                let result = crate::commands::$name(&state, $($arg.0,)* $($channel,)?).await;
                // The diagnostic log: the command, its time, its error code.
                let code = result.as_ref().err().map(|e| e.code);
                state.errors.record(stringify!($name), started.elapsed(), code);
                result
            }
        )*
    };
}

for_each_command!(tauri_commands);

#[cfg(test)]
mod typescript {
    //! The TypeScript side of the table: for each command its arguments
    //! object (keys in camelCase, as `#[tauri::command]` reads them) and
    //! its result, naming the types ts-rs generates next to it.

    use std::collections::BTreeMap;
    use std::fmt::Write;
    use std::path::PathBuf;

    use ts_rs::{Config, Dependency, ExportError, TypeVisitor, TS};

    use super::*;
    use archive_desk_core::browse::EmailSource;
    use archive_desk_core::profile::RestoreMode;

    use crate::ipc::AuditAction;

    type Export = fn(&Config) -> Result<(), ExportError>;

    /// The types a schema names, to import, by TypeScript name: their
    /// file, and how to write it (with the files it imports in turn).
    struct Imports<'a> {
        cfg: &'a Config,
        files: BTreeMap<String, (PathBuf, Export)>,
    }

    impl TypeVisitor for Imports<'_> {
        fn visit<T: TS + 'static + ?Sized>(&mut self) {
            if let Some(dep) = Dependency::from_ty::<T>(self.cfg) {
                self.files.insert(dep.ts_name, (dep.output_path, T::export_all));
            }
            // `Vec<X>`, `Option<X>`, `Audited<X>`: X too.
            T::visit_generics(self);
        }
    }

    impl Imports<'_> {
        /// The TypeScript of `T`, remembering what it names.
        fn ts<T: TS + 'static + ?Sized>(&mut self) -> String {
            self.visit::<T>();
            T::name(self.cfg)
        }
    }

    /// `allow_missing_columns` -> `allowMissingColumns`.
    fn camel_case(snake: &str) -> String {
        let mut out = String::new();
        for (i, part) in snake.split('_').enumerate() {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) if i > 0 => {
                    out.extend(first.to_uppercase());
                    out.push_str(chars.as_str());
                }
                _ => out.push_str(part),
            }
        }
        out
    }

    /// One command: its name, its arguments (TypeScript name, type) and its result.
    type Entry = (&'static str, Vec<(String, String)>, String);

    macro_rules! typescript_entries {
        ($(
            $name:ident ( $($arg:ident : $type:ty),* $(,)? )
            $(channel ( $channel:ident : $message:ty ))?
            -> $result:ty;
        )*) => {
            fn entries(imports: &mut Imports<'_>) -> Vec<Entry> {
                vec![$(
                    (
                        stringify!($name),
                        vec![
                            $((camel_case(stringify!($arg)), imports.ts::<$type>()),)*
                            $((camel_case(stringify!($channel)), format!("Channel<{}>", imports.ts::<$message>())),)?
                        ],
                        imports.ts::<$result>(),
                    ),
                )*]
            }
        };
    }

    for_each_command!(typescript_entries);

    const GENERATED: &str =
        "// Generated from src-tauri/src/command_list.rs by `cargo test -p archive-desk`. Do not edit this file manually.\n";

    fn import_lines(imports: &Imports<'_>) -> String {
        imports
            .files
            .iter()
            .map(|(name, (path, _))| {
                let module = path.with_extension("");
                format!("import type {{ {name} }} from \"./{}\";\n", module.display())
            })
            .collect()
    }

    /// `ui/src/bindings/commands.ts`.
    fn commands_ts(imports: &mut Imports<'_>) -> String {
        let entries = entries(imports);
        let mut out = String::from(GENERATED);
        out += "import type { Channel } from \"@tauri-apps/api/core\";\n";
        out += &import_lines(imports);
        out += "\n/**\n * Every IPC command the webview may call: the arguments it takes (keys as\n";
        out += " * the command reads them) and what it resolves to; a failure rejects with\n";
        out += " * an `ErrorReport`.\n */\nexport type Commands = {\n";
        for (name, args, result) in &entries {
            let args = if args.is_empty() {
                "Record<string, never>".to_owned()
            } else {
                let fields: Vec<String> = args.iter().map(|(k, t)| format!("{k}: {t}")).collect();
                format!("{{ {} }}", fields.join(", "))
            };
            writeln!(out, "  {name}: {{ args: {args}, result: {result} }},").unwrap();
        }
        out += "};\n\nexport type CommandName = keyof Commands;\n";
        out
    }

    /// Every value of an enum, in declaration order; naming them in an
    /// exhaustive `match` makes a new variant fail to compile here until
    /// it is listed.
    macro_rules! all_values {
        ($enum:ident: $($variant:ident),+) => {{
            fn listed(value: $enum) {
                match value {
                    $($enum::$variant)|+ => {}
                }
            }
            let all = [$($enum::$variant),+];
            all.iter().copied().for_each(listed);
            all
        }};
    }

    /// `export const Plural = { Variant: "serialized", ... } as const`.
    fn enum_object<T: TS + serde::Serialize + std::fmt::Debug + 'static>(
        imports: &mut Imports<'_>,
        constant: &str,
        values: &[T],
    ) -> String {
        let ts = imports.ts::<T>();
        let mut out = format!("\n/** Every `{ts}`, by its Rust name. */\nexport const {constant} = {{\n");
        for value in values {
            let json = serde_json::to_string(value).expect("an enum value serializes");
            writeln!(out, "  {value:?}: {json},").unwrap();
        }
        writeln!(out, "}} as const satisfies Record<string, {ts}>;").unwrap();
        out
    }

    /// `ui/src/bindings/enums.ts`: the values of the enums the UI offers
    /// as choices or passes as arguments, so it never spells one.
    fn enums_ts(imports: &mut Imports<'_>) -> String {
        let objects = [
            enum_object(imports, "SecretKinds", &SecretKind::ALL),
            enum_object(imports, "ThawTiers", &all_values!(ThawTier: Expedited, Standard, Bulk)),
            enum_object(imports, "ExportFormats", &all_values!(ExportFormat: Json, JsonLines)),
            enum_object(
                imports,
                "FilePurposes",
                &all_values!(
                    FilePurpose: ExportConversation,
                    ExportUser,
                    ExportForCustomer,
                    ImportEnv,
                    EraseReceipt,
                    OpenReceipt,
                    ExportAudit
                ),
            ),
            enum_object(imports, "RestoreModes", &all_values!(RestoreMode: Rest, Postgres)),
            enum_object(imports, "AuditActions", &AuditAction::ALL),
            enum_object(
                imports,
                "AuditExportFormats",
                &all_values!(AuditExportFormat: Csv, Json),
            ),
            enum_object(
                imports,
                "EmailSources",
                &all_values!(EmailSource: Index, Guessed, Unknown),
            ),
        ];
        let mut out = String::from(GENERATED);
        out += &import_lines(imports);
        out += &objects.concat();
        out
    }

    /// Write every type the schemas name (and what those name) to the
    /// bindings directory, so `cargo test -p archive-desk` writes the whole
    /// IPC contract, the core's types included.
    fn export_named_types(imports: &Imports<'_>) {
        for (name, (_, export)) in &imports.files {
            export(imports.cfg).unwrap_or_else(|e| panic!("exporting {name}: {e}"));
        }
    }

    /// Write `file` under the bindings directory when its content changed.
    fn write(cfg: &Config, file: &str, content: &str) {
        let path = cfg.out_dir().join(file);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(content) {
            std::fs::create_dir_all(cfg.out_dir()).unwrap();
            std::fs::write(&path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }

    #[test]
    fn the_schema_and_the_enums_are_written_to_the_bindings() {
        let cfg = Config::from_env();
        let imports = || Imports {
            cfg: &cfg,
            files: BTreeMap::new(),
        };
        let (mut for_commands, mut for_enums) = (imports(), imports());
        let commands = commands_ts(&mut for_commands);
        let enums = enums_ts(&mut for_enums);
        write(&cfg, "commands.ts", &commands);
        write(&cfg, "enums.ts", &enums);
        export_named_types(&for_commands);
        export_named_types(&for_enums);
        assert!(cfg.out_dir().join("Audited.ts").is_file());
        // The declared arguments, channels and results, as the webview sees them.
        for line in [
            "  list_profiles: { args: Record<string, never>, result: Array<ProfileView> },",
            "  list_users: { args: { task: string, onBatch: Channel<UserBatch> }, result: UsersListed },",
            "  choose_file: { args: { purpose: FilePurpose, suggestedName: string }, result: ChosenFile | null },",
            "  delete_conversations: { args: { user: string, ids: Array<string> }, result: Audited<DeleteReport> },",
            "  set_secret: { args: { name: string, kind: SecretKind, value: SecretInput }, result: null },",
        ] {
            assert!(commands.lines().any(|l| l == line), "missing {line:?} in:\n{commands}");
        }
        for import in [
            "import type { Audited } from \"./Audited\";",
            "import type { DeleteReport } from \"./DeleteReport\";",
            "import type { ExportProgress } from \"./ExportProgress\";",
        ] {
            assert!(commands.contains(import), "missing {import:?}");
        }
        assert_eq!(
            commands.matches(": { args: ").count(),
            crate::command_list::COMMANDS.len()
        );
        assert!(enums.contains("  JsonLines: \"json_lines\",\n"), "{enums}");
        assert!(
            enums.contains("  AwsSecretAccessKey: \"aws-secret-access-key\",\n"),
            "{enums}"
        );
    }

    macro_rules! declared_parameters {
        ($(
            $name:ident ( $($arg:ident : $type:ty),* $(,)? )
            $(channel ( $channel:ident : $message:ty ))?
            -> $result:ty;
        )*) => {
            /// Every command with the names of its parameters, as declared.
            fn declared_parameters() -> Vec<(&'static str, Vec<&'static str>)> {
                vec![$(
                    (stringify!($name), vec!["state", $(stringify!($arg),)* $(stringify!($channel),)?]),
                )*]
            }
        };
    }

    for_each_command!(declared_parameters);

    /// The parameter names of `pub async fn name(...)` in `source`.
    fn parameters_in(source: &str, name: &str) -> Vec<String> {
        let (_, rest) = source
            .split_once(&format!("pub async fn {name}("))
            .unwrap_or_else(|| panic!("no `pub async fn {name}(` in commands.rs"));
        // Split the list at the commas outside `<...>`, up to its `)`.
        let (mut depth, mut start, mut names) = (0, 0, Vec::new());
        for (at, c) in rest.char_indices() {
            match c {
                '<' | '(' => depth += 1,
                '>' => depth -= 1,
                ')' if depth > 0 => depth -= 1,
                ',' | ')' if depth == 0 => {
                    if let Some((parameter, _)) = rest[start..at].split_once(':') {
                        names.push(parameter.trim().to_owned());
                    }
                    if c == ')' {
                        return names;
                    }
                    start = at + 1;
                }
                _ => {}
            }
        }
        panic!("the parameters of {name} do not end");
    }

    /// The generated commands pass the arguments by position; the names
    /// must match too, or two `String`s in the wrong order would compile.
    #[test]
    fn commands_rs_takes_the_declared_parameters_in_order() {
        let source = include_str!("commands.rs");
        for (name, declared) in declared_parameters() {
            assert_eq!(
                parameters_in(source, name),
                declared,
                "the parameters of commands::{name}"
            );
        }
        let swapped = "pub async fn open_conversation(state: &AppState, id: String, user: String) -> R {";
        assert_eq!(parameters_in(swapped, "open_conversation"), ["state", "id", "user"]);
    }

    #[test]
    fn argument_names_are_camel_case_as_tauri_reads_them() {
        assert_eq!(camel_case("allow_missing_columns"), "allowMissingColumns");
        assert_eq!(camel_case("on_batch"), "onBatch");
        assert_eq!(camel_case("user"), "user");
    }
}
