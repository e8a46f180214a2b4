//! PostgREST's query syntax as the REST target writes it: column names in
//! `select=`, and keys as `in.(...)` lists cut short enough for a URL.

use serde_json::Value;

use crate::restore::verify;

/// Keys per read-back or delete request, and the longest `in.(...)` list:
/// keeps URLs short (percent-encoded they grow by half; the stand-in's
/// gateway answered 502 to 4,000-character lists) and rows per answer
/// under Supabase's default 1,000-row limit.
const KEYS_PER_REQUEST: usize = 100;
const MAX_LIST_CHARS: usize = 1500;

/// A column in PostgREST's `select=`: plain names as they are, others
/// double-quoted.
pub(in crate::restore) fn select_name(column: &str) -> String {
    if column.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        column.to_owned()
    } else {
        format!("\"{}\"", column.replace('"', "\"\""))
    }
}

/// PostgREST's `select=` for these columns and the key (once).
pub(in crate::restore) fn select_list(columns: &[String], key: &str) -> String {
    let mut select: Vec<String> = columns.iter().map(|c| select_name(c)).collect();
    if !columns.iter().any(|c| c == key) {
        select.push(select_name(key));
    }
    select.join(",")
}

/// Keys as PostgREST `in.(...)` lists (each value double-quoted, `"` and
/// `\` escaped), cut so that no list is too long for a URL.
pub(in crate::restore) fn in_lists(keys: &[Value]) -> Vec<String> {
    key_groups(keys).into_iter().map(in_list).collect()
}

/// `keys` cut into the groups [`in_lists`] makes lists of.
pub(in crate::restore) fn key_groups(keys: &[Value]) -> Vec<&[Value]> {
    let mut groups = Vec::new();
    let (mut start, mut chars) = (0, 0);
    for (i, k) in keys.iter().enumerate() {
        let len = quoted(k).len();
        if i > start && (i - start >= KEYS_PER_REQUEST || chars + len > MAX_LIST_CHARS) {
            groups.push(&keys[start..i]);
            (start, chars) = (i, 0);
        }
        chars += len + 1;
    }
    if start < keys.len() {
        groups.push(&keys[start..]);
    }
    groups
}

/// One group of keys as the inside of an `in.(...)` list.
pub(in crate::restore) fn in_list(keys: &[Value]) -> String {
    keys.iter().map(quoted).collect::<Vec<_>>().join(",")
}

/// One key as a PostgREST value (in lists and `or=(...)` trees alike).
pub(in crate::restore) fn quoted(key: &Value) -> String {
    let text = verify::key_text(key);
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_lists_are_quoted_and_cut_short() {
        let keys: Vec<Value> = (0..250).map(|i| json!(format!("m{i}"))).collect();
        let lists = in_lists(&keys);
        assert_eq!(lists.len(), 3);
        assert!(lists[0].starts_with("\"m0\",\"m1\""));
        assert_eq!(in_lists(&[json!("a\"b\\c"), json!(7)]), ["\"a\\\"b\\\\c\",\"7\""]);
        let long: Vec<Value> = (0..50).map(|i| json!(format!("{i}-{}", "x".repeat(200)))).collect();
        assert!(in_lists(&long).iter().all(|l| l.len() <= MAX_LIST_CHARS + 210));
        assert_eq!(select_name("created_at"), "created_at");
        assert_eq!(select_name("odd name"), "\"odd name\"");
        assert_eq!(select_list(&["a".into(), "odd name".into()], "id"), "a,\"odd name\",id");
        assert_eq!(select_list(&["id".into(), "a".into()], "id"), "id,a");
    }
}
