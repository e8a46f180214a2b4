//! An archiver `.env` file through `Profiles::import_env`, the public import.
//! The keychain is made unreachable (a D-Bus address that does not exist), so
//! a file with secrets must fail whole. Checks against dotenvy read
//! independently: a file dotenvy cannot read fails with a message that quotes
//! no line; a failed import leaves no profile behind ("no profile is half
//! made") and its message holds no secret; a successful one holds exactly
//! the file's settings, and its report accounts for every variable.
#![no_main]

use std::sync::Once;

use archive_desk_core::profile::AwsAuth;
use archive_desk_core::{Keychain, Profiles};
use libfuzzer_sys::fuzz_target;

const SECRETS: [&str; 2] = ["AWS_SECRET_ACCESS_KEY", "SUPABASE_SERVICE_ROLE_KEY"];
/// Variables the import's messages may name whether or not the file sets them.
const MESSAGE_NAMES: [&str; 6] = [
    "S3_BUCKET_NAME",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "SUPABASE_URL",
    "SUPABASE_SERVICE_ROLE_KEY",
];

fuzz_target!(|data: &[u8]| {
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        // Never reach a real keychain, and fail at once instead of waiting
        // for one.
        std::env::set_var(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/archive-desk-fuzz-bus",
        );
    });
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    let env_file = base.path().join(".env");
    std::fs::write(&env_file, data).unwrap();
    let profiles = Profiles::new(base.path().join("profiles.toml"), Keychain::new("archive-desk-fuzz"));

    let result = profiles.import_env("fuzz", &env_file, false);
    let parsed: Result<Vec<(String, String)>, _> = dotenvy::from_path_iter(&env_file).and_then(|i| i.collect());
    let stored = profiles.load().expect("the profiles file stays readable");

    let vars = match parsed {
        Ok(vars) => vars,
        Err(_) => {
            let e = result.expect_err("dotenvy refused the file, the import took it");
            assert_eq!(e.code(), "config");
            let msg = e.to_string();
            let rest = msg
                .strip_prefix(&format!("configuration: {}: ", env_file.display()))
                .unwrap_or_else(|| panic!("does not name the file: {msg:?}"));
            let ok = rest == "cannot be read as a .env file"
                || rest
                    .strip_prefix("entry ")
                    .and_then(|r| r.strip_suffix(" is not KEY=VALUE"))
                    .is_some_and(|n| n.parse::<usize>().is_ok());
            assert!(ok, "the message says more than where: {msg:?}");
            assert!(stored.profiles.is_empty());
            return;
        }
    };
    let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());

    match result {
        Err(e) => {
            assert!(stored.profiles.is_empty(), "a failed import left a profile: {e}");
            let msg = e.to_string();
            let public: Vec<String> = vars
                .iter()
                .filter(|(n, _)| !SECRETS.contains(&n.as_str()))
                .map(|(_, v)| v.clone())
                .chain([env_file.display().to_string()])
                // The messages' fixed words name variables: a value inside a
                // name (`3_BUCKET_NA` in `S3_BUCKET_NAME`) is not a leak.
                .chain(vars.iter().map(|(n, _)| n.clone()))
                .chain(MESSAGE_NAMES.iter().map(|n| n.to_string()))
                .collect();
            for (name, value) in vars.iter().filter(|(n, _)| SECRETS.contains(&n.as_str())) {
                // A value short or also in a public place may appear by chance.
                if value.len() >= 8 && !public.iter().any(|p| p.contains(value.as_str())) {
                    assert!(
                        !msg.contains(value.as_str()),
                        "{name}'s value is in the message: {msg:?}"
                    );
                }
            }
        }
        Ok(report) => {
            let profile = &stored.profiles["fuzz"];
            assert_eq!(Some(&profile.bucket), get("S3_BUCKET_NAME").as_ref());
            assert_eq!(profile.region, get("AWS_REGION"));
            assert_eq!(profile.supabase_url, get("SUPABASE_URL"));
            match (&profile.aws, get("AWS_ACCESS_KEY_ID")) {
                (AwsAuth::Keychain { access_key_id }, Some(id)) => assert_eq!(access_key_id, &id),
                (AwsAuth::DefaultChain { aws_profile: None }, None) => {}
                (aws, id) => panic!("aws {aws:?} from AWS_ACCESS_KEY_ID {id:?}"),
            }
            // The keychain is unreachable: a stored secret would be a lie.
            assert!(report.secrets.is_empty(), "{:?}", report.secrets);
            // Every variable is accounted for, once per name.
            for (name, _) in &vars {
                let places = [&report.settings, &report.secrets]
                    .iter()
                    .filter(|l| l.contains(name))
                    .count();
                let ignored = report.ignored.contains(name);
                assert!(places + usize::from(ignored) >= 1, "{name} is in no list");
                assert!(!(places > 0 && ignored), "{name} is both used and ignored");
            }
            assert_eq!(report.profile, "fuzz");
        }
    }
});
