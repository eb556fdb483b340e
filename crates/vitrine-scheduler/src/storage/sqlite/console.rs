//! [`ConsoleStore`] on SQLite: the `console_sessions` table, and the fleet and playlist reads.
//!
//! The newest manifest version of each screen is this process's memory (see
//! `crate::manifest_versions`), so the "behind" filter is applied here, after the SQL.

use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::{SqliteStore, from_sql_integer};
use crate::storage::console::{
    CampaignRow, CampaignText, ConsoleSession, ConsoleStore, FleetPage, FleetQuery, FleetRow,
    FleetState, MediaRow, MediaUse, MediaUser, PlaylistSummary, VersionSummary, like_escaped,
    media_rows,
};
use crate::storage::playlists::StoredPlaylist;
use crate::storage::{StorageError, sortable_timestamp, to_sql_integer};

/// The joins every fleet query reads through.
const FLEET_FROM: &str = "FROM screens s
    LEFT JOIN stores st ON st.code = s.store
    LEFT JOIN screen_status h ON h.screen = s.name";

/// The conditions of `query` but its state, as SQL over [`FLEET_FROM`] and its parameters.
fn fleet_conditions(query: &FleetQuery) -> (String, Vec<Value>) {
    let mut conditions = vec!["1 = 1".to_owned()];
    let mut values = Vec::new();
    if let Some(stores) = &query.visible_stores {
        values.push(Value::Text(
            serde_json::to_string(stores).unwrap_or_else(|_| "[]".into()),
        ));
        conditions.push(format!(
            "s.store IN (SELECT value FROM json_each(?{}))",
            values.len()
        ));
    }
    if let Some(screen) = &query.screen {
        values.push(Value::Text(screen.clone()));
        conditions.push(format!("s.name = ?{}", values.len()));
    }
    if let Some(store) = &query.store {
        values.push(Value::Text(store.clone()));
        conditions.push(format!("s.store = ?{}", values.len()));
    }
    if let Some(region) = &query.region {
        values.push(Value::Text(region.clone()));
        conditions.push(format!("st.region = ?{}", values.len()));
    }
    if let Some(tag) = &query.tag {
        values.push(Value::Text(tag.clone()));
        let n = values.len();
        conditions.push(format!(
            "(EXISTS (SELECT 1 FROM json_each(s.tags) WHERE value = ?{n})
              OR EXISTS (SELECT 1 FROM json_each(st.tags) WHERE value = ?{n}))"
        ));
    }
    if let Some(search) = &query.search {
        values.push(Value::Text(format!("%{}%", like_escaped(search))));
        let n = values.len();
        conditions.push(format!(
            "(s.name LIKE ?{n} ESCAPE '\\' OR COALESCE(s.store, '') LIKE ?{n} ESCAPE '\\'
              OR s.playlist LIKE ?{n} ESCAPE '\\')"
        ));
    }
    let online_since = sortable_timestamp(query.online_since);
    match query.state {
        Some(FleetState::Online) => {
            values.push(Value::Text(online_since));
            conditions.push(format!("h.received_at >= ?{}", values.len()));
        }
        Some(FleetState::Offline) => {
            values.push(Value::Text(online_since));
            conditions.push(format!("h.received_at < ?{}", values.len()));
        }
        Some(FleetState::Silent) => conditions.push("h.screen IS NULL".into()),
        Some(FleetState::Alerting) => {
            conditions.push("COALESCE(json_array_length(h.body, '$.alerts'), 0) > 0".into());
        }
        // Applied after the SQL: see the module's doc.
        Some(FleetState::Behind) => conditions.push("h.screen IS NOT NULL".into()),
        None => {}
    }
    (conditions.join(" AND "), values)
}

fn parse_time(text: &str, what: &str) -> Result<Timestamp, StorageError> {
    text.parse()
        .map_err(|error| StorageError::CorruptRow(format!("{what} `{text}`: {error}")))
}

fn json_list(text: &str, what: &str) -> Result<Vec<String>, StorageError> {
    serde_json::from_str(text)
        .map_err(|error| StorageError::CorruptRow(format!("{what} `{text}`: {error}")))
}

impl SqliteStore {
    fn fleet_row(
        &self,
        row: &rusqlite::Row<'_>,
    ) -> Result<Result<FleetRow, StorageError>, rusqlite::Error> {
        let name: String = row.get(0)?;
        let playlist: String = row.get(1)?;
        let store: Option<String> = row.get(2)?;
        let region: String = row.get(3)?;
        let own_tags: String = row.get(4)?;
        let store_tags: String = row.get(5)?;
        let revoked: bool = row.get(6)?;
        let received_at: Option<String> = row.get(7)?;
        let body: Option<String> = row.get(8)?;
        let newest_playlist: Option<i64> = row.get(9)?;
        let newest_manifest = self.manifest_versions.newest(&name);
        Ok((|| {
            let mut tags = json_list(&own_tags, "screen tags")?;
            tags.extend(json_list(&store_tags, "store tags")?);
            tags.sort();
            tags.dedup();
            let heard = match (received_at, body) {
                (Some(at), Some(body)) => Some((
                    parse_time(&at, "heartbeat time")?,
                    serde_json::from_str(&body).map_err(|error| {
                        StorageError::CorruptRow(format!("heartbeat of `{name}`: {error}"))
                    })?,
                )),
                _ => None,
            };
            Ok(FleetRow {
                name,
                playlist,
                store,
                region,
                tags,
                revoked,
                heard,
                newest_manifest,
                newest_playlist: newest_playlist
                    .map(|version| from_sql_integer(version, "playlist version"))
                    .transpose()?,
            })
        })())
    }
}

#[async_trait::async_trait]
impl ConsoleStore for SqliteStore {
    async fn create_session(
        &self,
        id_sha256: String,
        session: ConsoleSession,
    ) -> Result<(), StorageError> {
        self.interact(move |connection| {
            connection.execute(
                "INSERT INTO console_sessions (id_sha256, token_sha256, csrf, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    id_sha256,
                    session.token_sha256,
                    session.csrf,
                    sortable_timestamp(session.expires_at)
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn session(
        &self,
        id_sha256: String,
        now: Timestamp,
    ) -> Result<Option<ConsoleSession>, StorageError> {
        self.interact(move |connection| {
            let row: Option<(String, String, String)> = connection
                .prepare_cached(
                    "SELECT token_sha256, csrf, expires_at FROM console_sessions
                     WHERE id_sha256 = ?1",
                )?
                .query_row([&id_sha256], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()?;
            let Some((token_sha256, csrf, expires_at)) = row else {
                return Ok(None);
            };
            let expires_at = parse_time(&expires_at, "session expiry")?;
            if expires_at <= now {
                connection.execute(
                    "DELETE FROM console_sessions WHERE id_sha256 = ?1",
                    [&id_sha256],
                )?;
                return Ok(None);
            }
            Ok(Some(ConsoleSession {
                token_sha256,
                csrf,
                expires_at,
            }))
        })
        .await
    }

    async fn end_session(&self, id_sha256: String) -> Result<bool, StorageError> {
        self.interact(move |connection| {
            Ok(connection.execute(
                "DELETE FROM console_sessions WHERE id_sha256 = ?1",
                [&id_sha256],
            )? > 0)
        })
        .await
    }

    async fn end_all_sessions(&self) -> Result<u64, StorageError> {
        self.interact(move |connection| {
            Ok(connection.execute("DELETE FROM console_sessions", [])? as u64)
        })
        .await
    }

    async fn fleet_page(&self, query: FleetQuery) -> Result<FleetPage, StorageError> {
        let store = self.clone();
        self.interact(move |connection| {
            let (conditions, mut values) = fleet_conditions(&query);
            let columns = "s.name, s.playlist, s.store, COALESCE(st.region, ''), s.tags,
                COALESCE(st.tags, '[]'), s.revoked_at IS NOT NULL, h.received_at, h.body,
                (SELECT MAX(version) FROM playlists p WHERE p.name = s.playlist)";
            let (total, page_condition) = if query.state == Some(FleetState::Behind) {
                // Every candidate's reported version, against this process's memory.
                let mut statement = connection.prepare(&format!(
                    "SELECT s.name, json_extract(h.body, '$.manifest_version') {FLEET_FROM}
                     WHERE {conditions} ORDER BY s.name"
                ))?;
                let behind: Vec<String> = statement
                    .query_map(params_from_iter(values.iter()), |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?))
                    })?
                    .filter_map(|row| match row {
                        Ok((name, Some(reported))) => store
                            .manifest_versions
                            .newest(&name)
                            .filter(|newest| i64::try_from(*newest).is_ok_and(|n| n > reported))
                            .map(|_| Ok(name)),
                        Ok((_, None)) => None,
                        Err(error) => Some(Err(error)),
                    })
                    .collect::<Result<_, _>>()?;
                let total = behind.len() as u64;
                let page: Vec<&String> = behind
                    .iter()
                    .skip(usize::try_from(query.offset).unwrap_or(usize::MAX))
                    .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
                    .collect();
                values = vec![Value::Text(
                    serde_json::to_string(&page).unwrap_or_else(|_| "[]".into()),
                )];
                (
                    total,
                    "s.name IN (SELECT value FROM json_each(?1)) ORDER BY s.name".to_owned(),
                )
            } else {
                let total: i64 = connection
                    .prepare_cached(&format!("SELECT COUNT(*) {FLEET_FROM} WHERE {conditions}"))?
                    .query_row(params_from_iter(values.iter()), |row| row.get(0))?;
                values.push(Value::Integer(to_sql_integer(query.limit, "page size")?));
                values.push(Value::Integer(to_sql_integer(query.offset, "page offset")?));
                let n = values.len();
                (
                    from_sql_integer(total, "screen count")?,
                    format!("{conditions} ORDER BY s.name LIMIT ?{} OFFSET ?{n}", n - 1),
                )
            };
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {columns} {FLEET_FROM} WHERE {page_condition}"
            ))?;
            let rows = statement
                .query_map(params_from_iter(values.iter()), |row| store.fleet_row(row))?
                .map(|row| row.map_err(StorageError::from).and_then(|row| row))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(FleetPage { rows, total })
        })
        .await
    }

    async fn heard_since(
        &self,
        since: Timestamp,
        visible_stores: Option<Vec<String>>,
        limit: u64,
    ) -> Result<Vec<(String, Timestamp)>, StorageError> {
        self.interact(move |connection| {
            let stores = visible_stores
                .map(|stores| serde_json::to_string(&stores).unwrap_or_else(|_| "[]".into()));
            let mut statement = connection.prepare_cached(
                "SELECT h.screen, h.received_at FROM screen_status h
                 JOIN screens s ON s.name = h.screen
                 WHERE h.received_at > ?1
                   AND (?2 IS NULL OR s.store IN (SELECT value FROM json_each(?2)))
                 ORDER BY h.received_at LIMIT ?3",
            )?;
            let rows = statement
                .query_map(
                    params![
                        sortable_timestamp(since),
                        stores,
                        to_sql_integer(limit, "limit")?
                    ],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(screen, at)| Ok((screen, parse_time(&at, "heartbeat time")?)))
                .collect()
        })
        .await
    }

    async fn playlist_summaries(&self) -> Result<Vec<PlaylistSummary>, StorageError> {
        self.interact(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT p.name, p.version, p.created_at,
                        (SELECT owner_stores FROM playlists f WHERE f.name = p.name
                         AND f.version = 1),
                        (SELECT COUNT(*) FROM screens s WHERE s.playlist = p.name
                         AND s.revoked_at IS NULL)
                 FROM playlists p
                 WHERE p.version = (SELECT MAX(version) FROM playlists m WHERE m.name = p.name)
                 ORDER BY p.name",
            )?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(name, newest, updated_at, owner, screens)| {
                    Ok(PlaylistSummary {
                        newest: from_sql_integer(newest, "playlist version")?,
                        updated_at: parse_time(&updated_at, "playlist time")?,
                        owner_stores: owner
                            .map(|owner| json_list(&owner, "playlist owner"))
                            .transpose()?,
                        screens: from_sql_integer(screens, "screen count")?,
                        name,
                    })
                })
                .collect()
        })
        .await
    }

    async fn playlist_versions(&self, name: String) -> Result<Vec<VersionSummary>, StorageError> {
        self.interact(move |connection| {
            super::versions::summaries(connection, super::versions::Versioned::Playlists, &name)
        })
        .await
    }

    async fn playlist_version(
        &self,
        name: String,
        version: u64,
    ) -> Result<Option<StoredPlaylist>, StorageError> {
        self.interact(move |connection| {
            super::playlists::read_version(connection, &name, Some(version))
        })
        .await
    }

    async fn campaign_summaries(&self) -> Result<Vec<CampaignRow>, StorageError> {
        self.interact(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT c.name, c.version, c.created_at FROM campaigns c
                 WHERE c.version = (SELECT MAX(version) FROM campaigns m WHERE m.name = c.name)
                 ORDER BY c.name",
            )?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(name, newest, updated_at)| {
                    Ok(CampaignRow {
                        name,
                        newest: from_sql_integer(newest, "campaign version")?,
                        updated_at: parse_time(&updated_at, "campaign time")?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn campaign_versions(&self, name: String) -> Result<Vec<VersionSummary>, StorageError> {
        self.interact(move |connection| {
            super::versions::summaries(connection, super::versions::Versioned::Campaigns, &name)
        })
        .await
    }

    async fn campaign_version(
        &self,
        name: String,
        version: u64,
    ) -> Result<Option<CampaignText>, StorageError> {
        let wanted = to_sql_integer(version, "campaign version")?;
        self.interact(move |connection| {
            let row = connection
                .query_row(
                    "SELECT file_name, source, media, created_at FROM campaigns
                     WHERE name = ?1 AND version = ?2",
                    params![name, wanted],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(file_name, source, media, created_at)| {
                Ok(CampaignText {
                    version,
                    file_name,
                    source,
                    media: serde_json::from_str(&media).map_err(|error| {
                        StorageError::CorruptRow(format!("campaign media `{media}`: {error}"))
                    })?,
                    created_at: parse_time(&created_at, "campaign time")?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn media_library(&self) -> Result<Vec<MediaRow>, StorageError> {
        self.interact(move |connection| {
            let mut files = connection.prepare_cached("SELECT sha256, size, created_at FROM media")?;
            let files = files
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(|(sha256, size, created_at)| {
                    Ok((
                        sha256.parse().map_err(|error| {
                            StorageError::CorruptRow(format!("media digest `{sha256}`: {error}"))
                        })?,
                        from_sql_integer(size, "media size")?,
                        parse_time(&created_at, "media time")?,
                    ))
                })
                .collect::<Result<Vec<_>, StorageError>>()?;
            let mut uses = connection.prepare_cached(
                "SELECT 0, p.name, p.version, j.key, j.value FROM playlists p, json_each(p.media) j
                 UNION ALL
                 SELECT 1, c.name, c.version, j.key, j.value FROM campaigns c, json_each(c.media) j",
            )?;
            let uses = uses
                .query_map([], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(|(user, name, version, file_name, sha256)| {
                    Ok((
                        sha256,
                        MediaUse {
                            user: if user == 0 {
                                MediaUser::Playlist
                            } else {
                                MediaUser::Campaign
                            },
                            name,
                            version: from_sql_integer(version, "version")?,
                            file_name,
                        },
                    ))
                })
                .collect::<Result<Vec<_>, StorageError>>()?;
            Ok(media_rows(files, uses))
        })
        .await
    }
}
