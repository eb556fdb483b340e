//! The two token parsers anyone can reach without credentials: pairing codes as people type them,
//! and the play tokens behind QR codes (`/q/{token}`). Neither may panic on any text; a code that
//! parses is canonical and parses to itself; a play token that verifies decodes to the same play
//! once encoded again, and fails to verify under any other key.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vitrine_core::pairing_code::{self, CODE_ALPHABET, CODE_LENGTH};
use vitrine_core::qr_token;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(code) = pairing_code::parse(text) {
        assert_eq!(code.as_str().len(), CODE_LENGTH);
        assert!(code.as_str().bytes().all(|byte| CODE_ALPHABET.contains(&byte)));
        assert_eq!(pairing_code::parse(code.as_str()), Ok(code));
    }

    let key = [7u8; 32];
    if let Ok(play) = qr_token::decode(text, |_| Some(key)) {
        let again = qr_token::encode(&play.screen, &play.offer_id, play.arm, play.played_at, &key);
        assert_eq!(qr_token::decode(&again, |_| Some(key)), Ok(play));
        assert!(qr_token::decode(text, |_| Some([8u8; 32])).is_err());
    }
});
