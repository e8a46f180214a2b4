//! A user's `metadata.json` bytes through the core's decoder: never a panic;
//! an error names the key and has one of the decoder's codes; an index that
//! decodes keeps every field (a missing entry list is added, nothing else),
//! re-encodes to the same index, and its edits (dedupe, remove, add, set the
//! email) keep it valid and do what they say. Gzip is transparent.
#![no_main]

use std::collections::HashSet;

use archive_desk_core::codec::{decode_index, decode_text, encode, is_gzip};
use archive_desk_core::{Encoding, ErrorCode, Limits, UserIndex};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const KEY: &str = "archived_conversations/u_at_x_io/metadata.json";

fn ids(index: &UserIndex) -> Vec<String> {
    index.entries().map(|e| e.conversation_id()).collect()
}

fn reencoded(index: &UserIndex) -> UserIndex {
    let (again, _) = decode_index(KEY, encode(index, Encoding::Gzip), &Limits::default()).expect("an index re-encodes");
    assert_eq!(&again, index);
    again
}

fuzz_target!(|data: &[u8]| {
    let decoded = decode_index(KEY, data.to_vec(), &Limits::default());
    if !is_gzip(data) {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        let gz = decode_index(KEY, gz.finish().unwrap(), &Limits::default());
        match (&decoded, &gz) {
            (Ok((a, Encoding::Plain)), Ok((b, Encoding::Gzip))) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{a} / {b}"),
            _ => panic!("gzip changed the outcome: {decoded:?} / {gz:?}"),
        }
    }
    let mut index = match decoded {
        Ok((index, encoding)) => {
            assert_eq!(encoding == Encoding::Gzip, is_gzip(data));
            index
        }
        Err(e) => {
            assert!(
                matches!(e.code(), ErrorCode::Decode | ErrorCode::Shape | ErrorCode::TooLarge),
                "code {}: {e}",
                e.code()
            );
            assert!(
                e.to_string().starts_with(&format!("{KEY}: ")),
                "error does not name the key: {e}"
            );
            return;
        }
    };

    // Every field kept; only a missing entry list is added.
    let (text, _) = decode_text(KEY, data.to_vec(), &Limits::default()).unwrap();
    let mut value: Value = serde_json::from_str(&text).unwrap();
    let root = value.as_object_mut().unwrap();
    root.entry("archived_conversations").or_insert_with(|| json!([]));
    assert_eq!(&Value::Object(index.as_map().clone()), &value);
    reencoded(&index);

    // Dedupe keeps the first entry of each id, in order.
    let before = ids(&index);
    let removed = index.remove_duplicate_entries();
    let mut seen = HashSet::new();
    let firsts: Vec<String> = before
        .iter()
        .filter(|id| seen.insert(id.to_string()))
        .cloned()
        .collect();
    assert_eq!(ids(&index), firsts);
    assert_eq!(removed, before.len() - firsts.len());
    assert_eq!(index.remove_duplicate_entries(), 0);
    let mut index = reencoded(&index);

    // Removing ids removes exactly those.
    let gone: HashSet<String> = firsts.iter().step_by(2).cloned().collect();
    let mut removed = index.remove_entries(&gone);
    removed.sort();
    let mut want: Vec<String> = gone.iter().cloned().collect();
    want.sort();
    assert_eq!(removed, want);
    let left = ids(&index);
    assert!(left.iter().all(|id| !gone.contains(id)));
    assert_eq!(left.len(), firsts.len() - gone.len());

    // Adding an entry that exists is a no-op; a new one is appended.
    if let Some(first) = left.first() {
        assert!(!index.add_entry(json!({"conversation_id": first}).as_object().unwrap().clone()));
    }
    let fresh = format!("fuzz-new-{}", left.len());
    if !left.contains(&fresh) {
        assert!(index.add_entry(
            json!({"conversation_id": fresh, "title": null})
                .as_object()
                .unwrap()
                .clone()
        ));
        assert_eq!(ids(&index).last(), Some(&fresh));
    }

    // The email is set only when missing.
    let had = index.user_email().map(str::to_owned);
    assert_eq!(index.set_user_email_if_missing("fuzz@example.com"), had.is_none());
    assert_eq!(index.user_email(), Some(had.as_deref().unwrap_or("fuzz@example.com")));
    reencoded(&index);
});
