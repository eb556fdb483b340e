//! JSON Schemas for the YAML files staff and HQ write, generated from the raw types so that they
//! cannot drift from what the parser accepts. They are committed under `schema/` for editors
//! (yaml-language-server reads the `$schema` modeline at the top of each file); a test fails when the
//! committed copies are out of date.

/// The JSON Schema of playlist files, pretty-printed with a final newline.
pub fn playlist_schema() -> String {
    render(schemars::schema_for!(crate::playlist::raw::Playlist))
}

/// The JSON Schema of playlist fragments (files a playlist `include`s).
pub fn fragment_schema() -> String {
    render(schemars::schema_for!(crate::playlist::raw::Fragment))
}

/// The JSON Schema of HQ campaign files.
pub fn campaign_schema() -> String {
    render(schemars::schema_for!(
        crate::campaign::raw_campaign::Campaign
    ))
}

fn render(schema: schemars::Schema) -> String {
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
