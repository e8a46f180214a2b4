//! Opening a conversation through the store's read path
//! (`Store::get_conversation`, as the app's `open_conversation` does) over
//! each link: 1,000 messages (p50/p95 of many rounds) and 10,000 messages
//! (first byte of the GET, and the whole transcript decoded). The user's
//! folder is listed first, as in the app, so a gzip conversation is one GET.

use std::time::{Duration, Instant};

use archive_desk_core::codec::{encode, Encoding};
use archive_desk_core::{ConversationId, Store, UserFolder};
use archive_desk_harness::{fixtures, RawS3};

use crate::data::put_all;
use crate::link::Link;
use crate::report::{ms, percentile};

const EMAIL: &str = "open.bench@example.com";

/// The conversations opened: (label, id, messages, stored as).
const OPENED: [(&str, &str, usize, Encoding); 4] = [
    ("1,000 messages, plain", "open-1000-plain", 1_000, Encoding::Plain),
    ("1,000 messages, gzip", "open-1000-gzip", 1_000, Encoding::Gzip),
    ("10,000 messages, plain", "open-10000-plain", 10_000, Encoding::Plain),
    ("10,000 messages, gzip", "open-10000-gzip", 10_000, Encoding::Gzip),
];

pub struct OpenRow {
    pub link: Link,
    pub label: &'static str,
    pub stored_bytes: u64,
    pub rounds: usize,
    /// Until the GET's answer starts (status and headers): the floor for
    /// anything that could show messages before the whole body is in.
    pub first_byte_p50: Duration,
    /// Until the whole transcript is decoded and in hand: what the app gets.
    pub whole_p50: Duration,
    pub whole_p95: Duration,
}

/// Write the conversations (directly, unmeasured).
pub async fn seed(store: &Store) {
    let folder = UserFolder::from_email(EMAIL).expect("email");
    let mut puts = Vec::new();
    for (_, id, messages, enc) in OPENED {
        let doc = fixtures::conversation(id, EMAIL, "A long conversation", messages);
        let cid = ConversationId::parse(id).expect("id");
        let key = store.layout().conversation_key(&folder, &cid, enc == Encoding::Gzip);
        puts.push((key, encode(&doc, enc)));
    }
    put_all(store, puts, 4).await;
}

/// Every conversation opened over `store`'s link; the first rounds warm
/// connections and caches and are not counted.
pub async fn open_rows(store: &Store, link: Link) -> Vec<OpenRow> {
    let folder = UserFolder::from_email(EMAIL).expect("email");
    // One SDK client over the same link, for the bare GETs.
    let raw = store.client();
    // As the app does before any conversation is opened: the user's folder
    // listed (unmeasured), so the store knows which are stored as gzip.
    store.list_objects(&folder).await.expect("folder lists");
    let mut rows = Vec::new();
    for (label, id, messages, enc) in OPENED {
        let cid = ConversationId::parse(id).expect("id");
        let key = store.layout().conversation_key(&folder, &cid, enc == Encoding::Gzip);
        let (warm, counted) = if messages > 1_000 { (2, 10) } else { (10, 50) };
        let mut first = Vec::new();
        let mut whole = Vec::new();
        let mut stored_bytes = 0;
        for round in 0..warm + counted {
            let started = Instant::now();
            let head = raw
                .get_object()
                .bucket(store.bucket())
                .key(&key)
                .send()
                .await
                .expect("GET");
            let first_byte = started.elapsed();
            stored_bytes = head.content_length().unwrap_or(0) as u64;
            drop(head);

            let started = Instant::now();
            let opened = store.get_conversation(&folder, &cid).await.expect("opens");
            let took = started.elapsed();
            assert_eq!(opened.document.messages().len(), messages);
            if round >= warm {
                first.push(first_byte);
                whole.push(took);
            }
        }
        first.sort();
        whole.sort();
        rows.push(OpenRow {
            link,
            label,
            stored_bytes,
            rounds: counted,
            first_byte_p50: percentile(&first, 0.5),
            whole_p50: percentile(&whole, 0.5),
            whole_p95: percentile(&whole, 0.95),
        });
    }
    rows
}

pub fn markdown(rows: &[OpenRow]) -> String {
    let mut md = String::from(
        "\n### Open a conversation (`Store::get_conversation`, the app's read path)\n\n\
         The core hands a transcript over whole, once its object is read and decoded: \
         that is when its first messages can be shown (the app then renders them in batches). \
         \"First byte\" is a bare GET's answer starting: the floor for anything streamed.\n\n\
         | link | conversation | stored | rounds | first byte p50 | whole transcript p50 (goal 1,000 msgs ≤ 30 ms at 0 ms) | p95 |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {} KiB | {} | {} | {} | {} |\n",
            r.link,
            r.label,
            r.stored_bytes >> 10,
            r.rounds,
            ms(r.first_byte_p50),
            ms(r.whole_p50),
            ms(r.whole_p95)
        ));
    }
    md
}
