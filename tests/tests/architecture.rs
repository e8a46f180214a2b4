//! `docs/ARCHITECTURE.md` is the code map: every source file of the repo is
//! named in it, so a file added without a word about it fails here.
//!
//! Source files: Rust under `crates/`, `src-tauri/src/`, `tests/src/`,
//! `tests/tests/`, `tests/e2e/` and `fuzz/`; TypeScript under `ui/src/` (not the
//! generated `ui/src/bindings/`); `scripts/*.sh`; `sql/*.sql`;
//! `tests/supabase/*.sql`; every file in `tests/servers/`. They come from
//! `git ls-files` (untracked files do not count), or from a walk of those
//! directories where git is unavailable.
//!
//! The matching rule: a file is named when the doc contains
//! 1. its path from the repo root (`crates/cli/src/text.rs`), or
//! 2. in a section whose heading's first `code span` is a directory the file
//!    lies under (`### `crates/core``), a code span that ends its path at a
//!    `/` boundary (`layout.rs`, `restore/verify.rs`, `src/commands.rs`).
//!
//! A section runs from its heading to the next heading of any level.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Is `path` (relative, `/`-separated) a source file the doc must name?
fn is_source(path: &str) -> bool {
    let ext = |e: &str| path.ends_with(e);
    let directly_in = |dir: &str| {
        path.strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| !name.contains('/'))
    };
    let under = |dir: &str| path.starts_with(dir) && path[dir.len()..].starts_with('/');
    (ext(".rs")
        && (under("crates")
            || under("src-tauri/src")
            || under("tests/src")
            || under("tests/tests")
            || under("tests/e2e")
            || under("fuzz")))
        || (ext(".ts") && under("ui/src") && !under("ui/src/bindings"))
        || (ext(".sh") && directly_in("scripts"))
        || (ext(".sql") && (directly_in("sql") || directly_in("tests/supabase")))
        || directly_in("tests/servers")
}

/// The repo's files, relative and `/`-separated: tracked ones from git that
/// still exist, or every file of the source directories without git.
fn repo_files(root: &Path) -> Vec<String> {
    let tracked = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty());
    match tracked {
        Some(out) => String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .filter(|p| !p.is_empty() && root.join(p).is_file())
            .map(str::to_owned)
            .collect(),
        None => walked_files(root),
    }
}

/// Every file under the directories that hold sources (the fallback).
fn walked_files(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["crates", "src-tauri/src", "tests", "ui/src", "scripts", "sql", "fuzz"] {
        walk(root, &root.join(dir), &mut files);
    }
    files
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Build output, installed packages and hidden dirs are not sources.
        if name.starts_with('.') || name == "target" || name == "node_modules" || name == "dist" {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel: Vec<_> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            files.push(rel.join("/"));
        }
    }
}

/// The inline code spans of `line` (text between single backticks).
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// The doc's sections: the heading's first code span (if any) and the code
/// spans of the section's lines.
fn sections(doc: &str) -> Vec<(Option<&str>, Vec<&str>)> {
    let mut out: Vec<(Option<&str>, Vec<&str>)> = vec![(None, Vec::new())];
    for line in doc.lines() {
        if line.starts_with('#') {
            out.push((code_spans(line).first().copied(), Vec::new()));
        } else if let Some((_, spans)) = out.last_mut() {
            spans.extend(code_spans(line));
        }
    }
    out
}

/// Does `doc` name `path` by the rule in this file's header?
fn names(doc: &str, path: &str) -> bool {
    if contains_path(doc, path) {
        return true;
    }
    sections(doc).iter().any(|(dir, spans)| {
        dir.is_some_and(|d| path.starts_with(d) && path[d.len()..].starts_with('/'))
            && spans
                .iter()
                .any(|span| !span.is_empty() && path.ends_with(span) && path[..path.len() - span.len()].ends_with('/'))
    })
}

/// `path` occurs in `doc` as a whole path, not as the tail of a longer one
/// (`tests/audit.rs` inside `crates/cli/tests/audit.rs`).
fn contains_path(doc: &str, path: &str) -> bool {
    let is_path_char = |c: char| c.is_alphanumeric() || "/._-".contains(c);
    doc.match_indices(path).any(|(at, _)| {
        let before = doc[..at].chars().next_back();
        let after = doc[at + path.len()..].chars().next();
        !before.is_some_and(is_path_char) && !after.is_some_and(|c| c.is_alphanumeric() || "/_-".contains(c))
    })
}

#[test]
fn every_source_file_is_named_in_the_architecture_doc() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc_path = root.join("docs/ARCHITECTURE.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_else(|e| panic!("{}: {e}", doc_path.display()));
    let mut sources: Vec<String> = repo_files(&root).into_iter().filter(|p| is_source(p)).collect();
    sources.sort();
    // Not vacuous: the listing found the repo.
    for known in [
        "crates/core/src/lib.rs",
        "src-tauri/src/main.rs",
        "ui/src/main.ts",
        "scripts/test.sh",
    ] {
        assert!(
            sources.iter().any(|p| p == known),
            "{known} not among the listed files: {sources:?}"
        );
    }
    let missing: Vec<&String> = sources.iter().filter(|p| !names(&doc, p)).collect();
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md does not name these source files (add a row or a sentence; \
         the matching rule is in tests/tests/architecture.rs):\n  {}",
        missing.iter().map(|p| p.as_str()).collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn the_matching_rule() {
    let doc = "Top: `scripts/demo.sh` and crates/cli/tests/audit.rs.\n\
               ### `crates/core` (core)\n\
               | `layout.rs` | `restore/verify.rs` |\n\
               ### `tests`\n\
               | `tests/store.rs` | `e2e/tests/app.rs` |\n\
               ## Rules\n\
               `session.rs`\n";
    // A whole path anywhere.
    assert!(names(doc, "scripts/demo.sh"));
    assert!(names(doc, "crates/cli/tests/audit.rs"));
    // Not the tail of a longer path.
    assert!(!names(doc, "tests/audit.rs"));
    // A suffix inside the section of a directory the file lies under.
    assert!(names(doc, "crates/core/src/layout.rs"));
    assert!(names(doc, "crates/core/src/restore/verify.rs"));
    assert!(names(doc, "tests/tests/store.rs"));
    assert!(names(doc, "tests/e2e/tests/app.rs"));
    // ...at a `/` boundary only.
    assert!(!names(doc, "crates/core/src/xlayout.rs"));
    // Not in another directory's section, nor after the section ends.
    assert!(!names(doc, "crates/cli/src/layout.rs"));
    assert!(!names(doc, "crates/core/src/session.rs"));
    // What counts as a source file.
    assert!(is_source("crates/core/src/restore/tls.rs"));
    assert!(is_source("fuzz/fuzz_targets/document.rs"));
    assert!(is_source("tests/servers/moto_atomic.py"));
    assert!(is_source("ui/src/views/users.ts"));
    assert!(!is_source("ui/src/bindings/UserSummary.ts"));
    assert!(!is_source("tests/e2e/Cargo.toml"));
    assert!(!is_source("scripts/sub/x.sh"));
    assert!(!is_source("crates-old/x.rs"));
}

#[test]
fn the_walk_finds_every_tracked_source_file() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let walked = walked_files(&root);
    let listed = repo_files(&root);
    // Without git both are the walk; with it, the walk (the fallback) must
    // not miss a tracked source file.
    let missed: Vec<&String> = listed.iter().filter(|p| is_source(p) && !walked.contains(p)).collect();
    assert!(missed.is_empty(), "the walk misses {missed:?}");
    assert!(walked.iter().any(|p| p == "crates/core/src/layout.rs"));
}

// ---------------------------------------------------------------------------
// No import cycles between the core's modules.
//
// A module is a top-level file or directory of `crates/core/src`
// (`session/record.rs` belongs to `session`). Module `a` depends on `b` when
// a file of `a` names a `crate::b` path — in a `use`, a `crate::{b::X, …}`
// group or inline, test code included — or a `crate::X` that `lib.rs`
// re-exports from `b`. Comment lines do not count.

use std::collections::{BTreeMap, BTreeSet};

/// The items of a `{…}` group that starts at `text[0]` (`{`), split at its
/// top-level commas; the text after the group.
fn group_items(text: &str) -> (Vec<&str>, &str) {
    let mut depth = 0;
    let mut items = Vec::new();
    let mut start = 1;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    items.push(&text[start..i]);
                    return (
                        items.into_iter().map(str::trim).filter(|s| !s.is_empty()).collect(),
                        &text[i + 1..],
                    );
                }
            }
            ',' if depth == 1 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    (items, "")
}

fn leading_ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Source without comment lines (doc comments name paths too).
fn code_lines(source: &str) -> String {
    source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segment of every `crate::` path in `source`.
fn crate_paths(source: &str) -> BTreeSet<String> {
    let code = code_lines(source);
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if rest.starts_with('{') {
            for item in group_items(rest).0 {
                out.insert(leading_ident(item).to_owned());
            }
        } else {
            out.insert(leading_ident(rest).to_owned());
        }
    }
    out.remove("");
    out
}

/// Names `lib.rs` re-exports, each with the module it comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let code = code_lines(lib);
    let mut out = BTreeMap::new();
    for statement in code.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = leading_ident(path).to_owned();
        let rest = &path[module.len()..];
        let Some(rest) = rest.strip_prefix("::") else { continue };
        let names: Vec<&str> = match rest.find('{') {
            Some(open) => group_items(&rest[open..]).0,
            None => vec![rest],
        };
        for name in names {
            let leaf = name.rsplit("::").next().unwrap_or(name);
            let leaf = leaf.rsplit(" as ").next().unwrap_or(leaf).trim();
            out.insert(leaf.to_owned(), module.clone());
        }
    }
    out
}

/// The module graph of `crates/core/src`: module -> the modules it uses.
fn core_module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let root = src.parent().unwrap().to_path_buf();
    let mut files = Vec::new();
    walk(&root, src, &mut files);
    let rel = |f: &String| f.strip_prefix("src/").map(str::to_owned);
    let files: Vec<String> = files.iter().filter_map(rel).filter(|f| f.ends_with(".rs")).collect();
    let module_of = |f: &str| f.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).filter(|m| m != "lib").collect();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexports = root_reexports(&lib);
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for file in &files {
        let module = module_of(file);
        if module == "lib" {
            continue;
        }
        let source = std::fs::read_to_string(src.join(file)).unwrap();
        for first in crate_paths(&source) {
            let target = if modules.contains(&first) {
                Some(first)
            } else {
                reexports.get(&first).cloned()
            };
            if let Some(target) = target.filter(|t| *t != module) {
                graph.get_mut(&module).unwrap().insert(target);
            }
        }
    }
    graph
}

/// Every cycle of `graph`, one per strongly connected group of modules,
/// written `a -> b -> a` (the shortest way round from its first module).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(m) = todo.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|m| (m, reach(m))).collect();
    let mut reported = BTreeSet::new();
    let mut out = Vec::new();
    for start in graph.keys() {
        if !reachable[start].contains(start) || reported.contains(start) {
            continue;
        }
        let group: BTreeSet<String> = reachable[start]
            .iter()
            .filter(|m| reachable[*m].contains(start))
            .cloned()
            .collect();
        reported.extend(group.iter().cloned());
        // Shortest way back to `start`, breadth first.
        let mut previous: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        'search: while let Some(m) = queue.pop_front() {
            for next in &graph[&m] {
                if next == start {
                    previous.insert(start.clone(), m.clone());
                    break 'search;
                }
                if group.contains(next) && !previous.contains_key(next) {
                    previous.insert(next.clone(), m.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        let mut path = vec![start.clone()];
        let mut at = previous[start].clone();
        while at != *start {
            path.push(at.clone());
            at = previous[&at].clone();
        }
        path[1..].reverse();
        path.push(start.clone());
        out.push(path.join(" -> "));
    }
    out
}

#[test]
fn the_core_has_no_import_cycles() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/core/src");
    let graph = core_module_graph(&src);
    // Not vacuous: the graph found the core and its uses.
    assert!(graph.len() >= 20, "{graph:?}");
    assert!(
        graph["session"].contains("store") && graph["profile"].contains("session"),
        "{graph:?}"
    );
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles between core modules (move the shared type to the module it belongs to):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_cycle_rule() {
    let source = "//! see crate::session for more\n\
                  use crate::{a::X, b, c::{D, E}};\n\
                  use crate::error::Result;\n\
                  fn f() -> crate::restore::Target { crate::Store::new() }\n\
                  let x = other_crate::ignored::Y;\n";
    let paths: Vec<String> = crate_paths(source).into_iter().collect();
    assert_eq!(paths, ["Store", "a", "b", "c", "error", "restore"]);
    let lib = "pub mod store;\npub use store::{Store, StoreConfig};\npub use catalog::CancellationToken;\n";
    let reexports = root_reexports(lib);
    assert_eq!(reexports["Store"], "store");
    assert_eq!(reexports["CancellationToken"], "catalog");

    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert!(cycles(&graph(&[("profile", "session"), ("session", "store")])).is_empty());
    assert_eq!(
        cycles(&graph(&[
            ("profile", "restore"),
            ("restore", "profile"),
            ("restore", "store")
        ])),
        ["profile -> restore -> profile"]
    );
    assert_eq!(
        cycles(&graph(&[
            ("profile", "session"),
            ("session", "restore"),
            ("restore", "profile"),
            ("store", "codec"),
            ("codec", "store"),
        ])),
        ["codec -> store -> codec", "profile -> session -> restore -> profile"]
    );
}
