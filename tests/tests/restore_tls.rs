//! Postgres TLS with libpq's `sslmode` meanings, against real servers: a
//! PostgreSQL with TLS on whose certificate comes from a CA this test
//! process made (for 127.0.0.1 and localhost), and the Supabase stand-in's
//! PostgreSQL with TLS off (it answers "no" to a TLS request).

use std::path::PathBuf;
use std::process::Command;

use archive_desk_core::restore::{self, RestoreOptions, Target};
use archive_desk_core::{CancellationToken, ConversationDocument, Error};
use archive_desk_harness::supabase::{postgres_target, tls_postgres, SupabaseStack};
use serde_json::json;

fn target(url: String, ca_file: Option<PathBuf>) -> Target {
    postgres_target(url).with_postgres_ca_file(ca_file)
}

/// Connect and read the columns: the whole handshake, nothing written.
async fn connect(target: &Target) -> Result<(), Error> {
    target.columns().await.map(|_| ())
}

fn doc(id: &str) -> ConversationDocument {
    ConversationDocument::from_value(
        "k",
        json!({"conversation": {"id": id, "title": "over TLS"},
               "messages": [{"id": format!("{id}-1"), "role": "user", "content": "hello",
                             "created_at": "2024-01-01T00:00:00Z"}]}),
    )
    .unwrap()
}

#[tokio::test]
async fn verify_full_with_the_servers_ca_restores_and_verifies() {
    let pg = tls_postgres();
    // The CA from the profile setting, and from sslrootcert= in the string.
    let by_profile = target(pg.url("127.0.0.1", "sslmode=verify-full"), Some(pg.ca_file.clone()));
    let by_url = target(
        pg.url("localhost", &format!("sslrootcert={}", pg.ca_file.display())),
        None,
    );
    for (id, t) in [("tls-profile", &by_profile), ("tls-url", &by_url)] {
        let report = restore::restore(t, &doc(id), &RestoreOptions::default(), &CancellationToken::new())
            .await
            .unwrap();
        assert!(report.verified && report.conversation_inserted, "{report:?}");
        assert_eq!(
            pg.psql(&format!("select count(*) from messages where conversation_id = '{id}'")),
            "1"
        );
    }
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused_unless_only_encryption_is_asked() {
    let pg = tls_postgres();
    // No sslmode means verify-full; the test CA is in no root store.
    let err = connect(&target(pg.url("127.0.0.1", ""), None)).await.unwrap_err();
    assert_eq!(err.code(), "target_tls", "{err}");
    assert!(err.to_string().contains("not trusted"), "{err}");
    assert!(err.to_string().contains("postgres_ca_file"), "{err}");
    // A CA file that did not issue it: refused too, also for `require`
    // (a configured CA is checked, as libpq does).
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other-ca.crt");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args([
            "-keyout",
            "other-ca.key",
            "-out",
            "other-ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=Other CA",
        ])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .current_dir(other.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for mode in ["require", "verify-ca", "verify-full"] {
        let err = connect(&target(
            pg.url("127.0.0.1", &format!("sslmode={mode}")),
            Some(other_ca.clone()),
        ))
        .await
        .unwrap_err();
        assert_eq!(err.code(), "target_tls", "{mode}: {err}");
        assert!(err.to_string().contains("not trusted"), "{mode}: {err}");
    }
    // `require` without a CA: encrypted, the certificate not checked.
    connect(&target(pg.url("127.0.0.1", "sslmode=require"), None))
        .await
        .unwrap();
}

#[tokio::test]
async fn verify_ca_without_a_ca_file_is_refused_before_connecting() {
    // Against the public roots, verify-ca (no name check) would take any
    // publicly trusted certificate for any domain. Port 9 on loopback has
    // no server: a config error (not target_unavailable) shows that
    // nothing was attempted.
    for url in [
        "postgres://u:p@127.0.0.1:9/postgres?sslmode=verify-ca",
        "host=127.0.0.1 port=9 user=u password=p dbname=postgres sslmode=verify-ca",
    ] {
        let err = connect(&target(url.to_owned(), None)).await.unwrap_err();
        assert_eq!(err.code(), "config", "{err}");
        assert!(err.to_string().contains("postgres_ca_file"), "{err}");
        assert!(err.to_string().contains("verify-full"), "{err}");
    }
    let pg = tls_postgres();
    let err = connect(&target(pg.url("127.0.0.1", "sslmode=verify-ca"), None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "config", "{err}");
    // With the CA file it connects.
    connect(&target(
        pg.url("127.0.0.1", "sslmode=verify-ca"),
        Some(pg.ca_file.clone()),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let pg = tls_postgres();
    // Reach the server at 127.0.0.1 while naming it otherwise (hostaddr),
    // as a server reached under a name its certificate lacks.
    let url = |mode: &str| pg.url("db.example.invalid", &format!("hostaddr=127.0.0.1&sslmode={mode}"));
    let err = connect(&target(url("verify-full"), Some(pg.ca_file.clone())))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "target_tls", "{err}");
    assert!(
        err.to_string()
            .contains("not valid for the host name db.example.invalid"),
        "{err}"
    );
    connect(&target(url("verify-ca"), Some(pg.ca_file.clone())))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_server_without_tls_is_refused_and_nothing_goes_in_plaintext() {
    let stack = SupabaseStack::start();
    let plain = |params: &str| format!("{}?{params}", stack.postgres_url);
    for params in ["", "sslmode=require", "sslmode=verify-full"] {
        let err = connect(&target(plain(params), None)).await.unwrap_err();
        assert_eq!(err.code(), "target_tls", "{params:?}: {err}");
        assert!(err.to_string().contains("does not offer TLS"), "{err}");
        assert!(err.to_string().contains("nothing was sent unencrypted"), "{err}");
    }
    // Only the explicit choice, on loopback, goes without TLS.
    connect(&target(plain("sslmode=disable"), None)).await.unwrap();
    for weak in ["prefer", "allow"] {
        let err = connect(&target(plain(&format!("sslmode={weak}")), None))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "config", "{err}");
    }
}

#[tokio::test]
async fn a_password_is_never_sent_unencrypted_over_a_network() {
    // Refused before any connection is tried (the host does not exist).
    let err = connect(&target(
        "postgres://postgres:hunter2@db.example.invalid:5432/postgres?sslmode=disable".into(),
        None,
    ))
    .await
    .unwrap_err();
    assert_eq!(err.code(), "config");
    assert!(err
        .to_string()
        .contains("refusing to send the Postgres password unencrypted to db.example.invalid"));
    assert!(!err.to_string().contains("hunter2"));
}
