//! The playlist parser on arbitrary text: it must never panic, must explain every refusal, and what
//! it accepts must survive the trip to a screen (manifest JSON and back) and the schedule engine.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vitrine_core::{Manifest, MediaEntry, Sha256Hex, parse_playlist};

#[path = "exercise.rs"]
mod exercise;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    match parse_playlist("fuzz.yaml", source) {
        Err(diagnostics) => {
            assert!(
                diagnostics.has_errors(),
                "a refusal must name at least one error"
            );
            let _ = diagnostics.to_string();
        }
        Ok(playlist) => {
            let zones: Vec<String> = playlist
                .zones
                .iter()
                .map(|zone| zone.name.clone())
                .collect();
            let manifest = Manifest::build("fuzz", "Europe/Paris", &playlist, 1, |file| {
                Some(MediaEntry {
                    sha256: Sha256Hex::of_bytes(file.as_bytes()),
                    size: 1,
                })
            })
            .expect("every media file was given a digest");
            let json = serde_json::to_vec(&manifest).expect("a manifest serialises");
            let back = Manifest::decode(&json).expect("a screen accepts what the parser accepted");
            assert_eq!(back, manifest);
            let schedule = back.schedule().expect("Europe/Paris is known");
            exercise::check_schedule(&schedule, &zones, exercise::instant_from(data));
        }
    }
});
