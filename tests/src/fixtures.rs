//! Realistic archives, written the way the archiver (and real drift) leaves
//! them, plus a manifest of what each object should open as.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use aws_sdk_s3::Client;
use serde_json::{json, Value};

use crate::raw_s3::RawS3;
use archive_desk_core::codec::{encode, Encoding};
use archive_desk_core::{Layout, Store, UserFolder};

/// What opening a fixture object must give.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Opens as exactly this JSON value.
    Opens(Value),
    /// Fails with this error code; the message must name `key`.
    Fails(&'static str),
}

#[derive(Debug, Clone)]
pub struct FixtureConversation {
    pub email: String,
    pub folder: String,
    pub id: String,
    pub key: String,
    pub storage_class: &'static str,
    pub expect: Expect,
}

/// What a seeded archive holds.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub conversations: Vec<FixtureConversation>,
    /// Folders and what their index looks like: (email, folder, index state).
    pub users: Vec<FixtureUser>,
    /// Common prefixes that are not safe folder names.
    pub unusable_folders: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FixtureUser {
    pub email: String,
    pub folder: String,
    pub index: IndexState,
    /// Ids the index lists.
    pub indexed: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexState {
    Present,
    Missing,
    Corrupt,
}

impl Manifest {
    pub fn opens(&self) -> impl Iterator<Item = (&FixtureConversation, &Value)> {
        self.conversations.iter().filter_map(|c| match &c.expect {
            Expect::Opens(v) => Some((c, v)),
            Expect::Fails(_) => None,
        })
    }

    pub fn fails(&self) -> impl Iterator<Item = (&FixtureConversation, &'static str)> {
        self.conversations.iter().filter_map(|c| match c.expect {
            Expect::Fails(code) => Some((c, code)),
            Expect::Opens(_) => None,
        })
    }

    pub fn user(&self, email: &str) -> &FixtureUser {
        self.users.iter().find(|u| u.email == email).expect("fixture user")
    }

    pub fn conversation(&self, id: &str) -> &FixtureConversation {
        self.conversations
            .iter()
            .find(|c| c.id == id)
            .expect("fixture conversation")
    }
}

/// `n` conversations of `email`, ids `{prefix}-0000`, `{prefix}-0001`…, two
/// messages each.
pub fn conversations(email: &str, prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| conversation(&format!("{prefix}-{i:04}"), email, &format!("Conversation {i}"), 2))
        .collect()
}

/// Key of `name` (an object file name) in `email`'s folder, default layout.
pub fn object_key(email: &str, name: &str) -> String {
    format!(
        "archived_conversations/{}/{name}",
        UserFolder::from_email(email).unwrap()
    )
}

/// Write what `build` adds to a seeder (default layout, storage classes
/// kept) to `store`'s bucket.
pub async fn seed(store: &Store, build: impl FnOnce(&mut Seeder)) {
    let mut seeder = Seeder::new(Layout::default(), true);
    build(&mut seeder);
    seeder.write(&store.client(), store.bucket()).await;
}

/// Build a realistic conversation document with `n` messages.
pub fn conversation(id: &str, email: &str, title: &str, n: usize) -> Value {
    let messages: Vec<Value> = (0..n)
        .map(|i| {
            let user = i % 2 == 0;
            json!({
                "id": format!("{id}-m{i:05}"),
                "conversation_id": id,
                "role": if user { "user" } else { "assistant" },
                "content": if user {
                    format!("Question {i}: how do I reset my password?\nSecond line.")
                } else {
                    format!("Answer {i}: open Settings → Security and choose “Reset”.")
                },
                "feedback": if user { Value::Null } else if i % 3 == 0 { json!("positive") } else { Value::Null },
                "created_at": format!("2025-01-15T10:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                "input_tokens": if user { Value::Null } else { json!(120 + i) },
                "output_tokens": if user { Value::Null } else { json!(340 + i) },
                "cost": if user { Value::Null } else { json!(0.00042) },
            })
        })
        .collect();
    json!({
        "conversation": {
            "id": id,
            "user_id": email,
            "title": title,
            "created_at": "2025-01-15T10:30:00Z",
            "updated_at": "2025-01-16T14:20:00Z",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "timestamp": "2025-01-15T10:30:00Z"
        },
        "messages": messages,
        "archive_metadata": {
            "archived_at": "2025-01-20T09:00:00Z",
            "message_count": n,
            "user_email": email
        }
    })
}

fn index_entry(doc: &Value) -> Value {
    let c = &doc["conversation"];
    json!({
        "conversation_id": c["id"],
        "title": c["title"],
        "created_at": c["created_at"],
        "archived_at": doc["archive_metadata"]["archived_at"],
        "message_count": doc["archive_metadata"]["message_count"],
    })
}

/// One object to write.
struct Put {
    key: String,
    body: Vec<u8>,
    content_encoding: Option<&'static str>,
    storage_class: Option<StorageClass>,
}

pub struct Seeder {
    layout: Layout,
    keeps_storage_class: bool,
    puts: Vec<Put>,
    manifest: Manifest,
}

impl Seeder {
    pub fn new(layout: Layout, keeps_storage_class: bool) -> Self {
        Seeder {
            layout,
            keeps_storage_class,
            puts: Vec::new(),
            manifest: Manifest::default(),
        }
    }

    fn folder(email: &str) -> UserFolder {
        UserFolder::from_email(email).expect("fixture email is valid")
    }

    fn put(&mut self, key: String, body: Vec<u8>) {
        self.puts.push(Put {
            key,
            body,
            content_encoding: None,
            storage_class: None,
        });
    }

    /// A user folder with its index listing `indexed` (or a missing/corrupt index).
    pub fn user(&mut self, email: &str, index: IndexState, indexed: &[&Value]) {
        let folder = Self::folder(email);
        match index {
            IndexState::Present => {
                let doc = json!({
                    "user_email": email,
                    "archived_conversations": indexed.iter().map(|d| index_entry(d)).collect::<Vec<_>>(),
                    "index_version": 1
                });
                self.put(self.layout.index_key(&folder), encode(&doc, Encoding::Plain));
            }
            IndexState::Corrupt => self.put(
                self.layout.index_key(&folder),
                b"{\"user_email\": \"x\", \"archived_conv".to_vec(),
            ),
            IndexState::Missing => {}
        }
        self.manifest.users.push(FixtureUser {
            email: email.to_owned(),
            folder: folder.to_string(),
            index,
            indexed: indexed
                .iter()
                .map(|d| d["conversation"]["id"].as_str().unwrap().to_owned())
                .collect(),
        });
    }

    /// An object under `email`'s folder at `<name>`, with the expectation.
    #[allow(clippy::too_many_arguments)]
    pub fn object(
        &mut self,
        email: &str,
        id: &str,
        name: &str,
        body: Vec<u8>,
        content_encoding: Option<&'static str>,
        storage_class: Option<StorageClass>,
        expect: Expect,
    ) {
        let folder = Self::folder(email);
        let key = format!("{}{name}", self.layout.user_prefix(&folder));
        let kept_class = storage_class.as_ref().filter(|_| self.keeps_storage_class);
        let expect = match (&expect, kept_class) {
            (Expect::Opens(_), Some(_)) => Expect::Fails("cold_storage"),
            _ => expect,
        };
        self.manifest.conversations.push(FixtureConversation {
            email: email.to_owned(),
            folder: folder.to_string(),
            id: id.to_owned(),
            key: key.clone(),
            storage_class: match kept_class {
                Some(c) => static_class(c),
                None => "STANDARD",
            },
            expect,
        });
        self.puts.push(Put {
            key,
            body,
            content_encoding,
            storage_class,
        });
    }

    /// `email` as the archiver leaves a user: an index listing `docs`,
    /// each stored as plain `<id>.json`.
    pub fn archived(&mut self, email: &str, docs: &[Value]) {
        self.user(email, IndexState::Present, &docs.iter().collect::<Vec<_>>());
        for doc in docs {
            self.good(email, doc, ".json", Encoding::Plain);
        }
    }

    /// A well-formed conversation document stored at `<id><suffix>`.
    pub fn good(&mut self, email: &str, doc: &Value, suffix: &str, encoding: Encoding) {
        let id = doc["conversation"]["id"].as_str().expect("fixture id");
        let header = (encoding == Encoding::Gzip && suffix == ".json").then_some("gzip");
        self.object(
            email,
            id,
            &format!("{id}{suffix}"),
            encode(doc, encoding),
            header,
            None,
            Expect::Opens(doc.clone()),
        );
    }

    /// Write everything, a few objects at a time.
    pub async fn write(self, client: &Client, bucket: &str) -> Manifest {
        use futures::StreamExt;
        let results: Vec<_> = futures::stream::iter(self.puts)
            .map(|p| async move {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(&p.key)
                    .body(ByteStream::from(p.body))
                    .set_content_encoding(p.content_encoding.map(str::to_owned))
                    .set_storage_class(p.storage_class)
                    .content_type("application/json")
                    .send()
                    .await
                    .map_err(|e| format!("{}: {}", p.key, aws_sdk_s3::error::DisplayErrorContext(e)))
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for r in results {
            r.expect("fixture upload");
        }
        self.manifest
    }
}

fn static_class(c: &StorageClass) -> &'static str {
    match c {
        StorageClass::Glacier => "GLACIER",
        StorageClass::DeepArchive => "DEEP_ARCHIVE",
        _ => "STANDARD",
    }
}

pub const ALICE: &str = "alice.smith@example.com";
pub const UNICODE: &str = "zoë.ünïcode@bücher.de";
pub const DRIFT: &str = "drift@example.com";
pub const NO_INDEX: &str = "no.index@example.com";
pub const CORRUPT_INDEX: &str = "corrupt.index@example.com";
pub const COLD: &str = "cold@example.com";
pub const BIG: &str = "big@example.com";
pub const MALFORMED: &str = "malformed@example.com";
/// A conversation whose content tries to run code or drive a terminal.
pub const HOSTILE_ID: &str = "a-hostile";
pub const HOSTILE_CONTENT: &str =
    "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>\u{1b}[2J\u{1b}]0;pwned\u{7} \u{202E}txt.exe";
/// The 10k-message conversation.
pub const BIG_ID: &str = "big-10k";

/// The full fixture set: every case the foundation must handle.
pub fn standard(layout: Layout, keeps_storage_class: bool) -> Seeder {
    let mut s = Seeder::new(layout, keeps_storage_class);

    // Well-formed, with every storage variant and schema drift.
    let plain = conversation("a-plain", ALICE, "Billing question — refund 💸", 6);
    let gz_suffix = conversation("a-gz-suffix", ALICE, "Gzip with .gz suffix", 4);
    let gz_no_suffix = conversation("a-gz-nosuffix", ALICE, "Gzip without suffix", 3);
    let gz_header = conversation("a-gz-header", ALICE, "Gzip via Content-Encoding", 2);
    let mut extra = conversation("a-extra-fields", ALICE, "Extra fields", 3);
    extra["conversation"]["folder"] = json!({"name": "VIP", "tags": ["a", "b"]});
    extra["messages"][0]["attachments"] = json!([{"name": "invoice.pdf", "bytes": 12345}]);
    extra["messages"][1]["tool_calls"] = json!([{"fn": "lookup", "args": {"q": 1}}]);
    extra["exported_by"] = json!("archiver 2.3");
    let minimal = json!({
        "conversation": {"id": "a-minimal", "title": null},
        "messages": [{"id": 1, "role": "user", "content": "only required fields"},
                     {"id": 2, "role": "assistant", "content": null, "feedback": "negative"}]
    });
    // Content is untrusted: markup, script, terminal escapes, bidi overrides.
    let mut hostile = conversation(HOSTILE_ID, ALICE, "<b>Hostile</b> \u{1b}[31mcontent", 4);
    hostile["messages"][0]["content"] = json!(HOSTILE_CONTENT);
    hostile["messages"][1]["content"] = json!("[click me](javascript:alert(1))\n**bold** `code`");
    s.user(
        ALICE,
        IndexState::Present,
        &[
            &plain,
            &gz_suffix,
            &gz_no_suffix,
            &gz_header,
            &extra,
            &minimal,
            &hostile,
        ],
    );
    s.good(ALICE, &plain, ".json", Encoding::Plain);
    s.good(ALICE, &gz_suffix, ".json.gz", Encoding::Gzip);
    let id = "a-gz-nosuffix";
    s.object(
        ALICE,
        id,
        &format!("{id}.json"),
        encode(&gz_no_suffix, Encoding::Gzip),
        None,
        None,
        Expect::Opens(gz_no_suffix.clone()),
    );
    s.good(ALICE, &gz_header, ".json", Encoding::Gzip);
    s.good(ALICE, &extra, ".json", Encoding::Plain);
    s.good(ALICE, &minimal, ".json", Encoding::Plain);
    s.good(ALICE, &hostile, ".json", Encoding::Plain);

    // Unicode email and titles (CJK, RTL, emoji, combining marks).
    let u1 = conversation("u-cjk", UNICODE, "返品について — 質問", 2);
    let u2 = conversation("u-rtl", UNICODE, "שאלה לגבי חשבון 🙂 é", 2);
    s.user(UNICODE, IndexState::Present, &[&u1, &u2]);
    s.good(UNICODE, &u1, ".json", Encoding::Plain);
    s.good(UNICODE, &u2, ".json.gz", Encoding::Gzip);

    // Index/object drift: an entry whose object is gone, an object the index lacks.
    let gone = conversation("d-gone", DRIFT, "Deleted object", 1);
    let kept = conversation("d-kept", DRIFT, "Indexed and present", 2);
    let unindexed = conversation("d-unindexed", DRIFT, "Archival failed path", 2);
    s.user(DRIFT, IndexState::Present, &[&gone, &kept]);
    s.good(DRIFT, &kept, ".json", Encoding::Plain);
    s.good(DRIFT, &unindexed, ".json", Encoding::Plain);

    // No metadata.json at all; and a corrupt one.
    let n1 = conversation("n-1", NO_INDEX, "No index", 2);
    s.user(NO_INDEX, IndexState::Missing, &[]);
    s.good(NO_INDEX, &n1, ".json", Encoding::Plain);
    let c1 = conversation("ci-1", CORRUPT_INDEX, "Corrupt index", 2);
    s.user(CORRUPT_INDEX, IndexState::Corrupt, &[]);
    s.good(CORRUPT_INDEX, &c1, ".json", Encoding::Plain);

    // Moved to cold storage by a lifecycle rule.
    let g = conversation("cold-glacier", COLD, "In Glacier", 2);
    let d = conversation("cold-deep", COLD, "In Deep Archive", 2);
    s.user(COLD, IndexState::Present, &[&g, &d]);
    s.object(
        COLD,
        "cold-glacier",
        "cold-glacier.json",
        encode(&g, Encoding::Plain),
        None,
        Some(StorageClass::Glacier),
        Expect::Opens(g.clone()),
    );
    s.object(
        COLD,
        "cold-deep",
        "cold-deep.json.gz",
        encode(&d, Encoding::Gzip),
        None,
        Some(StorageClass::DeepArchive),
        Expect::Opens(d.clone()),
    );

    // A 10k-message conversation.
    let big = conversation(BIG_ID, BIG, "Ten thousand messages", 10_000);
    s.user(BIG, IndexState::Present, &[&big]);
    s.good(BIG, &big, ".json.gz", Encoding::Gzip);

    // Malformed objects.
    let m = |id: &str| conversation(id, MALFORMED, "bad", 2);
    s.user(
        MALFORMED,
        IndexState::Present,
        &[&m("m-truncated-gz"), &m("m-bad-utf8")],
    );
    let gz = encode(&m("m-truncated-gz"), Encoding::Gzip);
    s.object(
        MALFORMED,
        "m-truncated-gz",
        "m-truncated-gz.json.gz",
        gz[..gz.len() / 2].to_vec(),
        None,
        None,
        Expect::Fails("decode"),
    );
    let mut bad_utf8 = encode(&m("m-bad-utf8"), Encoding::Plain);
    let at = bad_utf8.len() / 2;
    bad_utf8[at] = 0xff;
    s.object(
        MALFORMED,
        "m-bad-utf8",
        "m-bad-utf8.json",
        bad_utf8,
        None,
        None,
        Expect::Fails("decode"),
    );
    s.object(
        MALFORMED,
        "m-not-json",
        "m-not-json.json",
        b"<html>502 Bad Gateway</html>".to_vec(),
        None,
        None,
        Expect::Fails("decode"),
    );
    let mut wrong = m("m-wrong-types");
    wrong["messages"] = json!({"0": "not an array"});
    s.object(
        MALFORMED,
        "m-wrong-types",
        "m-wrong-types.json",
        encode(&wrong, Encoding::Plain),
        None,
        None,
        Expect::Fails("shape"),
    );
    let mut deep = m("m-deep");
    deep["messages"][0]["content"] = Value::Null;
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_text = String::from_utf8(encode(&deep, Encoding::Plain))
        .unwrap()
        .replacen("null", &nested, 1);
    s.object(
        MALFORMED,
        "m-deep",
        "m-deep.json",
        deep_text.into_bytes(),
        None,
        None,
        Expect::Fails("decode"),
    );
    let mut huge = m("m-huge");
    huge["messages"][0]["content"] = json!("x".repeat(100 << 20));
    s.object(
        MALFORMED,
        "m-huge",
        "m-huge.json.gz",
        encode(&huge, Encoding::Gzip),
        None,
        None,
        Expect::Fails("too_large"),
    );
    let mut dup = m("m-dup-ids");
    dup["messages"][1]["id"] = dup["messages"][0]["id"].clone();
    s.object(
        MALFORMED,
        "m-dup-ids",
        "m-dup-ids.json",
        encode(&dup, Encoding::Plain),
        None,
        None,
        Expect::Fails("shape"),
    );
    let mut traversal = m("m-traversal");
    traversal["conversation"]["id"] = json!("../x");
    s.object(
        MALFORMED,
        "m-traversal",
        "m-traversal.json",
        encode(&traversal, Encoding::Plain),
        None,
        None,
        Expect::Fails("shape"),
    );
    let other = m("someone-else");
    s.object(
        MALFORMED,
        "m-mismatch",
        "m-mismatch.json",
        encode(&other, Encoding::Plain),
        None,
        None,
        Expect::Fails("shape"),
    );

    // A folder whose name cannot be used safely as a key part.
    let bad_prefix = format!("{}bad..folder/", s.layout.prefix());
    s.put(format!("{bad_prefix}x.json"), encode(&m("x"), Encoding::Plain));
    s.manifest.unusable_folders.push(bad_prefix);
    s
}

/// The live archiver, as a separate program would do it: append an entry to
/// metadata.json with a conditional PUT, retrying on 412.
/// Returns the attempts it took (shared by the race test and the chaos runs).
pub async fn archiver_append(store: &Store, folder: &UserFolder, entry: serde_json::Map<String, Value>) -> u32 {
    let key = store.layout().index_key(folder);
    for attempt in 1..=200 {
        let read = store.read_index(folder).await.unwrap();
        let mut index = read.index.clone();
        index.add_entry(entry.clone());
        let condition = match read.etag {
            Some(etag) => archive_desk_core::store::Condition::IfMatch(etag),
            None => archive_desk_core::store::Condition::IfNoneMatch,
        };
        let body = encode(&index, Encoding::Plain);
        if let archive_desk_core::store::PutOutcome::Written { .. } =
            store.put(&key, body, Encoding::Plain, Some(condition)).await.unwrap()
        {
            return attempt;
        }
        tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(1..=20))).await;
    }
    panic!("archiver could not append after 200 attempts");
}
