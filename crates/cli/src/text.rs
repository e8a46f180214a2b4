//! Readable output shared by the commands' renderers. Archive content is
//! untrusted: everything printed from it goes through `printable`, so no
//! escape sequence or bidi override in a message can drive the terminal.

use std::borrow::Cow;

use archive_desk_core::browse::EmailSource;

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// `s` with control characters and bidi overrides shown as `\u{..}`.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if is_unsafe(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// One line: no line breaks either.
pub fn inline(s: &str) -> String {
    printable(s).replace(['\n', '\t'], " ")
}

/// One line of at most 120 characters (a message can be long).
pub fn clipped(s: &str) -> String {
    let line = inline(s);
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

pub fn or_dash(s: Option<&str>) -> String {
    s.map(inline).unwrap_or_else(|| "-".into())
}

/// A user's email as known: from the index, guessed from the folder (`~`), or not at all (`?`).
pub fn email_label(email: Option<&str>, source: EmailSource) -> String {
    match source {
        EmailSource::Index => or_dash(email),
        EmailSource::Guessed => format!("~{}", or_dash(email)),
        EmailSource::Unknown => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_control_and_bidi() {
        assert_eq!(printable("plain\nline"), "plain\nline");
        assert_eq!(printable("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(printable("a\u{202E}b"), "a\\u{202e}b");
        assert_eq!(inline("a\nb"), "a b");
    }
}
