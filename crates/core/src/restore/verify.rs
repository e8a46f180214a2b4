//! Verification after a restore: every restored row, as stored afterwards,
//! must hold what the archive holds in every restored field. A count is not
//! enough: a row that was already there (skipped by `ON CONFLICT DO
//! NOTHING`) may hold something else under the same id.
//!
//! Values are compared type-tolerantly but exactly, as the database returns
//! them: timestamps as instants (`...Z` and `...+00:00` are the same
//! moment), numbers numerically (`5` and `5.0`), JSON structurally, and a
//! value stored into a text column as its text.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// At most this many differences are listed in a report (all are counted).
pub const MAX_LISTED: usize = 50;

/// One field whose stored value is not the archive's.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Difference {
    /// `conversations` or `messages` (the target's table name).
    pub table: String,
    /// The row's key as text.
    pub row_id: String,
    /// The column; the key column itself when the row is missing.
    pub field: String,
    /// The archive's value.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub archive: Value,
    /// The stored value (`null` when the row is missing).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub target: Value,
}

/// Differences found so far: the first [`MAX_LISTED`], and how many.
#[derive(Debug, Default)]
pub struct Differences {
    pub listed: Vec<Difference>,
    pub count: u64,
}

impl Differences {
    fn push(&mut self, d: Difference) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(d);
        }
    }

    /// Compare the archive's `expected` rows with the `stored` rows read
    /// back from `table` by `key`. Rows stored but not expected are ignored
    /// (unrelated rows do not matter).
    pub fn compare(&mut self, table: &str, key: &str, expected: &[Map<String, Value>], stored: &[Value]) {
        let by_key: HashMap<String, &Map<String, Value>> = stored
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|row| row.get(key).map(|k| (key_text(k), row)))
            .collect();
        for row in expected {
            let id = row.get(key).map(key_text).unwrap_or_default();
            let Some(found) = by_key.get(&id) else {
                self.push(Difference {
                    table: table.to_owned(),
                    row_id: id,
                    field: key.to_owned(),
                    archive: row.get(key).cloned().unwrap_or(Value::Null),
                    target: Value::Null,
                });
                continue;
            };
            for (field, want) in row {
                let got = found.get(field).unwrap_or(&Value::Null);
                if !same(want, got) {
                    self.push(Difference {
                        table: table.to_owned(),
                        row_id: id.clone(),
                        field: field.clone(),
                        archive: want.clone(),
                        target: got.clone(),
                    });
                }
            }
        }
    }
}

/// A key as text (`"m1"` -> `m1`, `5` -> `5`): archive ids may be numbers
/// stored in text columns and the other way round.
pub fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether the stored value `target` is the archive's value `archive`.
pub fn same(archive: &Value, target: &Value) -> bool {
    match (archive, target) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(a), Value::Number(b)) => same_number(a, b),
        (Value::String(a), Value::String(b)) => {
            a == b || matches!((instant(a), instant(b)), (Some(x), Some(y)) if x == y)
        }
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| same(x, y)))
        }
        // A string stored into a number column, or a number into a text one.
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => {
            serde_json::from_str::<serde_json::Number>(s.trim()).is_ok_and(|p| same_number(n, &p))
        }
        (Value::Bool(b), Value::String(s)) => *s == b.to_string(),
        (Value::String(s), Value::Bool(b)) => {
            let s = s.trim().to_ascii_lowercase();
            (*b && matches!(s.as_str(), "true" | "t" | "yes" | "on" | "1"))
                || (!*b && matches!(s.as_str(), "false" | "f" | "no" | "off" | "0"))
        }
        // JSON stored into a text column is its text.
        (Value::Array(_) | Value::Object(_), Value::String(s)) => {
            serde_json::from_str::<Value>(s).is_ok_and(|parsed| same(archive, &parsed))
        }
        _ => false,
    }
}

/// Integers compare exactly (an f64 holds only 53 bits: 2^53 + 1 would
/// equal 2^53); an integer and a float are equal only when the float is
/// exactly that integer; two floats as floats.
fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    let int = |n: &serde_json::Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    // The float's exact value when it is a whole number in i128's range.
    let whole = |n: &serde_json::Number| {
        n.as_f64()
            .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 2f64.powi(126))
            .map(|f| f as i128)
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x == y,
        (Some(x), None) => whole(b) == Some(x),
        (None, Some(y)) => whole(a) == Some(y),
        (None, None) => matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y),
    }
}

/// Nanoseconds since 1970 of an ISO 8601 / RFC 3339 timestamp
/// (`2024-01-01T00:00:00Z`, `2024-01-01 00:00:00.5+05:30`, and without an
/// offset, taken as UTC as Supabase's databases are); `None` for anything
/// else.
pub fn instant(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = b.get(from..from + n)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        nanos = frac.parse::<i128>().ok()? * 10i128.pow(9 - frac.len() as u32);
    }
    let offset_seconds: i64 = match &b[i..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let rest = std::str::from_utf8(rest).ok()?;
            let (h, m) = match rest.len() {
                2 => (rest, "00"),
                4 => rest.split_at(2),
                5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
                _ => return None,
            };
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 3600 + m * 60;
            if *sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(i128::from(seconds) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_beyond_2_pow_53_compare_exactly() {
        let two53: i64 = 1 << 53;
        assert!(!same(&json!(two53 + 1), &json!(two53)));
        assert!(!same(&json!(two53), &json!(two53 + 1)));
        assert!(!same(&json!(u64::MAX), &json!(u64::MAX - 1)));
        assert!(!same(&json!(i64::MIN), &json!(i64::MIN + 1)));
        assert!(same(&json!(two53 + 1), &json!(two53 + 1)));
        assert!(same(&json!(u64::MAX), &json!(u64::MAX)));
        // A float that is exactly the integer may equal it; one that is not
        // (2^53 as f64 is not 2^53 + 1) must not.
        assert!(same(&json!(two53), &json!(two53 as f64)));
        assert!(same(&json!(5), &json!(5.0)));
        assert!(same(&json!(5.0), &json!(5)));
        assert!(!same(&json!(two53 + 1), &json!((two53 + 1) as f64)));
        assert!(!same(&json!((two53 + 1) as f64), &json!(two53 + 1)));
        assert!(!same(&json!(5), &json!(5.5)));
        assert!(!same(&json!(u64::MAX), &json!(u64::MAX as f64)));
        // Through text, too.
        assert!(!same(&json!(two53 + 1), &json!(two53.to_string())));
        assert!(same(&json!(two53 + 1), &json!((two53 + 1).to_string())));
        assert!(same(&json!(0.5), &json!(0.5)));
    }

    #[test]
    fn timestamps_compare_as_instants() {
        assert_eq!(instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(instant("2024-01-01T00:00:00Z"), Some(1_704_067_200_000_000_000));
        for same_moment in [
            "2024-01-01T00:00:00+00:00",
            "2024-01-01 00:00:00",
            "2024-01-01T01:30:00+01:30",
            "2023-12-31T19:00:00-05",
            "2024-01-01T00:00:00.000Z",
        ] {
            assert!(
                same(&json!("2024-01-01T00:00:00Z"), &json!(same_moment)),
                "{same_moment}"
            );
        }
        assert!(same(
            &json!("2024-03-05T10:11:12.345Z"),
            &json!("2024-03-05T10:11:12.345+00:00")
        ));
        assert!(!same(
            &json!("2024-03-05T10:11:12.345Z"),
            &json!("2024-03-05T10:11:12.346+00:00")
        ));
        assert!(!same(
            &json!("2024-01-01T00:00:00Z"),
            &json!("2024-01-01T00:00:01+00:00")
        ));
        for not_a_timestamp in ["2024-01-01", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00Zx", "hello"] {
            assert_eq!(instant(not_a_timestamp), None, "{not_a_timestamp}");
        }
    }

    #[test]
    fn numbers_json_and_text_compare_by_value() {
        assert!(same(&json!(5), &json!(5.0)));
        assert!(same(&json!(0.001234), &json!(0.001234)));
        assert!(!same(&json!(0.1), &json!(0.2)));
        assert!(same(&json!(42), &json!("42")));
        assert!(same(&json!("42"), &json!(42)));
        assert!(same(&json!({"a": [1, {"b": 2}]}), &json!({"a": [1.0, {"b": 2}]})));
        assert!(same(&json!({"a": 1, "b": 2}), &json!("{\"b\": 2, \"a\": 1}")));
        assert!(!same(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(same(&json!(true), &json!("true")));
        assert!(!same(&json!("x"), &Value::Null));
        assert!(!same(&Value::Null, &json!("")));
        assert!(same(&Value::Null, &Value::Null));
        assert!(!same(&json!("hello"), &json!("hello ")));
    }

    #[test]
    fn differences_name_rows_and_fields_and_ignore_unrelated_rows() {
        let expected: Vec<Map<String, Value>> = vec![
            json!({"id": "m1", "content": "hi", "created_at": "2024-01-01T00:00:00Z"}),
            json!({"id": "m2", "content": "there"}),
            json!({"id": 3, "content": "three"}),
        ]
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
        let stored = vec![
            json!({"id": "m1", "content": "hi", "created_at": "2024-01-01T00:00:00+00:00"}),
            json!({"id": "m2", "content": "something else"}),
            json!({"id": "unrelated", "content": "x"}),
        ];
        let mut d = Differences::default();
        d.compare("messages", "id", &expected, &stored);
        assert_eq!(d.count, 2);
        assert_eq!(
            (d.listed[0].row_id.as_str(), d.listed[0].field.as_str()),
            ("m2", "content")
        );
        assert_eq!(d.listed[0].target, json!("something else"));
        assert_eq!((d.listed[1].row_id.as_str(), d.listed[1].field.as_str()), ("3", "id"));
        assert_eq!(d.listed[1].target, Value::Null);

        let many: Vec<Map<String, Value>> = (0..70)
            .map(|i| json!({"id": format!("x{i}")}).as_object().unwrap().clone())
            .collect();
        let mut d = Differences::default();
        d.compare("messages", "id", &many, &[]);
        assert_eq!((d.count, d.listed.len()), (70, MAX_LISTED));
    }
}
