//! Profiles through the real binary and the real Secret Service (the test
//! command runs under scripts/with-keyring.sh), against rclone, which checks
//! request signatures, so the keychain secret is really what signs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use archive_desk_harness::{seeded, servers, SeededArchive, ServerKind};
use serde_json::Value;

struct Env {
    config: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Env {
            config: tempfile::tempdir().unwrap(),
            data: tempfile::tempdir().unwrap(),
        }
    }

    /// The CLI with its own config and data dirs and no AWS variables: the
    /// profile is the only source of credentials.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_archive-desk-cli"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k == "S3_BUCKET_NAME" || k.starts_with("ARCHIVE_DESK_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("ARCHIVE_DESK_CONFIG_DIR", self.config.path())
            .env("ARCHIVE_DESK_DATA_DIR", self.data.path())
            .env("ARCHIVE_DESK_CACHE_DIR", self.data.path().join("cache"))
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }
}

impl Env {
    /// An archiver `.env` for `archive`'s bucket and server credentials,
    /// then `more` lines, in the config dir.
    fn archiver_env(&self, archive: &SeededArchive, more: &str) -> PathBuf {
        let path = self.config.path().join("archiver.env");
        let server = archive.server;
        let text = format!(
            "AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\nS3_BUCKET_NAME={}\n{more}",
            server.access_key_id, server.secret_access_key, archive.bucket
        );
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn all_files_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&all_files_text(&path));
        } else {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    text
}

#[test]
fn a_full_session_never_shows_a_secret() {
    let archive = seeded(ServerKind::Rclone);
    let server = archive.server;
    let env = Env::new();
    let name = format!("leak-{}", servers::token());
    let supabase_secret = format!("sb_secret_CANARY{}", servers::token());
    let dotenv = env.archiver_env(
        archive,
        &format!(
            "AWS_REGION=us-east-1\nSUPABASE_URL=http://127.0.0.1:9\nSUPABASE_SERVICE_ROLE_KEY={supabase_secret}\n"
        ),
    );
    let secrets = [server.secret_access_key.as_str(), supabase_secret.as_str()];

    let mut outputs = Vec::new();
    let mut step = |args: &[&str], stdin: Option<&str>| {
        let out = env.run(args, stdin);
        outputs.push(out.clone());
        out
    };
    let text = ok(&step(&["profile", "import-env", &name, dotenv.to_str().unwrap()], None));
    assert!(text.contains("secrets stored in the OS keychain: AWS_SECRET_ACCESS_KEY, SUPABASE_SERVICE_ROLE_KEY"));
    ok(&step(&["profile", "edit", &name, "--endpoint", &server.endpoint], None));
    let view: Value = serde_json::from_str(&ok(&step(&["profile", "show", "--json", &name], None))).unwrap();
    assert_eq!(view["secrets_set"]["aws-secret-access-key"], true);
    assert_eq!(view["bucket"], archive.bucket.as_str());
    let shown = ok(&step(&["profile", "show", &name], None));
    assert!(shown.contains("secrets_set"));
    // rclone ignores If-Match: the test says so in plain words and fails.
    let out = step(&["profile", "test", &name], None);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report.contains("ok       keychain") && report.contains("ok       s3"),
        "{report}"
    );
    assert!(
        report.contains("failed   conditional_writes") && report.contains("ignores If-Match"),
        "{report}"
    );
    assert_eq!(out.status.code(), Some(1));

    let users = ok(&step(&["--profile", &name, "users", "--json"], None));
    assert_eq!(users.lines().count(), archive.manifest.users.len());
    ok(&step(&["--profile", &name, "index", "alice.smith@example.com"], None));
    ok(&step(&["--profile", &name, "sync"], None));
    let hits: Value =
        serde_json::from_str(&ok(&step(&["--profile", &name, "search", "--json", "alice"], None))).unwrap();
    assert!(!hits["hits"].as_array().unwrap().is_empty(), "{hits}");
    ok(&step(
        &["--profile", &name, "show", "alice.smith@example.com", "a-plain"],
        None,
    ));
    let export = env.data.path().join("export.json");
    ok(&step(
        &[
            "--profile",
            &name,
            "export",
            "alice.smith@example.com",
            "a-plain",
            "-o",
            export.to_str().unwrap(),
        ],
        None,
    ));
    let out = step(
        &[
            "--profile",
            &name,
            "delete",
            "alice.smith@example.com",
            "a-plain",
            "--yes",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "rclone: index writes refused");
    ok(&step(&["audit"], None));

    // A secret set from stdin replaces the old one; a wrong one is refused by S3.
    ok(&step(
        &["profile", "set-secret", &name, "aws-secret-access-key"],
        Some("not-the-secret\n"),
    ));
    let out = step(&["--profile", &name, "users"], None);
    assert_eq!(out.status.code(), Some(1));

    // The Supabase key goes only to its own project: a new URL clears it,
    // and the CLI says so; a plain-http URL to another machine is refused.
    let out = step(
        &["profile", "edit", &name, "--supabase-url", "http://example.com"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unencrypted"));
    let text = ok(&step(
        &["profile", "edit", &name, "--supabase-url", "https://other.supabase.co"],
        None,
    ));
    assert!(text.contains("its stored key was deleted"), "{text}");
    let view: Value = serde_json::from_str(&ok(&step(&["profile", "show", "--json", &name], None))).unwrap();
    assert_eq!(view["secrets_set"]["supabase-key"], false);
    assert_eq!(view["secrets_set"]["aws-secret-access-key"], true);

    for out in &outputs {
        for secret in secrets {
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!all.contains(secret), "a secret was printed: {all}");
        }
    }
    let files = all_files_text(env.config.path()).replace(&std::fs::read_to_string(&dotenv).unwrap(), "");
    let files = files + &all_files_text(env.data.path());
    for secret in secrets {
        assert!(
            !files.contains(secret),
            "a secret was written to a config, audit or export file"
        );
    }

    let catalog = env.data.path().join(format!("cache/catalog-{name}.sqlite"));
    assert!(catalog.exists());
    ok(&env.run(&["profile", "remove", &name], None));
    let out = env.run(&["profile", "show", &name], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(!catalog.exists(), "the profile's search catalog goes with it");
}

#[test]
fn without_a_secret_service_the_error_says_what_to_do() {
    let env = Env::new();
    let name = format!("nokeyring-{}", servers::token());
    ok(&env.run(&["profile", "add", &name, "--bucket", "b"], None));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_archive-desk-cli"));
    let out = cmd
        .env("ARCHIVE_DESK_CONFIG_DIR", env.config.path())
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .args(["profile", "set-secret", &name, "supabase-key"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"value-that-must-not-land-anywhere\n")?;
            c.wait_with_output()
        })
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("[keychain_unavailable]") && err.contains("Secret Service"),
        "{err}"
    );
    assert!(!all_files_text(env.config.path()).contains("value-that-must-not-land-anywhere"));
    ok(&env.run(&["profile", "remove", &name], None));
}

/// Each `profile` subcommand with `--json`: a report where there is one,
/// nothing on stdout where the exit code says it all, `{code, message}` on
/// stderr when it fails (`profile test` prints its checks first).
#[test]
fn every_profile_command_answers_in_json() {
    let archive = seeded(ServerKind::Rclone);
    let server = archive.server;
    let env = Env::new();
    let name = format!("json-{}", servers::token());
    let json = |out: &Output| -> Value { serde_json::from_str(&ok(out)).unwrap() };
    let error = |out: &Output| -> Value {
        assert_eq!(out.status.code(), Some(1));
        serde_json::from_slice(&out.stderr).unwrap()
    };

    assert_eq!(
        json(&env.run(&["profile", "list", "--json"], None)),
        serde_json::json!([])
    );
    let saved = json(&env.run(&["profile", "add", "--json", &name, "--bucket", &archive.bucket], None));
    assert_eq!(saved, serde_json::json!({"supabase_key_cleared": false}));
    let again = env.run(&["profile", "add", "--json", &name, "--bucket", "other"], None);
    assert!(again.stdout.is_empty());
    assert!(error(&again)["message"].as_str().unwrap().contains("exists"));
    assert_eq!(
        json(&env.run(&["profile", "list", "--json"], None)),
        serde_json::json!([name])
    );

    let edit = |url: &str| json(&env.run(&["profile", "edit", "--json", &name, "--supabase-url", url], None));
    assert_eq!(edit("https://one.supabase.co")["supabase_key_cleared"], false);
    let stored = env.run(
        &["profile", "set-secret", "--json", &name, "supabase-key"],
        Some("sb_secret_json_test\n"),
    );
    assert_eq!(ok(&stored), "", "nothing but the exit code");
    assert_eq!(edit("https://two.supabase.co")["supabase_key_cleared"], true);

    let dotenv = env.archiver_env(archive, "UNRELATED=1\n");
    let imported = json(&env.run(
        &[
            "profile",
            "import-env",
            "--json",
            &name,
            dotenv.to_str().unwrap(),
            "--replace",
        ],
        None,
    ));
    assert_eq!(imported["profile"], name.as_str());
    assert_eq!(imported["secrets"], serde_json::json!(["AWS_SECRET_ACCESS_KEY"]));
    assert_eq!(imported["ignored"], serde_json::json!(["UNRELATED"]), "{imported}");
    ok(&env.run(&["profile", "edit", &name, "--endpoint", &server.endpoint], None));

    // rclone ignores If-Match: every check on stdout, then the failed one.
    let tested = env.run(&["profile", "test", "--json", &name], None);
    let checks: Value = serde_json::from_slice(&tested.stdout).unwrap();
    let failed: Vec<&str> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["conditional_writes"], "{checks}");
    let err = error(&tested);
    assert_eq!(err["code"], "connection_test");
    assert!(
        err["message"].as_str().unwrap().starts_with("conditional_writes: "),
        "{err}"
    );

    assert_eq!(ok(&env.run(&["profile", "remove", "--json", &name], None)), "");
    let gone = env.run(&["profile", "remove", "--json", &name], None);
    assert!(error(&gone)["message"].as_str().unwrap().contains("no profile named"));
}
