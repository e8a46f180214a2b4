//! Bytes <-> documents. Gzip is detected by its magic bytes, whatever the key
//! suffix or `Content-Encoding` say; every error names the object key.

use std::io::{Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{ConversationDocument, UserIndex};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Size guards, so one huge or hostile object cannot take the app down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest object fetched from the store, as stored (compressed or not).
    pub max_object_bytes: u64,
    /// Largest JSON text after decompression.
    pub max_json_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        // Real conversations are kilobytes to a few megabytes; 10k messages
        // of chat fit well under this.
        Limits {
            max_object_bytes: 64 << 20,
            max_json_bytes: 64 << 20,
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Plain,
    Gzip,
}

pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Turn stored bytes into JSON text: gunzip if the magic says so, enforce the
/// limits, check UTF-8.
pub fn decode_text(key: &str, bytes: Vec<u8>, limits: &Limits) -> Result<(String, Encoding)> {
    if bytes.len() as u64 > limits.max_object_bytes {
        return Err(Error::TooLarge {
            key: key.to_owned(),
            what: "stored object",
            limit_bytes: limits.max_object_bytes,
        });
    }
    let (raw, encoding) = if is_gzip(&bytes) {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        // Read one byte past the limit to tell "at the limit" from "over it".
        MultiGzDecoder::new(&bytes[..])
            .take(limits.max_json_bytes + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::Decode {
                key: key.to_owned(),
                reason: format!("truncated or corrupt gzip data ({e})"),
            })?;
        if out.len() as u64 > limits.max_json_bytes {
            return Err(Error::TooLarge {
                key: key.to_owned(),
                what: "decompressed JSON",
                limit_bytes: limits.max_json_bytes,
            });
        }
        (out, Encoding::Gzip)
    } else {
        if bytes.len() as u64 > limits.max_json_bytes {
            return Err(Error::TooLarge {
                key: key.to_owned(),
                what: "JSON text",
                limit_bytes: limits.max_json_bytes,
            });
        }
        (bytes, Encoding::Plain)
    };
    let text = String::from_utf8(raw).map_err(|e| Error::Decode {
        key: key.to_owned(),
        reason: format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
    })?;
    Ok((text, encoding))
}

/// Parse JSON text into a `Value`, with errors a person can act on.
pub fn parse_json(key: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        let reason = if e.is_eof() {
            format!("truncated JSON ({e})")
        } else if e.to_string().contains("recursion limit") {
            format!("JSON nested too deeply ({e})")
        } else {
            format!("not valid JSON ({e})")
        };
        Error::Decode {
            key: key.to_owned(),
            reason,
        }
    })
}

pub fn decode_conversation(key: &str, bytes: Vec<u8>, limits: &Limits) -> Result<(ConversationDocument, Encoding)> {
    let (text, encoding) = decode_text(key, bytes, limits)?;
    let value = parse_json(key, &text)?;
    drop(text);
    Ok((ConversationDocument::from_value(key, value)?, encoding))
}

pub fn decode_index(key: &str, bytes: Vec<u8>, limits: &Limits) -> Result<(UserIndex, Encoding)> {
    let (text, encoding) = decode_text(key, bytes, limits)?;
    Ok((UserIndex::from_value(key, parse_json(key, &text)?)?, encoding))
}

/// A document as JSON, optionally gzip-compressed.
pub fn encode<T: Serialize>(doc: &T, encoding: Encoding) -> Vec<u8> {
    let json = serde_json::to_vec(doc).expect("a JSON value always serializes");
    match encoding {
        Encoding::Plain => json,
        Encoding::Gzip => {
            let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), flate2::Compression::default());
            gz.write_all(&json).expect("writing to a Vec cannot fail");
            gz.finish().expect("writing to a Vec cannot fail")
        }
    }
}

/// Write `doc` to `path` all or nothing: a temp file beside it, then rename.
pub fn write_file_atomic<T: Serialize>(path: &Path, doc: &T, encoding: Encoding) -> Result<()> {
    write_bytes_atomic(path, &encode(doc, encoding))
}

/// Write `bytes` to `path` all or nothing: a temp file beside it (owner-only
/// on Unix), fsynced, then renamed over `path`.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = crate::owner_only::temp_file_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({"conversation": {"id": "c"}, "messages": [{"id": "m", "role": "user", "content": "é"}]})
    }

    #[test]
    fn gzip_is_detected_by_magic_not_name() {
        let limits = Limits::default();
        let gz = encode(&sample(), Encoding::Gzip);
        let (doc, enc) = decode_conversation("x.json", gz, &limits).unwrap();
        assert_eq!(enc, Encoding::Gzip);
        assert_eq!(doc.into_value(), sample());
        let (_, enc) = decode_conversation("x.json.gz", encode(&sample(), Encoding::Plain), &limits).unwrap();
        assert_eq!(enc, Encoding::Plain);
    }

    #[test]
    fn malformed_bytes_give_named_errors() {
        let limits = Limits::default();
        let gz = encode(&sample(), Encoding::Gzip);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (gz[..gz.len() / 2].to_vec(), "gzip"),
            (b"{\"conversation\": \xff}".to_vec(), "invalid UTF-8"),
            (b"{\"conversation\": ".to_vec(), "truncated JSON"),
            (b"hello".to_vec(), "not valid JSON"),
            (
                format!("{}1{}", "[".repeat(1000), "]".repeat(1000)).into_bytes(),
                "nested too deeply",
            ),
        ];
        for (bytes, want) in cases {
            let e = decode_conversation("p/u/c.json", bytes, &limits).unwrap_err();
            assert_eq!(e.code(), "decode");
            let msg = e.to_string();
            assert!(msg.starts_with("p/u/c.json: ") && msg.contains(want), "{msg}");
        }
    }

    /// Found by fuzzing (fuzz/seeds/document/float-roundtrip.json, index
    /// likewise): serde_json's default float parser may land one ulp off, so
    /// a number read and written back (export, restore) changed value, e.g.
    /// 1.5678901215252 became 1.5678901215252001. `float_roundtrip` parses
    /// exactly.
    #[test]
    fn numbers_survive_a_read_and_a_write() {
        let limits = Limits::default();
        for n in [
            "1.5678901215252",
            "-4e-25",
            "4.444e26",
            "0.1",
            "2.2250738585072014e-308",
        ] {
            let text = format!(r#"{{"conversation":{{"id":"c"}},"messages":[],"x":{n}}}"#);
            let (doc, _) = decode_conversation("k", text.clone().into_bytes(), &limits).unwrap();
            let written = encode(&doc, Encoding::Plain);
            let (again, _) = decode_conversation("k", written.clone(), &limits).unwrap();
            assert_eq!(again, doc, "{n}");
            let want: f64 = n.parse().unwrap();
            assert_eq!(doc.as_map()["x"].as_f64(), Some(want), "{n} parsed inexactly");
        }
    }

    #[test]
    fn size_guard() {
        let limits = Limits {
            max_object_bytes: 1 << 20,
            max_json_bytes: 100,
        };
        let big = json!({"conversation": {"id": "c"}, "messages": [{"id": "m", "content": "x".repeat(500)}]});
        for enc in [Encoding::Plain, Encoding::Gzip] {
            let e = decode_conversation("k", encode(&big, enc), &limits).unwrap_err();
            assert_eq!(e.code(), "too_large", "{enc:?}");
        }
    }

    #[test]
    fn atomic_write_leaves_nothing_on_bad_dir() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json.gz");
        write_file_atomic(&path, &sample(), Encoding::Gzip).unwrap();
        let back = std::fs::read(&path).unwrap();
        assert!(is_gzip(&back));
        let missing = dir.path().join("no/such/dir/out.json");
        assert_eq!(
            write_file_atomic(&missing, &sample(), Encoding::Plain)
                .unwrap_err()
                .code(),
            "io"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
