//! The connection test a person runs on a profile: each check says in plain
//! words what works and what to do about what does not.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::keychain::SecretKind;
use crate::profile::{AwsAuth, Profiles, RestoreMode};
use crate::store::Store;

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    /// `ok`, `failed` or `skipped`.
    pub status: &'static str,
    pub message: String,
}

impl Check {
    fn ok(name: &'static str, message: impl Into<String>) -> Self {
        Check {
            name,
            status: "ok",
            message: message.into(),
        }
    }
    fn failed(name: &'static str, message: impl Into<String>) -> Self {
        Check {
            name,
            status: "failed",
            message: message.into(),
        }
    }
    fn skipped(name: &'static str, message: impl Into<String>) -> Self {
        Check {
            name,
            status: "skipped",
            message: message.into(),
        }
    }
}

/// The error of a connection test with a failed check (the first one), for
/// a front end that ends with an error when the test fails.
pub fn first_failure(checks: &[Check]) -> Option<Error> {
    checks
        .iter()
        .find(|c| c.status == "failed")
        .map(|c| Error::ConnectionTest {
            check: c.name.to_owned(),
            message: c.message.clone(),
        })
}

/// Run every check of profile `name`. Only a missing profile is an error;
/// everything else is reported in the checks.
pub async fn test_profile(profiles: &Profiles, name: &str) -> Result<Vec<Check>> {
    let profile = profiles.get(name)?;
    let mut checks = Vec::new();

    let mut missing = Vec::new();
    if matches!(profile.aws, AwsAuth::Keychain { .. }) {
        missing.push(SecretKind::AwsSecretAccessKey);
    }
    if profile.supabase_url.is_some() {
        missing.push(profile.restore_mode.secret_kind());
    }
    let mut absent = Vec::new();
    for kind in missing {
        match profiles.secret(name, kind) {
            Ok(Some(_)) => {}
            Ok(None) => absent.push(kind.as_str()),
            Err(e) => {
                checks.push(Check::failed("keychain", e.to_string()));
                return Ok(checks);
            }
        }
    }
    checks.push(if absent.is_empty() {
        Check::ok("keychain", "every secret the profile needs is in the OS keychain")
    } else {
        Check::failed(
            "keychain",
            format!(
                "not in the keychain: {} (profile set-secret {name} KIND)",
                absent.join(", ")
            ),
        )
    });

    let store = match profiles.store_config(name, &profile) {
        Ok(config) => Store::connect(config).await?,
        Err(e) => {
            checks.push(Check::failed("s3", e.to_string()));
            return Ok(checks);
        }
    };
    let listed = store.check_listing().await;
    match listed {
        Ok(_) => checks.push(Check::ok(
            "s3",
            format!("bucket {} is reachable and listing is allowed", store.bucket()),
        )),
        Err(e) => {
            checks.push(Check::failed("s3", plain_s3_failure(&e)));
            return Ok(checks);
        }
    }

    if profile.supabase_url.is_some() || profile.restore_mode == RestoreMode::Postgres {
        checks.push(match profiles.restore_target(name, &profile) {
            Ok(target) => match target.columns().await {
                Ok(_) => Check::ok(
                    "supabase",
                    format!(
                        "tables {} and {} are reachable with this key",
                        profile.conversations_table, profile.messages_table
                    ),
                ),
                Err(e) => Check::failed("supabase", e.to_string()),
            },
            Err(e) => Check::failed("supabase", e.to_string()),
        });
    } else {
        checks.push(Check::skipped(
            "supabase",
            "no Supabase project set: restore is not configured",
        ));
    }

    checks.push(if profile.read_only {
        Check::skipped("conditional_writes", "read-only profile: it never writes metadata.json")
    } else {
        match store.probe_conditional_writes().await {
            Ok(true) => Check::ok(
                "conditional_writes",
                "the store honours If-Match: index updates are safe",
            ),
            Ok(false) if profile.allow_unsafe_index_writes => Check::failed(
                "conditional_writes",
                "the store ignores If-Match; the profile allows unsafe index writes, so an entry the archiver \
                 writes at the same moment can be lost",
            ),
            Ok(false) => Check::failed(
                "conditional_writes",
                "the store ignores If-Match: deletes and repairs will be refused to protect the index",
            ),
            Err(e) => Check::failed(
                "conditional_writes",
                format!("could not test (needs write access): {e}"),
            ),
        }
    });
    Ok(checks)
}

fn plain_s3_failure(e: &Error) -> String {
    let text = e.to_string();
    let hint = if text.contains("NoSuchBucket") || matches!(e, Error::NotFound { .. }) {
        "the bucket does not exist (check the name and region)"
    } else if text.contains("AccessDenied")
        || text.contains("SignatureDoesNotMatch")
        || text.contains("InvalidAccessKeyId")
    {
        "access denied: check the access key pair and the bucket policy"
    } else if text.contains("dispatch failure") || text.contains("timeout") || text.contains("connect") {
        "the endpoint cannot be reached: check the endpoint, region and network"
    } else {
        "the store refused the request"
    };
    format!("{hint} ({text})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn a_test_with_a_failed_check_fails_with_the_first_one() {
        let passing = [Check::ok("keychain", "found"), Check::skipped("supabase", "no URL")];
        assert!(first_failure(&passing).is_none());
        let failing = [
            Check::ok("s3", "listed"),
            Check::failed("conditional_writes", "this store ignores If-Match"),
            Check::failed("supabase", "unreachable"),
        ];
        let e = first_failure(&failing).unwrap();
        assert_eq!(e.code(), ErrorCode::ConnectionTest);
        assert_eq!(e.to_string(), "conditional_writes: this store ignores If-Match");
    }
}
