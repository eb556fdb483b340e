//! The impression-batch decoder on arbitrary bytes, as the scheduler meets them from players: it
//! must never panic; what it accepts must hold the promises ingest relies on and encode back to the
//! same batch; and the batch signature must tell the exact bytes from any other.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vitrine_core::ImpressionBatch;
use vitrine_core::impression::{MAX_IMPRESSIONS_PER_BATCH, sign_batch, verify_batch_signature};

fuzz_target!(|data: &[u8]| {
    let key = [7u8; 32];
    let signature = sign_batch(&key, data);
    assert!(verify_batch_signature(&key, data, &signature));
    if let Some((last, rest)) = data.split_last() {
        let mut altered = rest.to_vec();
        altered.push(last.wrapping_add(1));
        assert!(!verify_batch_signature(&key, &altered, &signature));
    }

    if let Ok(batch) = ImpressionBatch::decode(data) {
        assert!(batch.impressions.len() <= MAX_IMPRESSIONS_PER_BATCH);
        for impression in &batch.impressions {
            assert!(impression.sequence >= 1);
            assert!(i64::try_from(impression.sequence).is_ok());
            assert!(impression.ended_at >= impression.started_at);
        }
        let json = serde_json::to_vec(&batch).expect("a batch serialises");
        let back = ImpressionBatch::decode(&json).expect("its own output decodes");
        assert_eq!(back, batch);
    }
});
