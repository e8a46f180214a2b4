//! Input bounds as types: a value a person (or a page) hands the core is
//! checked once, when it becomes one of these, and the core's functions take
//! the type, so no front end can skip the check or set a bound of its own.
//! Each deserializes through its constructor, so the desktop shell takes
//! IPC arguments straight into them; the CLI parses its
//! flags into the same types (`FromStr`). In TypeScript they stay plain
//! numbers and strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::secret::Secret;

/// How many days a thawed (restored) copy of a cold object stays readable:
/// 1 to 365.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, type = "number"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThawDays(u32);

impl ThawDays {
    pub const MAX: u32 = 365;

    pub fn new(days: u32) -> Result<Self> {
        if (1..=Self::MAX).contains(&days) {
            Ok(ThawDays(days))
        } else {
            Err(Error::InvalidInput(format!(
                "thaw days {days}: must be between 1 and {}",
                Self::MAX
            )))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// The text of a catalog search: at most 200 characters.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, type = "string"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    pub const MAX_CHARS: usize = 200;

    pub fn new(text: impl Into<String>) -> Result<Self> {
        let text = text.into();
        let chars = text.chars().count();
        if chars <= Self::MAX_CHARS {
            Ok(SearchText(text))
        } else {
            Err(Error::InvalidInput(format!(
                "a search of {chars} characters: at most {} are searched",
                Self::MAX_CHARS
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hits on one page of search results: 1 to 200.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, type = "number"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchLimit(usize);

impl SearchLimit {
    pub const MAX: usize = 200;

    pub fn new(limit: usize) -> Result<Self> {
        if (1..=Self::MAX).contains(&limit) {
            Ok(SearchLimit(limit))
        } else {
            Err(Error::InvalidInput(format!(
                "{limit} hits a page: a search page has 1 to {} hits",
                Self::MAX
            )))
        }
    }

    pub fn get(self) -> usize {
        self.0
    }
}

/// Search hits skipped before a page starts: at most 1,000,000.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, type = "number"))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchOffset(usize);

impl SearchOffset {
    pub const MAX: usize = 1_000_000;

    pub fn new(offset: usize) -> Result<Self> {
        if offset <= Self::MAX {
            Ok(SearchOffset(offset))
        } else {
            Err(Error::InvalidInput(format!(
                "search offset {offset}: at most {} hits are skipped",
                Self::MAX
            )))
        }
    }

    pub fn get(self) -> usize {
        self.0
    }
}

/// A secret as a person typed or piped it, to be stored in the keychain:
/// surrounding whitespace (a pasted newline) removed, then 1 byte to 16 KiB.
/// Its error never shows the value; `Debug` prints `<redacted>`; it
/// deserializes (a secret goes in) but never serializes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, type = "string"))]
#[derive(Clone, PartialEq, Eq)]
pub struct SecretInput(Secret);

impl SecretInput {
    pub const MAX_BYTES: usize = 16 * 1024;

    pub fn new(value: &str) -> Result<Self> {
        let value = value.trim();
        if value.is_empty() {
            return Err(Error::InvalidInput("the secret is empty".into()));
        }
        if value.len() > Self::MAX_BYTES {
            return Err(Error::InvalidInput(format!(
                "the secret is {} bytes long: at most {} are stored",
                value.len(),
                Self::MAX_BYTES
            )));
        }
        Ok(SecretInput(Secret::new(value)))
    }

    pub fn secret(&self) -> &Secret {
        &self.0
    }

    pub fn into_secret(self) -> Secret {
        self.0
    }
}

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

// The conversions serde and clap go through: every one calls `new`.

/// Serialize as the plain value; deserialize the plain value through `new`
/// (as `serde(try_from)` would; spelled out because ts-rs does not read
/// that attribute).
macro_rules! plain_serde {
    ($($bound:ty => $plain:ty),* $(,)?) => {$(
        impl Serialize for $bound {
            fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                self.0.serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $bound {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                <$bound>::try_from(<$plain>::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

plain_serde!(ThawDays => u32, SearchText => String, SearchLimit => usize, SearchOffset => usize);

/// Deserialized only: a secret goes in, never out.
impl<'de> Deserialize<'de> for SecretInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        SecretInput::try_from(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<u32> for ThawDays {
    type Error = Error;
    fn try_from(days: u32) -> Result<Self> {
        ThawDays::new(days)
    }
}

impl From<ThawDays> for u32 {
    fn from(days: ThawDays) -> u32 {
        days.0
    }
}

impl TryFrom<String> for SearchText {
    type Error = Error;
    fn try_from(text: String) -> Result<Self> {
        SearchText::new(text)
    }
}

impl From<SearchText> for String {
    fn from(text: SearchText) -> String {
        text.0
    }
}

impl TryFrom<usize> for SearchLimit {
    type Error = Error;
    fn try_from(limit: usize) -> Result<Self> {
        SearchLimit::new(limit)
    }
}

impl From<SearchLimit> for usize {
    fn from(limit: SearchLimit) -> usize {
        limit.0
    }
}

impl TryFrom<usize> for SearchOffset {
    type Error = Error;
    fn try_from(offset: usize) -> Result<Self> {
        SearchOffset::new(offset)
    }
}

impl From<SearchOffset> for usize {
    fn from(offset: SearchOffset) -> usize {
        offset.0
    }
}

impl TryFrom<String> for SecretInput {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        SecretInput::new(&value)
    }
}

/// A number flag: not a number is refused in the same words as a bound.
fn parse_number<T: std::str::FromStr>(what: &str, s: &str) -> Result<T> {
    s.trim()
        .parse()
        .map_err(|_| Error::InvalidInput(format!("{what} {s:?}: not a whole number")))
}

impl std::str::FromStr for ThawDays {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ThawDays::new(parse_number("thaw days", s)?)
    }
}

impl std::str::FromStr for SearchText {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SearchText::new(s)
    }
}

impl std::str::FromStr for SearchLimit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SearchLimit::new(parse_number("hits a page", s)?)
    }
}

impl std::str::FromStr for SearchOffset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SearchOffset::new(parse_number("search offset", s)?)
    }
}

impl std::fmt::Display for ThawDays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for SearchLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for SearchOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `serde_json` stands in for the IPC layer: arguments arrive as JSON.
    fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> std::result::Result<T, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn thaw_days_are_1_to_365() {
        for ok in [1, 7, 365] {
            assert_eq!(ThawDays::new(ok).unwrap().get(), ok);
        }
        for bad in [0, 366, u32::MAX] {
            let e = ThawDays::new(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_input");
            assert!(e.to_string().contains(&bad.to_string()), "{e}");
        }
        assert_eq!(from_json::<ThawDays>("30").unwrap().get(), 30);
        assert!(from_json::<ThawDays>("0").unwrap_err().contains("between 1 and 365"));
        assert!(from_json::<ThawDays>("-1").is_err());
        assert_eq!(serde_json::to_string(&ThawDays::new(3).unwrap()).unwrap(), "3");
        assert_eq!("12".parse::<ThawDays>().unwrap().get(), 12);
        assert_eq!("400".parse::<ThawDays>().unwrap_err().code(), "invalid_input");
        assert!("seven"
            .parse::<ThawDays>()
            .unwrap_err()
            .to_string()
            .contains("\"seven\""));
    }

    #[test]
    fn search_text_is_at_most_200_characters() {
        // Characters, not bytes: 200 three-byte characters are fine.
        let ok = "が".repeat(200);
        assert_eq!(SearchText::new(ok.clone()).unwrap().as_str(), ok);
        assert_eq!(SearchText::new("").unwrap().as_str(), "");
        let e = SearchText::new("x".repeat(201)).unwrap_err();
        assert_eq!(e.code(), "invalid_input");
        assert!(e.to_string().contains("201 characters"), "{e}");
        assert!(from_json::<SearchText>(&format!("\"{}\"", "y".repeat(201))).is_err());
        assert_eq!(from_json::<SearchText>("\"refund\"").unwrap().as_str(), "refund");
    }

    #[test]
    fn a_search_page_has_1_to_200_hits() {
        for ok in [1, 20, 200] {
            assert_eq!(SearchLimit::new(ok).unwrap().get(), ok);
        }
        for bad in [0, 201] {
            assert_eq!(SearchLimit::new(bad).unwrap_err().code(), "invalid_input");
            assert!(from_json::<SearchLimit>(&bad.to_string()).is_err());
        }
        assert_eq!("2".parse::<SearchLimit>().unwrap().get(), 2);
        assert!("0".parse::<SearchLimit>().is_err());
    }

    #[test]
    fn a_search_skips_at_most_a_million_hits() {
        assert_eq!(SearchOffset::new(0).unwrap().get(), 0);
        assert_eq!(SearchOffset::new(1_000_000).unwrap().get(), 1_000_000);
        assert_eq!(SearchOffset::new(1_000_001).unwrap_err().code(), "invalid_input");
        assert!(from_json::<SearchOffset>("1000001").is_err());
        assert_eq!(from_json::<SearchOffset>("40").unwrap().get(), 40);
    }

    #[test]
    fn a_secret_is_trimmed_not_empty_and_at_most_16_kib() {
        let s = SecretInput::new("  key-value\n").unwrap();
        assert_eq!(s.secret().expose(), "key-value");
        for empty in ["", " \n\t"] {
            let e = SecretInput::new(empty).unwrap_err();
            assert_eq!(e.code(), "invalid_input");
        }
        let at_most = "k".repeat(SecretInput::MAX_BYTES);
        assert!(SecretInput::new(&at_most).is_ok());
        let too_long = format!("sekrit{}", "k".repeat(SecretInput::MAX_BYTES));
        let e = SecretInput::new(&too_long).unwrap_err();
        assert_eq!(e.code(), "invalid_input");
        // The error says how long, never what.
        assert!(!e.to_string().contains("sekrit"), "{e}");
        let e = from_json::<SecretInput>("\"\"").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let s: SecretInput = from_json("\"from-the-page\"").unwrap();
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.into_secret().expose(), "from-the-page");
    }
}
