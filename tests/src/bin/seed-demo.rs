//! Seeds a demo archive into a running S3-compatible server: the standard
//! fixture set (drift, cold storage, malformed objects, a 10k-message
//! conversation) plus generated users with everyday conversations.
//!
//! Connection through the same variables the CLI reads:
//! `ARCHIVE_DESK_ENDPOINT`, `S3_BUCKET_NAME`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`. `--users N` sets how many generated users.

use archive_desk_core::{CredentialSource, Encoding, Layout, Secret, Store, StoreConfig};
use archive_desk_harness::fixtures::{self, IndexState};

const FIRST: [&str; 12] = [
    "maria", "li", "ahmed", "sofia", "john", "ana", "kenji", "fatima", "lucas", "olga", "noah", "priya",
];
const LAST: [&str; 8] = ["garcia", "wang", "khan", "rossi", "smith", "silva", "tanaka", "novak"];
const DOMAINS: [&str; 5] = [
    "example.com",
    "mail.example.org",
    "corp.example.net",
    "uni.example.edu",
    "example.co.uk",
];
const TOPICS: [&str; 10] = [
    "Refund for a double charge",
    "Can't log in after password reset",
    "Export my data (GDPR request)",
    "Upgrade to the team plan",
    "Bug: PDF upload fails",
    "Question about API rate limits",
    "Change the billing address",
    "Delete my account",
    "Integration with Slack",
    "Invoice for March",
];

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let users: usize = match std::env::args().skip_while(|a| a != "--users").nth(1) {
        Some(n) => n.parse().map_err(|_| "--users takes a number".to_string())?,
        None => 300,
    };
    let mut config = StoreConfig::new(env("S3_BUCKET_NAME")?);
    config.endpoint = Some(env("ARCHIVE_DESK_ENDPOINT")?);
    config.force_path_style = true;
    config.region = Some("us-east-1".into());
    config.credentials = CredentialSource::Static {
        access_key_id: env("AWS_ACCESS_KEY_ID")?,
        secret_access_key: Secret::new(env("AWS_SECRET_ACCESS_KEY")?),
    };
    let client = archive_desk_harness::raw_s3::client_for(&config);
    let store = Store::connect(config).await.map_err(|e| e.to_string())?;
    // Exists already when the demo is run again: fine.
    let _ = client.create_bucket().bucket(store.bucket()).send().await;

    let layout = Layout::default();
    let mut seeder = fixtures::standard(layout.clone(), true);
    for u in 0..users {
        let email = format!(
            "{}.{}{}@{}",
            FIRST[u % FIRST.len()],
            LAST[(u / FIRST.len()) % LAST.len()],
            u / (FIRST.len() * LAST.len()),
            DOMAINS[u % DOMAINS.len()]
        );
        let docs: Vec<_> = (0..1 + u % 7)
            .map(|c| {
                let id = format!("{:08x}-{:04x}-4{:03x}-8000-{:012x}", u, c, u % 4096, u * 31 + c);
                fixtures::conversation(&id, &email, TOPICS[(u + c) % TOPICS.len()], 2 + (u * 7 + c * 3) % 40)
            })
            .collect();
        seeder.user(&email, IndexState::Present, &docs.iter().collect::<Vec<_>>());
        for (c, doc) in docs.iter().enumerate() {
            let (suffix, encoding) = if c % 3 == 2 {
                (".json.gz", Encoding::Gzip)
            } else {
                (".json", Encoding::Plain)
            };
            seeder.good(&email, doc, suffix, encoding);
        }
    }
    let manifest = seeder.write(&client, store.bucket()).await;
    println!(
        "seeded {} users, {} conversations into bucket {}",
        manifest.users.len(),
        manifest.conversations.len(),
        store.bucket()
    );
    Ok(())
}
