//! A profile from the archiver's `.env` file: settings to the profiles
//! file, secrets to the keychain, and a report of what went where that
//! never holds a value.

use std::path::Path;

use serde::Serialize;

use super::{check_profile, check_profile_name, AwsAuth, Profile, Profiles};
use crate::error::{Error, Result};
use crate::keychain::SecretKind;
use crate::secret::Secret;

/// What `import_env` did, without any value.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub profile: String,
    /// Variables taken into the profile file.
    pub settings: Vec<String>,
    /// Variables stored in the keychain.
    pub secrets: Vec<String>,
    /// Variables present but not used.
    pub ignored: Vec<String>,
}

impl Profiles {
    /// Create profile `name` from an archiver `.env` file: settings to the
    /// profile file, secrets to the keychain. Values are never echoed.
    pub fn import_env(&self, name: &str, env_file: &Path, replace: bool) -> Result<ImportReport> {
        check_profile_name(name)?;
        if !replace && self.load()?.profiles.contains_key(name) {
            return Err(Error::InvalidInput(format!(
                "profile {name:?} exists; pass --replace to overwrite it"
            )));
        }
        let vars = read_env_file(env_file)?;
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let bucket = get("S3_BUCKET_NAME")
            .filter(|b| !b.is_empty())
            .ok_or_else(|| Error::Config(format!("{}: S3_BUCKET_NAME is missing", env_file.display())))?;

        let mut report = ImportReport {
            profile: name.to_owned(),
            ..Default::default()
        };
        let mut profile = Profile::new(bucket);
        report.settings.push("S3_BUCKET_NAME".into());
        if let Some(region) = get("AWS_REGION") {
            profile.region = Some(region);
            report.settings.push("AWS_REGION".into());
        }
        if let Some(url) = get("SUPABASE_URL") {
            profile.supabase_url = Some(url);
            report.settings.push("SUPABASE_URL".into());
        }
        let secret_key = get("AWS_SECRET_ACCESS_KEY");
        if let Some(id) = get("AWS_ACCESS_KEY_ID") {
            if secret_key.is_none() {
                return Err(Error::Config(format!(
                    "{}: AWS_ACCESS_KEY_ID without AWS_SECRET_ACCESS_KEY",
                    env_file.display()
                )));
            }
            profile.aws = AwsAuth::Keychain { access_key_id: id };
            report.settings.push("AWS_ACCESS_KEY_ID".into());
        }
        let mut secrets = Vec::new();
        if let (Some(key), AwsAuth::Keychain { .. }) = (secret_key, &profile.aws) {
            secrets.push((SecretKind::AwsSecretAccessKey, "AWS_SECRET_ACCESS_KEY", key));
        }
        if let Some(key) = get("SUPABASE_SERVICE_ROLE_KEY") {
            secrets.push((SecretKind::SupabaseKey, "SUPABASE_SERVICE_ROLE_KEY", key));
        }
        let used: Vec<&str> = report
            .settings
            .iter()
            .map(String::as_str)
            .chain(secrets.iter().map(|s| s.1))
            .collect();
        report.ignored = vars
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| !used.contains(&n.as_str()))
            .collect();

        check_profile(name, &profile)?;
        // Secrets first: if the keychain refuses, no profile is half made.
        // Replacing deletes every old secret, the Supabase key included, before
        // the new URL is written: an old key never meets a new project, and a
        // failed delete leaves the old profile as it was.
        // A store that would lose them refuses before anything is deleted.
        for (kind, _, _) in &secrets {
            self.keychain.check_persists(name, *kind)?;
        }
        if replace {
            self.keychain.delete_all(name)?;
        }
        for (kind, var, value) in &secrets {
            self.keychain.set(name, *kind, &Secret::new(value.clone()))?;
            report.secrets.push((*var).to_owned());
        }
        // Not `put`: the key just stored belongs to this URL.
        self.write_profile(name, profile)?;
        Ok(report)
    }
}

/// `KEY=VALUE` lines of a `.env` file. A parse error names the line, never
/// its text (it may hold a secret).
fn read_env_file(path: &Path) -> Result<Vec<(String, String)>> {
    let iter = dotenvy::from_path_iter(path).map_err(|e| match e {
        dotenvy::Error::Io(io) => Error::io(path, io),
        _ => Error::Config(format!("{}: cannot be read as a .env file", path.display())),
    })?;
    iter.enumerate()
        .map(|(i, item)| {
            item.map_err(|_| Error::Config(format!("{}: entry {} is not KEY=VALUE", path.display(), i + 1)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::profiles;
    use super::*;

    #[test]
    fn env_parse_errors_do_not_echo_the_line() {
        let (_p, d) = profiles();
        let path = d.path().join(".env");
        std::fs::write(&path, "S3_BUCKET_NAME=b\nAWS_SECRET_ACCESS_KEY='unterminated-sekrit\n").unwrap();
        let e = read_env_file(&path).unwrap_err().to_string();
        assert!(!e.contains("sekrit") && e.contains("entry 2"), "{e}");
    }
}
