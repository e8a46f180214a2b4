//! Raw S3 for tests. The core keeps its S3 client private (every request it
//! makes is a `Store` method), so what a test does behind the core's back —
//! seeding, breaking, reading back — goes through an SDK client of the
//! harness's own, with the settings `Store::connect` uses (standard retries,
//! 5 attempts; the same timeouts) for the server the store talks to: the
//! same endpoint (a fault proxy's too) and credentials.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use archive_desk_core::{CredentialSource, Store, StoreConfig};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::Client;

/// Static credentials of every endpoint the harness made a config for.
fn credentials() -> &'static Mutex<HashMap<String, (String, String)>> {
    static BY_ENDPOINT: OnceLock<Mutex<HashMap<String, (String, String)>>> = OnceLock::new();
    BY_ENDPOINT.get_or_init(Mutex::default)
}

/// Remember the endpoint and credentials of `config` (a harness server's or
/// a fault proxy's), so [`RawS3::client`] can reach that server.
pub(crate) fn register(config: &StoreConfig) {
    let (
        Some(endpoint),
        CredentialSource::Static {
            access_key_id,
            secret_access_key,
        },
    ) = (&config.endpoint, &config.credentials)
    else {
        panic!("harness configs have an endpoint and static credentials");
    };
    credentials().lock().expect("credentials").insert(
        endpoint.clone(),
        (access_key_id.clone(), secret_access_key.expose().to_owned()),
    );
}

/// An SDK client for `config`, which must name an endpoint and static
/// credentials (as every harness and demo config does). A new client each
/// time: a pooled connection is tied to the runtime that opened it, and each
/// test has a runtime of its own.
pub fn client_for(config: &StoreConfig) -> Client {
    let CredentialSource::Static {
        access_key_id,
        secret_access_key,
    } = &config.credentials
    else {
        panic!("a raw S3 client needs static credentials");
    };
    let endpoint = config.endpoint.as_deref().expect("a raw S3 client needs an endpoint");
    build(endpoint, access_key_id, secret_access_key.expose())
}

fn build(endpoint: &str, access_key_id: &str, secret_access_key: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "archive-desk-harness",
        ))
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(Duration::from_secs(30))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(300))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

/// `store.client()` for tests: a raw client to the server (or proxy) the
/// store talks to.
pub trait RawS3 {
    fn client(&self) -> Client;
}

impl RawS3 for Store {
    fn client(&self) -> Client {
        let endpoint = self.endpoint().expect("harness stores have an endpoint");
        let (key, secret) = credentials()
            .lock()
            .expect("credentials")
            .get(endpoint)
            .cloned()
            .unwrap_or_else(|| panic!("no harness server or proxy at {endpoint}"));
        build(endpoint, &key, &secret)
    }
}
