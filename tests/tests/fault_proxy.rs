//! The fault proxy in front of real moto and rclone, read through the core.

use std::time::{Duration, Instant};

use archive_desk_core::codec::Encoding;
use archive_desk_core::{ConversationId, Layout, Store, UserFolder};
use archive_desk_harness::fixtures::{self, IndexState, Seeder};
use archive_desk_harness::RawS3;
use archive_desk_harness::{fresh_store, seeded, servers, Fault, FaultProxy, Match, Rule, ServerKind};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use futures::TryStreamExt;
use serde_json::Value;

/// Run each check once per server kind, as its own test.
macro_rules! on_both_servers {
    ($($check:ident),* $(,)?) => {
        mod moto { $( #[tokio::test] async fn $check() { super::$check(super::ServerKind::Moto).await } )* }
        mod rclone { $( #[tokio::test] async fn $check() { super::$check(super::ServerKind::Rclone).await } )* }
    };
}

on_both_servers!(
    without_rules_every_read_is_the_same_through_the_proxy,
    deny_on_versions_fails_only_the_versions_listing,
    deny_by_method_and_key_suffix_reaches_the_core_naming_the_key,
    slow_down_twice_is_retried_and_succeeds,
    a_denied_upload_gets_the_error_answer,
    latency_delays_by_at_least_the_fixed_time,
    latency_adds_to_the_fault_after_it,
    a_bandwidth_cap_paces_the_body,
    a_reset_once_is_retried_and_succeeds,
    a_truncated_body_is_an_error_naming_the_key,
    a_body_cut_once_is_fetched_again,
    a_stalled_request_times_out_while_others_pass,
);

const EMAIL: &str = "proxy.user@example.com";
const ID: &str = "c-proxy";

/// A fresh bucket holding one user: an index listing one 200-message conversation.
struct OneUser {
    proxy: FaultProxy,
    bucket: String,
    folder: UserFolder,
    id: ConversationId,
    key: String,
    doc: Value,
}

impl OneUser {
    async fn seed(kind: ServerKind) -> OneUser {
        let store = fresh_store(kind, Layout::default()).await;
        let doc = fixtures::conversation(ID, EMAIL, "Through the proxy", 200);
        let mut seeder = Seeder::new(Layout::default(), false);
        seeder.user(EMAIL, IndexState::Present, &[&doc]);
        seeder.good(EMAIL, &doc, ".json", Encoding::Plain);
        let manifest = seeder.write(&store.client(), store.bucket()).await;
        OneUser {
            proxy: FaultProxy::start(servers::shared(kind)),
            bucket: store.bucket().to_owned(),
            folder: UserFolder::from_email(EMAIL).unwrap(),
            id: ConversationId::parse(ID).unwrap(),
            key: manifest.conversation(ID).key.clone(),
            doc,
        }
    }

    /// A store that reaches the server through the proxy.
    async fn store(&self) -> Store {
        Store::connect(self.proxy.store_config(&self.bucket)).await.unwrap()
    }

    async fn opens(&self, store: &Store) {
        let opened = store.get_conversation(&self.folder, &self.id).await.unwrap();
        assert_eq!(opened.key, self.key);
        assert_eq!(opened.document.into_value(), self.doc);
    }
}

async fn without_rules_every_read_is_the_same_through_the_proxy(kind: ServerKind) {
    let archive = seeded(kind);
    let direct = archive.store().await;
    let proxy = FaultProxy::start(archive.server);
    let through = Store::connect(proxy.store_config(&archive.bucket)).await.unwrap();

    let users = |store: Store| async move {
        let pages: Vec<_> = store.list_users_paged(3).try_collect().await.unwrap();
        pages.into_iter().flat_map(|p| p.users).collect::<Vec<_>>()
    };
    let listed = users(through.clone()).await;
    assert_eq!(listed, users(direct.clone()).await);
    assert_eq!(listed.len(), archive.manifest.users.len());

    for user in &listed {
        let (a, b) = (direct.read_index(user).await, through.read_index(user).await);
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!((a.index, a.etag, a.missing), (b.index, b.etag, b.missing)),
            (Err(a), Err(b)) => assert_eq!((a.code(), a.to_string()), (b.code(), b.to_string())),
            (a, b) => panic!("{user}: direct {a:?}, through the proxy {b:?}"),
        }
        let objects = |o: Vec<archive_desk_core::ObjectInfo>| serde_json::to_value(o).unwrap();
        assert_eq!(
            objects(direct.list_objects(user).await.unwrap()),
            objects(through.list_objects(user).await.unwrap())
        );
    }
    for (c, value) in archive.manifest.opens() {
        let folder = UserFolder::from_email(&c.email).unwrap();
        let id = ConversationId::parse(&c.id).unwrap();
        let got = through
            .get_conversation(&folder, &id)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", c.key));
        assert_eq!(&got.document.into_value(), value, "{}", c.key);
    }
    for (c, code) in archive.manifest.fails() {
        let folder = UserFolder::from_email(&c.email).unwrap();
        let id = ConversationId::parse(&c.id).unwrap();
        let err = through.get_conversation(&folder, &id).await.unwrap_err();
        assert_eq!(err.code(), code, "{}: {err}", c.key);
    }

    // A signed PUT with a body goes through too and lands intact.
    let fresh = fresh_store(kind, Layout::default()).await;
    let writer = Store::connect(proxy.store_config(fresh.bucket())).await.unwrap();
    let body = serde_json::to_vec(&fixtures::conversation(ID, EMAIL, "Written through", 50)).unwrap();
    writer
        .client()
        .put_object()
        .bucket(fresh.bucket())
        .key("through/proxy.json")
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    let stored = fresh
        .client()
        .get_object()
        .bucket(fresh.bucket())
        .key("through/proxy.json")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.body.collect().await.unwrap().into_bytes().to_vec(), body);
}

/// rclone checks SigV4: through the proxy a wrong secret is still refused,
/// so the reads above prove the proxy keeps signatures intact.
#[tokio::test]
async fn rclone_still_checks_signatures_through_the_proxy() {
    let archive = seeded(ServerKind::Rclone);
    let proxy = FaultProxy::start(archive.server);
    let mut config = proxy.store_config(&archive.bucket);
    config.credentials = archive_desk_core::CredentialSource::Static {
        access_key_id: archive.server.access_key_id.clone(),
        secret_access_key: archive_desk_core::Secret::new("not-the-secret"),
    };
    let forged = Store::connect(config).await.unwrap();
    let user = &archive.manifest.users[0];
    let err = forged
        .read_index(&UserFolder::parse(&user.folder).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "s3", "{err}");
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
}

async fn deny_on_versions_fails_only_the_versions_listing(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    one.proxy.set_rules(vec![Rule::new(
        "deny-versions",
        Match::any().query_has("versions"),
        Fault::access_denied(),
    )]);
    let store = one.store().await;

    let err = store
        .client()
        .list_object_versions()
        .bucket(&one.bucket)
        .send()
        .await
        .unwrap_err();
    let service = err.as_service_error().expect("an S3 error answer");
    assert_eq!(service.code(), Some("AccessDenied"));
    assert_eq!(service.message(), Some("Access Denied"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(one.proxy.hits("deny-versions"), 1);

    // A listing whose prefix says "versions" is not the `versions` sub-resource.
    let listed = store
        .client()
        .list_objects_v2()
        .bucket(&one.bucket)
        .prefix("versions")
        .send()
        .await
        .unwrap();
    assert!(listed.contents().is_empty());
    one.opens(&store).await;
    assert_eq!(one.proxy.hits("deny-versions"), 1);

    one.proxy.clear();
    assert_eq!(one.proxy.hits("deny-versions"), 0);
    if kind == ServerKind::Moto {
        // rclone has no versions listing; moto answers once the rule is gone.
        store
            .client()
            .list_object_versions()
            .bucket(&one.bucket)
            .send()
            .await
            .unwrap();
    }
}

async fn deny_by_method_and_key_suffix_reaches_the_core_naming_the_key(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    let store = one.store().await;
    one.proxy.set_rules(vec![Rule::new(
        "deny-index-get",
        Match::any().method("GET").key_suffix("metadata.json"),
        Fault::access_denied(),
    )]);
    let err = store.read_index(&one.folder).await.unwrap_err();
    let index_key = store.layout().index_key(&one.folder);
    assert_eq!(err.code(), "s3");
    assert_eq!(
        err.to_string(),
        format!("{index_key}: S3 GetObject failed: AccessDenied: Access Denied")
    );
    // Other keys, and other methods on the same key, pass.
    one.opens(&store).await;
    store
        .client()
        .head_object()
        .bucket(&one.bucket)
        .key(&index_key)
        .send()
        .await
        .unwrap();
    assert_eq!(one.proxy.hits("deny-index-get"), 1);
}

async fn slow_down_twice_is_retried_and_succeeds(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    let store = one.store().await;
    one.proxy.set_rules(vec![Rule::new(
        "slow-down",
        Match::any().method("GET").key_suffix(".json"),
        Fault::slow_down(),
    )
    .limit(2)]);
    // The SDK's standard retries absorb two 503s.
    one.opens(&store).await;
    assert_eq!(one.proxy.hits("slow-down"), 2);
    one.opens(&store).await;
    assert_eq!(one.proxy.hits("slow-down"), 2);
}

#[tokio::test]
async fn probability_with_a_seed_replays_the_same_faults() {
    let one = OneUser::seed(ServerKind::Moto).await;
    let rules = || vec![Rule::new("coin", Match::any().key_suffix(".json"), Fault::access_denied()).probability(0.5)];
    let pattern = |proxy: &FaultProxy| {
        let store = Store::connect(proxy.store_config(&one.bucket));
        let key = one.key.clone();
        let bucket = one.bucket.clone();
        async move {
            let store = store.await.unwrap();
            let mut denied = Vec::new();
            for _ in 0..24 {
                let got = store.client().get_object().bucket(&bucket).key(&key).send().await;
                if let Err(e) = &got {
                    assert_eq!(e.as_service_error().and_then(|e| e.code()), Some("AccessDenied"));
                }
                denied.push(got.is_err());
            }
            denied
        }
    };
    one.proxy.set_rules(rules());
    let first = pattern(&one.proxy).await;
    let faulted = first.iter().filter(|&&d| d).count();
    assert!(
        0 < faulted && faulted < first.len(),
        "a fair coin over 24 tries: {first:?}"
    );
    assert_eq!(one.proxy.hits("coin"), faulted as u64);

    // The same rules again replay the same faults; another seed does not.
    one.proxy.set_rules(rules());
    assert_eq!(pattern(&one.proxy).await, first);
    let other = FaultProxy::start_seeded(servers::shared(ServerKind::Moto), 7);
    other.set_rules(rules());
    assert_ne!(pattern(&other).await, first);
}

async fn a_denied_upload_gets_the_error_answer(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    let store = one.store().await;
    one.proxy.set_rules(vec![Rule::new(
        "deny-put",
        Match::any().method("PUT").key_suffix("metadata.json"),
        Fault::access_denied(),
    )]);
    let index_key = store.layout().index_key(&one.folder);
    // 16 MB, more than the socket buffers hold: the proxy reads it to the end,
    // so the client gets the answer, not a broken pipe.
    let err = store
        .put(&index_key, vec![b' '; 16 << 20], Encoding::Plain, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{index_key}: S3 PutObject failed: AccessDenied: Access Denied")
    );
    assert_eq!(one.proxy.hits("deny-put"), 1);
    // The index is untouched.
    let index = store.read_index(&one.folder).await.unwrap();
    assert_eq!(index.index.entries().len(), 1);
}

async fn latency_delays_by_at_least_the_fixed_time(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    let store = one.store().await;
    one.proxy.set_rules(vec![Rule::new(
        "slow",
        Match::any().method("GET").key_suffix(&one.key),
        Fault::Latency {
            fixed_ms: 400,
            jitter_ms: 100,
        },
    )]);
    let started = Instant::now();
    one.opens(&store).await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(one.proxy.hits("slow"), 1);
}

/// A capped link: the whole body still arrives intact, no faster than the
/// cap allows (the last ~1/20 s piece is sent at the time the bytes before
/// it were due), and the cap combines with the rules after it.
async fn a_bandwidth_cap_paces_the_body(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    let store = one.store().await;
    let size = store
        .client()
        .head_object()
        .bucket(&one.bucket)
        .key(&one.key)
        .send()
        .await
        .unwrap()
        .content_length()
        .unwrap() as u64;
    let rate = size / 2; // about two seconds for the body
    let on = Match::any().method("GET").key_suffix(&one.key);
    let capped = Rule::new("capped", on.clone(), Fault::Bandwidth { bytes_per_second: rate });
    one.proxy.set_rules(vec![capped.clone()]);
    let started = Instant::now();
    one.opens(&store).await;
    let least = Duration::from_secs_f64((size - rate / 20) as f64 / rate as f64);
    assert!(
        started.elapsed() >= least,
        "{:?} < {least:?} for {size} bytes",
        started.elapsed()
    );
    assert_eq!(one.proxy.hits("capped"), 1);
    // The SlowDown after the cap still fires; the retry is capped too (hits
    // start again from zero with new rules).
    one.proxy
        .set_rules(vec![capped, Rule::new("slow-down", on, Fault::slow_down()).limit(1)]);
    one.opens(&store).await;
    assert_eq!(one.proxy.hits("slow-down"), 1);
    assert_eq!(one.proxy.hits("capped"), 2);
}

/// A latency rule does not end the matching: the SlowDown after it still
/// fires (after the wait), then the retry waits and goes through. This is
/// how a chaos mix combines latency with errors, resets and cut bodies.
async fn latency_adds_to_the_fault_after_it(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    let store = one.store().await;
    let on = Match::any().method("GET").key_suffix(&one.key);
    one.proxy.set_rules(vec![
        Rule::new(
            "slow",
            on.clone(),
            Fault::Latency {
                fixed_ms: 300,
                jitter_ms: 0,
            },
        ),
        Rule::new("slow-down", on, Fault::slow_down()).limit(1),
    ]);
    let started = Instant::now();
    one.opens(&store).await;
    assert_eq!((one.proxy.hits("slow"), one.proxy.hits("slow-down")), (2, 1));
    // Both attempts waited.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

async fn a_reset_once_is_retried_and_succeeds(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    let store = one.store().await;
    one.proxy.set_rules(vec![Rule::new(
        "reset",
        Match::any().method("GET").key_suffix(&one.key),
        Fault::ResetBeforeResponse,
    )
    .limit(1)]);
    one.opens(&store).await;
    assert_eq!(one.proxy.hits("reset"), 1);
}

/// Every attempt reset: the core gives up after the SDK's five attempts with
/// an error naming the key. (The SDK's retry backoff makes this the slowest
/// test here, so it runs on one server: the fault never reaches it anyway.)
#[tokio::test]
async fn a_reset_on_every_attempt_is_an_error_naming_the_key() {
    let one = OneUser::seed(ServerKind::Moto).await;
    let store = one.store().await;
    one.proxy.set_rules(vec![Rule::new(
        "reset",
        Match::any().method("GET").key_suffix("metadata.json"),
        Fault::ResetBeforeResponse,
    )]);
    let index_key = store.layout().index_key(&one.folder);
    let err = store.read_index(&one.folder).await.unwrap_err();
    assert_eq!(err.code(), "s3");
    assert!(
        err.to_string()
            .starts_with(&format!("{index_key}: S3 GetObject failed: ")),
        "{err}"
    );
    assert_eq!(one.proxy.hits("reset"), 5);
}

async fn a_truncated_body_is_an_error_naming_the_key(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    let store = one.store().await;
    let cut = |suffix: &str| {
        vec![Rule::new(
            "cut",
            Match::any().method("GET").key_suffix(suffix),
            Fault::TruncateBody { after_bytes: 100 },
        )]
    };
    one.proxy.set_rules(cut(&one.key));
    let full = serde_json::to_vec(&one.doc).unwrap().len() as i64;
    // Status and headers arrive as the server sent them, the body stops short.
    let got = store
        .client()
        .get_object()
        .bucket(&one.bucket)
        .key(&one.key)
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(full));
    got.body.collect().await.unwrap_err();

    let err = store.get_conversation(&one.folder, &one.id).await.unwrap_err();
    assert_eq!(err.code(), "s3");
    assert!(
        err.to_string()
            .starts_with(&format!("{}: S3 GetObject failed: reading the body failed", one.key)),
        "{err}"
    );
    let index_key = store.layout().index_key(&one.folder);
    one.proxy.set_rules(cut(&index_key));
    let err = store.read_index(&one.folder).await.unwrap_err();
    assert!(err.to_string().starts_with(&format!("{index_key}: ")), "{err}");
    // The SDK does not retry a body that breaks off; the core GETs it
    // three times in all, then gives up.
    assert_eq!(one.proxy.hits("cut"), 3);
}

/// One cut body (1% of responses in the chaos mix) does not fail the read:
/// the core GETs the object again. Before, a single cut failed a whole
/// export-user or sync (found by the chaos runs).
async fn a_body_cut_once_is_fetched_again(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    let store = one.store().await;
    let index_key = store.layout().index_key(&one.folder);
    let cut_once = |suffix: &str| {
        vec![Rule::new(
            "cut",
            Match::any().method("GET").key_suffix(suffix),
            Fault::TruncateBody { after_bytes: 100 },
        )
        .limit(1)]
    };
    one.proxy.set_rules(cut_once(&one.key));
    one.opens(&store).await;
    assert_eq!(one.proxy.hits("cut"), 1);
    one.proxy.set_rules(cut_once(&index_key));
    assert_eq!(store.read_index(&one.folder).await.unwrap().index.entries().len(), 1);
    assert_eq!(one.proxy.hits("cut"), 1);
}

/// `StoreConfig` has no timeout knob (the core waits 30 s for a first byte),
/// so the stalled request goes through an SDK client made from the store's
/// own config with a 500 ms attempt timeout and no retries.
async fn a_stalled_request_times_out_while_others_pass(kind: ServerKind) {
    let one = OneUser::seed(kind).await;
    let store = one.store().await;
    one.proxy.set_rules(vec![Rule::new(
        "stall",
        Match::any().method("GET").key_suffix(&one.key),
        Fault::Stall,
    )]);
    let impatient = aws_sdk_s3::Client::from_conf(
        store
            .client()
            .config()
            .to_builder()
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(500))
                    .build(),
            )
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let stalled = impatient.get_object().bucket(&one.bucket).key(&one.key).send();
    let meanwhile = async {
        // Once the proxy holds the stalled request, another one still passes.
        while one.proxy.hits("stall") == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        store.read_index(&one.folder).await.unwrap()
    };
    let (stalled, index) = tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(stalled, meanwhile) })
        .await
        .expect("the stalled request gives up on its own");
    assert!(matches!(stalled, Err(SdkError::TimeoutError(_))), "{stalled:?}");
    assert_eq!(index.index.entries().len(), 1);
    assert_eq!(one.proxy.hits("stall"), 1);
}
