//! `index --live`, `restore --dry-run` and bulk `restore` through the real
//! binary, on moto and the Supabase stand-in.

use std::process::{Command, Output};

use archive_desk_harness::crash::block_on;
use archive_desk_harness::fixtures::{self, IndexState};
use archive_desk_harness::supabase::SupabaseStack;
use archive_desk_harness::{fresh_store, servers, ServerKind};
use serde_json::Value;

const EMAIL: &str = "cli-bulk@example.com";

struct Setup {
    bucket: String,
    data: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Setup {
    fn run(&self, args: &[&str]) -> Output {
        let server = servers::shared(ServerKind::Moto);
        Command::new(env!("CARGO_BIN_EXE_archive-desk-cli"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.data.path())
            .env("ARCHIVE_DESK_DATA_DIR", self.data.path())
            .env("ARCHIVE_DESK_CONFIG_DIR", self.data.path())
            .envs(server.aws_env())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["--endpoint", &server.endpoint, "--bucket", &self.bucket])
            .args(args)
            .output()
            .expect("the CLI runs")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Three conversations of `EMAIL` (3, 4 and 5 messages).
fn setup() -> Setup {
    let bucket = block_on(async {
        let store = fresh_store(ServerKind::Moto, Default::default()).await;
        let docs: Vec<Value> = (0..3)
            .map(|i| fixtures::conversation(&format!("cb-{i}"), EMAIL, "Bulk", 3 + i))
            .collect();
        fixtures::seed(&store, |s| {
            s.user(EMAIL, IndexState::Present, &docs.iter().collect::<Vec<_>>());
            for d in &docs {
                s.good(EMAIL, d, ".json", archive_desk_core::Encoding::Plain);
            }
        })
        .await;
        store.bucket().to_owned()
    });
    Setup {
        bucket,
        data: tempfile::tempdir().unwrap(),
        env: Vec::new(),
    }
}

/// The text at `pointer` (e.g. `/preview/summary`) in each element of the
/// array `items`.
fn each<'a>(items: &'a Value, pointer: &str) -> Vec<&'a str> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| item.pointer(pointer).and_then(Value::as_str).expect(pointer))
        .collect()
}

#[test]
fn index_live_shows_nothing_without_a_target() {
    let s = setup();
    let out = s.run(&["index", EMAIL, "--live"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cb-2") && !text.contains("live status"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no restore target"));
    let listing = s.json(&["index", EMAIL, "--live", "--json"]);
    assert!(listing["live"].is_null() && listing["conversations"].as_array().unwrap().len() == 3);
    // Without --live the listing is as it was: no `live` field.
    assert!(s.json(&["index", EMAIL, "--json"]).get("live").is_none());
}

#[test]
fn dry_run_then_bulk_restore_then_live_status() {
    let stack = SupabaseStack::start();
    let mut s = setup();
    s.env = vec![
        ("SUPABASE_SERVICE_ROLE_KEY".into(), stack.service_key.clone()),
        ("SUPABASE_URL".into(), stack.url.clone()),
    ];
    let live = s.json(&["index", EMAIL, "--live", "--json"]);
    let states = each(&live["live"], "/state");
    assert_eq!(states, ["absent"; 3]);

    // One conversation first, then the dry run of all of them.
    let one = s.json(&["restore", EMAIL, "cb-1", "--json"]);
    assert_eq!(one["messages_inserted"], 4, "the single-id restore keeps its report");
    let plan = s.json(&["restore", EMAIL, "--all", "--dry-run", "--json"]);
    assert_eq!(
        (plan["messages_to_insert"].as_u64(), plan["conversations_new"].as_u64()),
        (Some(8), Some(2))
    );
    let summaries = each(&plan["conversations"], "/preview/summary");
    assert_eq!(
        summaries,
        [
            "Restore the conversation and 3 messages",
            "Nothing to restore",
            "Restore the conversation and 5 messages"
        ]
    );
    let text = String::from_utf8(s.run(&["restore", EMAIL, "cb-0", "cb-1", "--dry-run"]).stdout).unwrap();
    assert!(
        text.contains("nothing written") && text.contains("cb-0: Restore the conversation and 3 messages"),
        "{text}"
    );
    assert_eq!(
        stack.psql("select count(*) from messages"),
        "4",
        "a dry run writes nothing"
    );

    // Two named, then all: the batch does what the plan said.
    let two = s.json(&["restore", EMAIL, "cb-0", "cb-1", "--json"]);
    assert_eq!(
        (two["restored"].as_u64(), two["already_there"].as_u64()),
        (Some(1), Some(1))
    );
    let all = s.json(&["restore", EMAIL, "--all", "--json"]);
    let outcomes = each(&all["conversations"], "/outcome");
    assert_eq!(outcomes, ["already_there", "already_there", "restored"]);
    assert_eq!(stack.psql("select count(*) from messages"), "12");
    let text = String::from_utf8(s.run(&["restore", EMAIL, "--all"]).stdout).unwrap();
    assert!(text.contains("0 restored, 3 already there, 0 failed"), "{text}");

    let live = s.json(&["index", EMAIL, "--live", "--json"]);
    let states = each(&live["live"], "/state");
    assert_eq!(states, ["complete"; 3]);

    // A named conversation that is not there: its row says why, exit 1.
    let out = s.run(&["restore", EMAIL, "cb-0", "cb-9", "--json"]);
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["conversations"][1]["error"]["code"], "not_found");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 2 conversations failed"));

    // Removing from the archive goes one conversation at a time.
    let out = s.run(&["restore", EMAIL, "cb-0", "cb-1", "--remove-from-archive"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[invalid_input]"));
}
