//! The generated archive: names, titles and indexes, written straight into
//! rclone's data directory or through S3 PUTs.

use std::path::Path;

use archive_desk_core::codec::{encode, Encoding};
use archive_desk_core::{ConversationId, Layout, Store, UserFolder};
use archive_desk_harness::fixtures;
use futures::StreamExt;
use serde_json::{json, Value};

pub const FIRST: [&str; 16] = [
    "maria", "li", "ahmed", "sofia", "john", "ana", "kenji", "fatima", "lucas", "olga", "noah", "priya", "zoë",
    "jürgen", "chloé", "søren",
];
pub const LAST: [&str; 10] = [
    "garcia", "wang", "khan", "rossi", "smith", "silva", "tanaka", "novak", "müller", "dubois",
];
const DOMAINS: [&str; 6] = [
    "example.com",
    "mail.example.org",
    "corp.example.net",
    "uni.example.edu",
    "example.co.uk",
    "bücher.example.de",
];
pub const SUBJECTS: [&str; 20] = [
    "Refund",
    "Billing",
    "Password reset",
    "Login",
    "Invoice",
    "Subscription",
    "Account deletion",
    "Upgrade",
    "Data export",
    "API rate limits",
    "PDF upload",
    "Slack integration",
    "Two-factor auth",
    "Team plan",
    "Mobile app",
    "Webhook",
    "Réclamation",
    "返品",
    "Datenschutz",
    "Zahlung",
];
pub const DETAILS: [&str; 16] = [
    "for a double charge",
    "fails after update",
    "not working",
    "question",
    "in March",
    "for my team",
    "request (GDPR)",
    "keeps timing out",
    "on Android",
    "with SSO",
    "— urgent",
    "help needed",
    "🙂 thanks",
    "über die Rechnung",
    "について",
    "again",
];

pub fn email_of(i: usize) -> String {
    format!(
        "{}.{}{}@{}",
        FIRST[i % FIRST.len()],
        LAST[(i / FIRST.len()) % LAST.len()],
        i,
        DOMAINS[i % DOMAINS.len()]
    )
}

pub fn title_of(i: usize, j: usize) -> String {
    let n = i.wrapping_mul(31).wrapping_add(j.wrapping_mul(7));
    format!(
        "{} {}",
        SUBJECTS[n % SUBJECTS.len()],
        DETAILS[(n / SUBJECTS.len()) % DETAILS.len()]
    )
}

pub fn index_doc(email: &str, ids: &[(String, String, usize)], version: usize) -> Value {
    json!({
        "user_email": email,
        "archived_conversations": ids.iter().map(|(id, title, n)| json!({
            "conversation_id": id, "title": title, "created_at": "2025-01-15T10:30:00Z",
            "archived_at": format!("2025-02-{:02}T09:00:00Z", 1 + (version % 28)), "message_count": n,
        })).collect::<Vec<_>>(),
    })
}

/// The generated archive, written straight into rclone's data dir (a bucket
/// is a folder there) before the server first lists it: writing 110k
/// objects through S3 would take longer than the benchmark itself.
pub fn generate_on_disk(bucket_dir: &Path, users: usize, per_user: usize) -> usize {
    let layout = Layout::default();
    // The bucket, also when no user is generated into it.
    std::fs::create_dir_all(bucket_dir).expect("bucket dir");
    let mut written = 0;
    for i in 0..users {
        let email = email_of(i);
        let folder = UserFolder::from_email(&email).expect("generated email");
        let dir = bucket_dir.join(layout.user_prefix(&folder));
        std::fs::create_dir_all(&dir).expect("user dir");
        let mut ids = Vec::with_capacity(per_user);
        for j in 0..per_user {
            let id = format!("{i:06}-{j:03}-{:08x}", fastrand::u32(..));
            let title = title_of(i, j);
            let doc = fixtures::conversation(&id, &email, &title, 2);
            let gz = j % 3 == 0;
            let name = if gz {
                format!("{id}.json.gz")
            } else {
                format!("{id}.json")
            };
            let enc = if gz { Encoding::Gzip } else { Encoding::Plain };
            std::fs::write(dir.join(name), encode(&doc, enc)).expect("conversation file");
            ids.push((id, title, 2));
            written += 1;
        }
        std::fs::write(
            dir.join("metadata.json"),
            encode(&index_doc(&email, &ids, 0), Encoding::Plain),
        )
        .expect("index file");
        written += 1;
    }
    written
}

/// The same archive through S3 PUTs (moto keeps everything in memory).
pub async fn generate_through_s3(store: &Store, users: usize, per_user: usize) -> usize {
    let layout = store.layout().clone();
    let mut puts = Vec::new();
    for i in 0..users {
        let email = email_of(i);
        let folder = UserFolder::from_email(&email).expect("generated email");
        let mut ids = Vec::new();
        for j in 0..per_user {
            let id = format!("{i:06}-{j:03}");
            let title = title_of(i, j);
            let doc = fixtures::conversation(&id, &email, &title, 2);
            let cid = ConversationId::parse(&id).expect("generated id");
            puts.push((
                layout.conversation_key(&folder, &cid, false),
                encode(&doc, Encoding::Plain),
            ));
            ids.push((id, title, 2));
        }
        puts.push((
            layout.index_key(&folder),
            encode(&index_doc(&email, &ids, 0), Encoding::Plain),
        ));
    }
    let n = puts.len();
    put_all(store, puts, 16).await;
    n
}

pub async fn put_all(store: &Store, puts: Vec<(String, Vec<u8>)>, concurrency: usize) {
    // Bytes as given (already encoded), no condition: seeding, not measured.
    let results: Vec<_> = futures::stream::iter(puts)
        .map(|(key, body)| async move {
            store
                .put(&key, body, Encoding::Plain, None)
                .await
                .map_err(|e| e.to_string())
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for r in results {
        r.expect("PUT");
    }
}
