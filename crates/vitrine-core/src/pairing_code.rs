//! Pairing codes: the six characters a player without a token shows on its screen and a person
//! types to pair it (`vitrine screens pair K7M2QX`). The alphabet has no look-alikes (no I/1, O/0,
//! L), and what people type is read leniently: case, spaces and dashes do not matter.

/// Characters a code is made of: capitals and digits a person will not misread.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// How many characters a code has.
pub const CODE_LENGTH: usize = 6;

/// The longest text looked at: anything longer is not a code, however it is spaced.
pub const MAX_TYPED_LENGTH: usize = 64;

/// A well-formed code, in its canonical form (upper case, no separators).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PairingCode(String);

impl PairingCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PairingCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Why typed text is not a code; the message shows the expected form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a pairing code: codes are the {CODE_LENGTH} letters and digits the screen shows, \
     like `K7M2QX`"
)]
pub struct NotACode(pub String);

/// A code as people type it: `k7m-2qx` and `K7M 2QX` are `K7M2QX`.
pub fn parse(typed: &str) -> Result<PairingCode, NotACode> {
    let refuse = || NotACode(typed.chars().take(20).collect());
    if typed.len() > MAX_TYPED_LENGTH {
        return Err(refuse());
    }
    let code: String = typed
        .chars()
        .filter(|character| !matches!(character, '-' | ' '))
        .map(|character| character.to_ascii_uppercase())
        .collect();
    let well_formed =
        code.len() == CODE_LENGTH && code.bytes().all(|byte| CODE_ALPHABET.contains(&byte));
    if well_formed {
        Ok(PairingCode(code))
    } else {
        Err(refuse())
    }
}

/// The code whose characters are `indices` into [`CODE_ALPHABET`] (each taken modulo its length),
/// for a caller that draws them from a random source.
pub fn from_indices(indices: [u8; CODE_LENGTH]) -> PairingCode {
    PairingCode(
        indices
            .iter()
            .map(|index| char::from(CODE_ALPHABET[usize::from(*index) % CODE_ALPHABET.len()]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_are_read_leniently_and_look_alikes_refused() {
        assert_eq!(parse("k7m-2qx").unwrap().as_str(), "K7M2QX");
        assert_eq!(parse("K7M 2QX").unwrap().as_str(), "K7M2QX");
        for bad in [
            "K7M2Q",
            "K7M2Q0",
            "K7M2QI",
            "K7M2QXX",
            "",
            "ÉÉÉÉÉÉ",
            &"-".repeat(100),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let error = parse("hello").unwrap_err();
        assert!(error.to_string().contains("like `K7M2QX`"), "{error}");
    }

    #[test]
    fn codes_from_indices_parse_back() {
        let code = from_indices([0, 1, 2, 29, 30, 31]);
        assert_eq!(parse(code.as_str()), Ok(code));
    }
}
