//! The sample playlists and campaigns in `playlists/` are valid, and the JSON Schemas committed in
//! `schema/` are what the code generates. `UPDATE_SCHEMA=1 cargo test -p vitrine-core` rewrites them.

use std::path::{Path, PathBuf};

use vitrine_core::playlist::parse_playlist_with_includes;
use vitrine_core::{parse_campaign, schema};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_files(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_sample_playlist_is_valid_without_warnings() {
    let folder = repository().join("playlists");
    let files = yaml_files(&folder);
    assert!(files.len() >= 2, "{files:?}");
    for path in files {
        let source = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let resolver = |include: &str| {
            std::fs::read_to_string(folder.join(include)).map_err(|error| error.to_string())
        };
        let parsed = parse_playlist_with_includes(&name, &source, &resolver)
            .unwrap_or_else(|diagnostics| panic!("{name}:\n{diagnostics}"));
        assert!(parsed.warnings.is_empty(), "{name}:\n{}", parsed.warnings);
        assert!(
            source.starts_with("# yaml-language-server: $schema=../schema/playlist.schema.json\n"),
            "{name} lacks the schema modeline"
        );
    }
}

#[test]
fn the_demo_still_means_three_full_screen_images_a_video_and_music_with_their_media() {
    let folder = repository().join("playlists");
    let source = std::fs::read_to_string(folder.join("demo.yaml")).unwrap();
    let playlist = vitrine_core::parse_playlist("demo.yaml", &source).unwrap();
    assert_eq!(playlist.name, "demo");
    let files: Vec<&str> = playlist.items().filter_map(|item| item.file()).collect();
    assert_eq!(
        files,
        [
            "demo-media/winter-sale.png",
            "demo-media/bakery.png",
            "demo-media/fresh-bakery.mp4",
            "demo-media/scan-and-go.jpg",
            "media/morning-music.wav",
            "media/chime.ogg"
        ]
    );
    let music = playlist.zone("music").expect("the demo has a music zone");
    assert!(music.audio_only);
    let missing = playlist.check_media("demo.yaml", |file| folder.join(file).is_file());
    assert!(missing.is_empty(), "{missing}");
}

#[test]
fn every_sample_fragment_and_campaign_carries_its_modeline() {
    for (folder, schema_name) in [
        ("playlists/fragments", "fragment"),
        ("playlists/campaigns", "campaign"),
    ] {
        let files = yaml_files(&repository().join(folder));
        assert!(!files.is_empty(), "{folder}");
        for path in files {
            let source = std::fs::read_to_string(&path).unwrap();
            let modeline =
                format!("# yaml-language-server: $schema=../../schema/{schema_name}.schema.json\n");
            assert!(source.starts_with(&modeline), "{}", path.display());
        }
    }
}

#[test]
fn every_sample_campaign_is_valid() {
    for path in yaml_files(&repository().join("playlists/campaigns")) {
        let source = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        let parsed = parse_campaign(&name, &source)
            .unwrap_or_else(|diagnostics| panic!("{name}:\n{diagnostics}"));
        assert!(parsed.warnings.is_empty(), "{}", parsed.warnings);
    }
}

#[test]
fn committed_json_schemas_are_current() {
    let update = std::env::var_os("UPDATE_SCHEMA").is_some();
    let mut stale = Vec::new();
    for (file, generated) in [
        ("playlist.schema.json", schema::playlist_schema()),
        ("fragment.schema.json", schema::fragment_schema()),
        ("campaign.schema.json", schema::campaign_schema()),
    ] {
        let path = repository().join("schema").join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            if update {
                std::fs::write(&path, generated).unwrap();
            } else {
                stale.push(file);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "out of date: {stale:?}; run `UPDATE_SCHEMA=1 cargo test -p vitrine-core` and commit schema/"
    );
}
