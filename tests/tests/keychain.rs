//! The real Secret Service (gnome-keyring in a private D-Bus session, started
//! by scripts/with-keyring.sh around the test run), and a profile whose
//! secret comes from it used end to end against an S3 server that checks
//! signatures (rclone).

use archive_desk_core::profile::AwsAuth;
use archive_desk_core::{AuditLog, Keychain, Profiles, Secret, SecretKind};
use archive_desk_harness::{seeded, servers, ServerKind};
use futures::TryStreamExt;

/// A keychain service of this test's own: tests never see each other's entries.
fn own_keychain() -> Keychain {
    Keychain::new(format!("archive-desk-test-{}", servers::token()))
}

/// A profiles file in a fresh directory, its secrets in a keychain service
/// of its own.
fn temp_profiles() -> (Profiles, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let profiles = Profiles::new(dir.path().join("profiles.toml"), own_keychain());
    (profiles, dir)
}

#[test]
fn store_read_update_delete_in_the_real_keychain() {
    let kc = own_keychain();
    let kind = SecretKind::SupabaseKey;
    assert!(kc.get("p", kind).unwrap().is_none());
    kc.set("p", kind, &Secret::new("first-value")).unwrap();
    assert_eq!(kc.get("p", kind).unwrap().unwrap().expose(), "first-value");
    kc.set("p", kind, &Secret::new("second-value")).unwrap();
    assert_eq!(kc.get("p", kind).unwrap().unwrap().expose(), "second-value");
    // Another profile's entry is separate.
    assert!(kc.get("q", kind).unwrap().is_none());
    kc.delete("p", kind).unwrap();
    assert!(kc.get("p", kind).unwrap().is_none());
    kc.delete("p", kind).unwrap();
}

#[tokio::test]
async fn imported_profile_reaches_s3_with_its_keychain_secret() {
    let archive = seeded(ServerKind::Rclone);
    let server = archive.server;
    let (profiles, dir) = temp_profiles();
    let env = dir.path().join(".env");
    std::fs::write(
        &env,
        format!(
            "# the archiver's .env\nUSE_S3_STORAGE=true\nAWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY=\"{}\"\nAWS_REGION=us-east-1\nS3_BUCKET_NAME={}\nSUPABASE_URL=http://127.0.0.1:9\nSUPABASE_KEY=anon-key-not-used\nSUPABASE_SERVICE_ROLE_KEY=service-role-canary-7f3a\n",
            server.access_key_id, server.secret_access_key, archive.bucket
        ),
    )
    .unwrap();
    let report = profiles.import_env("prod", &env, false).unwrap();
    assert_eq!(report.secrets, ["AWS_SECRET_ACCESS_KEY", "SUPABASE_SERVICE_ROLE_KEY"]);
    assert_eq!(report.ignored, ["USE_S3_STORAGE", "SUPABASE_KEY"]);
    assert!(profiles.import_env("prod", &env, false).is_err(), "no silent overwrite");

    // Settings in the file, secrets only in the keychain.
    let text = std::fs::read_to_string(profiles.path()).unwrap();
    assert!(
        !text.contains(&server.secret_access_key) && !text.contains("canary"),
        "{text}"
    );
    let view = profiles.view("prod").unwrap();
    assert!(view.secrets_set["aws-secret-access-key"]);
    assert!(!view.secrets_set["postgres-url"]);
    assert!(matches!(view.profile.aws, AwsAuth::Keychain { .. }));

    // Used end to end: the endpoint is a profile setting like any other.
    let mut profile = profiles.get("prod").unwrap();
    profile.endpoint = Some(server.endpoint.clone());
    profiles.put("prod", profile).unwrap();
    let session = profiles
        .open("prod", AuditLog::at(dir.path().join("audit.jsonl")))
        .await
        .unwrap();
    let pages: Vec<_> = session.store().list_users().try_collect().await.unwrap();
    assert_eq!(
        pages.iter().map(|p| p.users.len()).sum::<usize>(),
        archive.manifest.users.len()
    );
    assert_eq!(session.profile(), Some("prod"));

    // A wrong secret in the keychain is refused by the server.
    profiles
        .set_secret("prod", SecretKind::AwsSecretAccessKey, &Secret::new("wrong"))
        .unwrap();
    let session = profiles
        .open("prod", AuditLog::at(dir.path().join("audit.jsonl")))
        .await
        .unwrap();
    let err = session.store().list_users().try_collect::<Vec<_>>().await.unwrap_err();
    assert_eq!(err.code(), "s3");

    // Removing the profile removes its keychain entries.
    profiles.remove("prod").unwrap();
    for kind in SecretKind::ALL {
        assert!(profiles.secret("prod", kind).unwrap().is_none());
    }
}

/// A Supabase key goes only to the project it was given for: a new URL
/// deletes it from the real keychain (the CLI and the app both save through
/// `Profiles::put`, which reports it).
#[test]
fn a_new_supabase_url_clears_the_stored_key() {
    use archive_desk_core::Profile;
    let (profiles, _dir) = temp_profiles();
    let mut profile = Profile::new("bucket");
    profile.supabase_url = Some("https://one.supabase.co".into());
    assert!(!profiles.put("site", profile.clone()).unwrap().supabase_key_cleared);
    profiles
        .set_secret("site", SecretKind::SupabaseKey, &Secret::new("key-of-one"))
        .unwrap();
    profiles
        .set_secret("site", SecretKind::AwsSecretAccessKey, &Secret::new("aws"))
        .unwrap();

    // The same URL (a trailing slash is no change) with other settings: kept.
    profile.supabase_url = Some("https://one.supabase.co/".into());
    profile.read_only = true;
    assert!(!profiles.put("site", profile.clone()).unwrap().supabase_key_cleared);
    assert!(profiles.secret("site", SecretKind::SupabaseKey).unwrap().is_some());

    profile.supabase_url = Some("https://two.supabase.co".into());
    assert!(profiles.put("site", profile.clone()).unwrap().supabase_key_cleared);
    assert!(profiles.secret("site", SecretKind::SupabaseKey).unwrap().is_none());
    assert!(
        profiles
            .secret("site", SecretKind::AwsSecretAccessKey)
            .unwrap()
            .is_some(),
        "other secrets stay"
    );

    // Removing the URL clears a key set since; nothing to clear reports nothing.
    profiles
        .set_secret("site", SecretKind::SupabaseKey, &Secret::new("key-of-two"))
        .unwrap();
    profile.supabase_url = None;
    assert!(profiles.put("site", profile.clone()).unwrap().supabase_key_cleared);
    assert!(profiles.secret("site", SecretKind::SupabaseKey).unwrap().is_none());
    profile.supabase_url = Some("http://127.0.0.1:54321".into());
    assert!(!profiles.put("site", profile).unwrap().supabase_key_cleared);
    profiles.remove("site").unwrap();
}

/// Replacing a profile from a `.env` that has a new SUPABASE_URL and no
/// service key: the old project's key is gone before the new URL is saved.
#[test]
fn an_import_that_changes_the_url_clears_the_old_key() {
    let (profiles, dir) = temp_profiles();
    let env = dir.path().join(".env");
    std::fs::write(
        &env,
        "S3_BUCKET_NAME=b\nSUPABASE_URL=https://one.supabase.co\nSUPABASE_SERVICE_ROLE_KEY=key-of-one\n",
    )
    .unwrap();
    profiles.import_env("site", &env, false).unwrap();
    assert_eq!(
        profiles
            .secret("site", SecretKind::SupabaseKey)
            .unwrap()
            .unwrap()
            .expose(),
        "key-of-one"
    );
    std::fs::write(&env, "S3_BUCKET_NAME=b\nSUPABASE_URL=https://two.supabase.co\n").unwrap();
    // An invalid URL is refused before anything is deleted.
    let bad = dir.path().join("bad.env");
    std::fs::write(&bad, "S3_BUCKET_NAME=b\nSUPABASE_URL=http://example.com\n").unwrap();
    assert_eq!(profiles.import_env("site", &bad, true).unwrap_err().code(), "config");
    assert!(profiles.secret("site", SecretKind::SupabaseKey).unwrap().is_some());
    assert_eq!(
        profiles.get("site").unwrap().supabase_url.as_deref(),
        Some("https://one.supabase.co")
    );

    profiles.import_env("site", &env, true).unwrap();
    assert_eq!(
        profiles.get("site").unwrap().supabase_url.as_deref(),
        Some("https://two.supabase.co")
    );
    assert!(profiles.secret("site", SecretKind::SupabaseKey).unwrap().is_none());
    profiles.remove("site").unwrap();
}
