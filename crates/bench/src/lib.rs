//! What the benchmark binaries share: a child process's view of its own
//! memory and the store config a child connects with.

use archive_desk_core::{CredentialSource, Secret, StoreConfig};

/// This process's peak resident set (`VmHWM`), in KiB; 0 where unknown.
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A child's store: the server's endpoint and keys, passed on its command line.
pub fn child_store_config(endpoint: &str, key_id: &str, secret: &str, bucket: &str) -> StoreConfig {
    let mut config = StoreConfig::new(bucket);
    config.endpoint = Some(endpoint.to_owned());
    config.region = Some("us-east-1".into());
    config.force_path_style = true;
    config.credentials = CredentialSource::Static {
        access_key_id: key_id.to_owned(),
        secret_access_key: Secret::new(secret.to_owned()),
    };
    config
}
