//! The benchmark's data: the 10,000-user bucket written straight into
//! rclone's data directory, and the 1M-entry search catalog.

use super::*;

pub(super) const BIG_EMAIL: &str = "big.talker@example.com";
pub(super) const BIG_ID: &str = "big-10k";
pub(super) const BIG_MESSAGES: usize = 10_000;
pub(super) const LATE_EMAIL: &str = "late.comer@example.com";

pub(super) const FIRST: [&str; 12] = [
    "maria", "li", "ahmed", "sofia", "john", "ana", "kenji", "fatima", "lucas", "olga", "noah", "priya",
];
pub(super) const LAST: [&str; 8] = ["garcia", "wang", "khan", "rossi", "smith", "silva", "tanaka", "novak"];
pub(super) const DOMAINS: [&str; 4] = ["example.com", "mail.example.org", "corp.example.net", "example.co.uk"];
pub(super) const SUBJECTS: [&str; 10] = [
    "Refund",
    "Billing",
    "Password reset",
    "Login",
    "Invoice",
    "Subscription",
    "Account deletion",
    "Shipping",
    "Upgrade",
    "Bug report",
];
pub(super) const DETAILS: [&str; 8] = [
    "for order",
    "not working",
    "question",
    "after update",
    "on mobile",
    "urgent",
    "follow-up",
    "in Europe",
];

pub(super) fn email_of(i: usize) -> String {
    format!(
        "{}.{}{}@{}",
        FIRST[i % FIRST.len()],
        LAST[(i / FIRST.len()) % LAST.len()],
        i,
        DOMAINS[i % DOMAINS.len()]
    )
}

pub(super) fn title_of(i: usize, j: usize) -> String {
    let n = i.wrapping_mul(31).wrapping_add(j.wrapping_mul(7));
    format!(
        "{} {}",
        SUBJECTS[n % SUBJECTS.len()],
        DETAILS[(n / SUBJECTS.len()) % DETAILS.len()]
    )
}

/// Write one user (index + conversation objects) into rclone's bucket directory.
pub(super) fn write_user(bucket_dir: &Path, email: &str, conversations: &[Value]) {
    let layout = Layout::default();
    let folder = UserFolder::from_email(email).unwrap();
    let dir = bucket_dir.join(layout.user_prefix(&folder));
    std::fs::create_dir_all(&dir).unwrap();
    for c in conversations {
        let id = c["conversation"]["id"].as_str().unwrap();
        std::fs::write(
            dir.join(format!("{id}.json")),
            archive_desk_core::codec::encode(c, Encoding::Plain),
        )
        .unwrap();
    }
    let entries: Vec<Value> = conversations
        .iter()
        .map(|d| {
            let c = &d["conversation"];
            json!({
                "conversation_id": c["id"], "title": c["title"], "created_at": c["created_at"],
                "archived_at": d["archive_metadata"]["archived_at"], "message_count": d["archive_metadata"]["message_count"],
            })
        })
        .collect();
    let index = json!({"user_email": email, "archived_conversations": entries});
    std::fs::write(
        dir.join("metadata.json"),
        archive_desk_core::codec::encode(&index, Encoding::Plain),
    )
    .unwrap();
}

/// The bucket: `users` users with three small conversations each, and one
/// user with a 10,000-message conversation.
pub(super) fn generate_bucket(bucket_dir: &Path, users: usize) {
    for i in 0..users {
        let email = email_of(i);
        let docs: Vec<Value> = (0..3)
            .map(|j| fixtures::conversation(&format!("c{i:06}-{j}"), &email, &title_of(i, j), 4))
            .collect();
        write_user(bucket_dir, &email, &docs);
    }
    let big = fixtures::conversation(BIG_ID, BIG_EMAIL, "Ten thousand messages", BIG_MESSAGES);
    write_user(bucket_dir, BIG_EMAIL, &[big]);
}

/// 1M entries (100,000 users × 10), the size the search budget is set at.
pub(super) fn import_search_catalog(catalog: &Catalog, users: usize) {
    let mut batch = Vec::with_capacity(1000);
    for i in 0..users {
        let email = email_of(i);
        batch.push(UserRecord {
            folder: UserFolder::from_email(&email).unwrap().to_string(),
            email: Some(email),
            email_from_index: true,
            index_etag: None,
            index_error: None,
            objects_signature: 0,
            entries: (0..10)
                .map(|j| EntryRecord {
                    conversation_id: format!("s{i:06}-{j}"),
                    title: Some(title_of(i, j)),
                    created_at: Some("2025-01-15T10:30:00Z".into()),
                    archived_at: Some(format!("2025-02-{:02}T09:00:00Z", 1 + (i + j) % 28)),
                    message_count: Some(4),
                    storage_class: Some("STANDARD".into()),
                })
                .collect(),
        });
        if batch.len() == 1000 {
            catalog.import(&batch).unwrap();
            batch.clear();
        }
    }
    catalog.import(&batch).unwrap();
}
