//! The impression batch decoder on arbitrary bytes, as the scheduler meets them from players: it must
//! never panic, and what it accepts must encode back to the same batch.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vitrine_core::ImpressionBatch;

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = serde_json::from_slice::<ImpressionBatch>(data) {
        let json = serde_json::to_vec(&batch).expect("a batch serialises");
        let back: ImpressionBatch = serde_json::from_slice(&json).expect("its own output decodes");
        assert_eq!(back, batch);
    }
});
