//! Counts in words, as every text the core and the CLI show: "1 message",
//! "2 messages", never "message(s)".

/// `n` and the noun, plural by an "s" unless `n` is 1.
pub fn count(n: u64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// `n` and `one` or `many`, for nouns an "s" does not make plural.
pub fn count_as(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1, "message"), "1 message");
        assert_eq!(count(0, "message"), "0 messages");
        assert_eq!(count(1_000, "object version"), "1000 object versions");
        assert_eq!(count_as(1, "index entry", "index entries"), "1 index entry");
        assert_eq!(count_as(2, "index entry", "index entries"), "2 index entries");
    }
}
