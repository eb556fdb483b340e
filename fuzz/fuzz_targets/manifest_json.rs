//! The manifest decoder on arbitrary bytes, as a player meets them from the network or its cache:
//! it must never panic, and a manifest it accepts must be playable by the schedule engine.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vitrine_core::Manifest;

#[path = "exercise.rs"]
mod exercise;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::decode(data) {
        let zones: Vec<String> = manifest
            .playlist
            .zones
            .iter()
            .map(|zone| zone.name.clone())
            .collect();
        let schedule = manifest.schedule().expect("decode checked the time zone");
        exercise::check_schedule(&schedule, &zones, exercise::instant_from(data));
        let json = serde_json::to_vec(&manifest).expect("a manifest serialises");
        assert_eq!(
            Manifest::decode(&json).expect("its own output decodes"),
            manifest
        );
    }
});
