//! A conversation object's bytes, as S3 returns them (gzip or not), through
//! the core's decoder: never a panic; an error names the key and has one of
//! the decoder's codes; a document that decodes keeps every field of its
//! JSON, re-encodes (plain and gzip) to the same document, fits limits set
//! to exactly its sizes and not one byte less, and yields the index entry
//! the archiver writes. Gzip is transparent: the same bytes gzip'd decode
//! to the same result.
#![no_main]

use archive_desk_core::codec::{decode_conversation, decode_index, decode_text, encode, is_gzip};
use archive_desk_core::{
    ConversationId, Encoding, Error, ErrorCode, Layout, Limits, ObjectKind, UserFolder, UserIndex,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const KEY: &str = "archived_conversations/u_at_x_io/c.json";

fn check_error(e: &Error) {
    assert!(
        matches!(e.code(), ErrorCode::Decode | ErrorCode::Shape | ErrorCode::TooLarge),
        "code {}: {e}",
        e.code()
    );
    assert!(
        e.to_string().starts_with(&format!("{KEY}: ")),
        "error does not name the key: {e}"
    );
}

fn limits(object: u64, json: u64) -> Limits {
    Limits {
        max_object_bytes: object,
        max_json_bytes: json,
    }
}

fuzz_target!(|data: &[u8]| {
    let decoded = decode_conversation(KEY, data.to_vec(), &Limits::default());

    // Gzip by magic bytes is transparent.
    if !is_gzip(data) {
        let gz = decode_conversation(KEY, encode_bytes_gzip(data), &Limits::default());
        match (&decoded, &gz) {
            (Ok((a, Encoding::Plain)), Ok((b, Encoding::Gzip))) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{a} / {b}"),
            _ => panic!("gzip changed the outcome: {decoded:?} / {gz:?}"),
        }
    }

    let (doc, encoding) = match decoded {
        Ok(d) => d,
        Err(e) => return check_error(&e),
    };
    assert_eq!(encoding == Encoding::Gzip, is_gzip(data));

    // Nothing dropped: the document is the whole JSON object it was read from.
    let (text, _) = decode_text(KEY, data.to_vec(), &Limits::default()).expect("decoded once");
    let value: Value = serde_json::from_str(&text).expect("parsed once");
    assert_eq!(&Value::Object(doc.as_map().clone()), &value);

    // Re-encoded either way, it decodes to the same document.
    for enc in [Encoding::Plain, Encoding::Gzip] {
        let (again, got) = decode_conversation(KEY, encode(&doc, enc), &Limits::default()).expect("re-encoded decodes");
        assert_eq!(got, enc);
        assert_eq!(again, doc);
    }

    // The limits are exact: at its sizes it decodes, one byte less it does not.
    let (stored, json) = (data.len() as u64, text.len() as u64);
    assert!(decode_conversation(KEY, data.to_vec(), &limits(stored, json)).is_ok());
    let e = decode_conversation(KEY, data.to_vec(), &limits(stored - 1, json)).unwrap_err();
    assert_eq!(e.code(), "too_large", "{e}");
    let e = decode_conversation(KEY, data.to_vec(), &limits(stored, json - 1)).unwrap_err();
    assert_eq!(e.code(), "too_large", "{e}");

    // Its id is a key part, and its key classifies back to it.
    let id = ConversationId::parse(doc.id()).expect("a decoded id is a valid key part");
    let layout = Layout::default();
    let folder = UserFolder::parse("u_at_x_io").unwrap();
    for gz in [false, true] {
        assert_eq!(
            layout.classify(&folder, &layout.conversation_key(&folder, &id, gz)),
            ObjectKind::Conversation {
                id: id.clone(),
                gz_suffix: gz
            }
        );
    }

    // The archiver's index entry for it makes a valid index.
    let mut index = UserIndex::default();
    assert!(index.add_entry(doc.index_entry()));
    let (index, _) = decode_index("i", encode(&index, Encoding::Plain), &Limits::default()).expect("entry is valid");
    let entry = index.entries().next().expect("one entry");
    assert_eq!(entry.conversation_id(), doc.id());
    assert_eq!(
        entry.message_count(),
        Some(
            doc.archive_metadata()
                .and_then(|m| m.u64("message_count"))
                .unwrap_or(doc.messages().len() as u64)
        )
    );
});

fn encode_bytes_gzip(data: &[u8]) -> Vec<u8> {
    // `encode` takes a serializable value; raw bytes go through a gzip of their own.
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}
