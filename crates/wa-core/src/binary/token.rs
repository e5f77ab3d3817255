//! The token dictionaries (version 3) and the tag bytes of the binary format.
//!
//! The dictionaries are data, kept in `tokens/*.txt` one token per line; see
//! `tokens/README.md` for where the facts come from.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Tag bytes with a fixed meaning. Bytes `1..=235` are single-byte tokens.
pub mod tag {
    /// An empty list, or an absent/empty string.
    pub const LIST_EMPTY: u8 = 0;
    /// First of the four double-byte dictionaries (`236..=239`).
    pub const DICTIONARY_0: u8 = 236;
    /// Last double-byte dictionary.
    pub const DICTIONARY_3: u8 = 239;
    /// Interop JID: user, u16 device, u16 integrator, server.
    pub const INTEROP_JID: u8 = 245;
    /// Messenger JID: user, u16 device, server.
    pub const FB_JID: u8 = 246;
    /// Device JID: domain byte, device byte, user.
    pub const AD_JID: u8 = 247;
    /// List with an 8-bit size.
    pub const LIST_8: u8 = 248;
    /// List with a 16-bit size.
    pub const LIST_16: u8 = 249;
    /// User and server.
    pub const JID_PAIR: u8 = 250;
    /// Packed uppercase hex string.
    pub const HEX_8: u8 = 251;
    /// Bytes with an 8-bit length.
    pub const BINARY_8: u8 = 252;
    /// Bytes with a 20-bit length.
    pub const BINARY_20: u8 = 253;
    /// Bytes with a 32-bit length.
    pub const BINARY_32: u8 = 254;
    /// Packed nibble string (`0-9`, `-`, `.`).
    pub const NIBBLE_8: u8 = 255;
}

/// Longest string the packed forms can hold.
pub const PACKED_MAX: usize = 127;

const SINGLE_BYTE_SRC: &str = include_str!("tokens/single_byte.txt");
const DOUBLE_BYTE_SRC: [&str; 4] = [
    include_str!("tokens/double_byte_0.txt"),
    include_str!("tokens/double_byte_1.txt"),
    include_str!("tokens/double_byte_2.txt"),
    include_str!("tokens/double_byte_3.txt"),
];

/// Where a string sits in the dictionaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// One byte, `1..=235`.
    Single(u8),
    /// Dictionary `0..=3` and index.
    Double(u8, u8),
}

struct Tables {
    single: Vec<&'static str>,
    double: [Vec<&'static str>; 4],
    index: HashMap<&'static str, Token>,
}

fn lines(src: &'static str) -> Vec<&'static str> {
    src.split('\n').take(src.matches('\n').count()).collect()
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let single = lines(SINGLE_BYTE_SRC);
    let double = DOUBLE_BYTE_SRC.map(lines);
    let mut index = HashMap::new();
    for (i, tok) in single.iter().enumerate().skip(1) {
        if let Ok(i) = u8::try_from(i) {
            index.entry(*tok).or_insert(Token::Single(i));
        }
    }
    for (d, dict) in double.iter().enumerate() {
        for (i, tok) in dict.iter().enumerate() {
            if let (Ok(d), Ok(i)) = (u8::try_from(d), u8::try_from(i)) {
                index.entry(*tok).or_insert(Token::Double(d, i));
            }
        }
    }
    Tables {
        single,
        double,
        index,
    }
});

/// The single-byte token at `index` (`1..=235`); `None` past the table.
pub fn single(index: u8) -> Option<&'static str> {
    TABLES.single.get(usize::from(index)).copied()
}

/// The double-byte token of dictionary `dict` at `index`.
pub fn double(dict: u8, index: u8) -> Option<&'static str> {
    TABLES
        .double
        .get(usize::from(dict))?
        .get(usize::from(index))
        .copied()
}

/// The token for `s`, if the dictionaries hold it. The empty string has none.
pub fn lookup(s: &str) -> Option<Token> {
    if s.is_empty() {
        return None;
    }
    TABLES.index.get(s).copied()
}

/// Number of single-byte tokens including the unused index 0.
pub fn single_len() -> usize {
    TABLES.single.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_the_version_3_shape() {
        assert_eq!(single_len(), 236);
        assert_eq!(single(0), Some(""));
        assert_eq!(single(3), Some("s.whatsapp.net"));
        for d in 0..4u8 {
            assert_eq!(TABLES.double[usize::from(d)].len(), 256);
        }
        assert_eq!(double(0, 0), Some("read-self"));
        assert_eq!(double(4, 0), None);
    }

    #[test]
    fn lookup_inverts_the_tables() {
        for i in 1..=235u8 {
            let tok = single(i).unwrap();
            assert_eq!(lookup(tok), Some(Token::Single(i)), "{tok}");
        }
        for d in 0..4u8 {
            for i in 0..=255u8 {
                let tok = double(d, i).unwrap();
                assert_eq!(lookup(tok), Some(Token::Double(d, i)), "{tok}");
            }
        }
        assert_eq!(lookup(""), None);
        assert_eq!(lookup("not-a-token-at-all"), None);
    }
}
