//! The server's raw GET ceiling over a link: every `metadata.json` a sync
//! fetches, as presigned URLs (signed before the clock starts) fired by a
//! plain HTTP client at a fixed concurrency. No listing, no decoding, no
//! catalog: the physical limit of fetching those objects at that
//! concurrency, which our sync is reported as a fraction of.

use std::time::{Duration, Instant};

use archive_desk_harness::raw_s3;
use aws_sdk_s3::presigning::PresigningConfig;
use futures::StreamExt;

use crate::link::S3Link;

pub struct Ceiling {
    pub elapsed: Duration,
    pub gets: usize,
    pub concurrency: usize,
}

pub async fn raw_get_ceiling(link: &S3Link, bucket: &str, keys: &[String], concurrency: usize) -> Ceiling {
    let sdk = raw_s3::client_for(&link.store_config(bucket));
    let presign = PresigningConfig::expires_in(Duration::from_secs(3600)).expect("presigning config");
    let mut urls = Vec::with_capacity(keys.len());
    for key in keys {
        let request = sdk
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(presign.clone())
            .await
            .expect("presign");
        urls.push(request.uri().to_owned());
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client");
    let started = Instant::now();
    let gets = futures::stream::iter(urls)
        .map(|url| {
            let http = http.clone();
            async move {
                let resp = http.get(&url).send().await.expect("raw GET");
                assert!(resp.status().is_success(), "raw GET {url}: {}", resp.status());
                let body = resp.bytes().await.expect("raw GET body");
                assert!(!body.is_empty(), "raw GET {url}: an empty body");
            }
        })
        .buffer_unordered(concurrency)
        .count()
        .await;
    Ceiling {
        elapsed: started.elapsed(),
        gets,
        concurrency,
    }
}
