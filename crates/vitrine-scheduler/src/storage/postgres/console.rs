//! [`ConsoleStore`] on PostgreSQL: the `console_sessions` table, and the fleet and playlist reads.
//! Every replica shares them, so a browser may land on any.

use jiff::Timestamp;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use crate::storage::console::{
    CampaignRow, CampaignText, ConsoleSession, ConsoleStore, FleetPage, FleetQuery, FleetRow,
    FleetState, MediaRow, MediaUse, MediaUser, PlaylistSummary, VersionSummary, like_escaped,
    media_rows,
};
use crate::storage::playlists::StoredPlaylist;
use crate::storage::{StorageError, from_sql_integer, to_sql_integer};

const FLEET_FROM: &str = "FROM screens s
    LEFT JOIN stores st ON st.code = s.store
    LEFT JOIN screen_status h ON h.screen = s.name
    LEFT JOIN manifest_versions mv ON mv.screen = s.name";

type Parameter = Box<dyn ToSql + Sync + Send>;

/// The conditions of `query`, as SQL over [`FLEET_FROM`] and its parameters.
fn fleet_conditions(query: &FleetQuery) -> (String, Vec<Parameter>) {
    let mut conditions = vec!["TRUE".to_owned()];
    let mut values: Vec<Parameter> = Vec::new();
    let next = |values: &mut Vec<Parameter>, value: Parameter| {
        values.push(value);
        values.len()
    };
    if let Some(stores) = &query.visible_stores {
        let n = next(&mut values, Box::new(stores.clone()));
        conditions.push(format!("s.store = ANY(${n}::text[])"));
    }
    if let Some(screen) = &query.screen {
        let n = next(&mut values, Box::new(screen.clone()));
        conditions.push(format!("s.name = ${n}"));
    }
    if let Some(store) = &query.store {
        let n = next(&mut values, Box::new(store.clone()));
        conditions.push(format!("s.store = ${n}"));
    }
    if let Some(region) = &query.region {
        let n = next(&mut values, Box::new(region.clone()));
        conditions.push(format!("st.region = ${n}"));
    }
    if let Some(tag) = &query.tag {
        let n = next(&mut values, Box::new(tag.clone()));
        conditions.push(format!(
            "(s.tags ? ${n}::text OR COALESCE(st.tags ? ${n}::text, FALSE))"
        ));
    }
    if let Some(search) = &query.search {
        let n = next(&mut values, Box::new(format!("%{}%", like_escaped(search))));
        conditions.push(format!(
            "(s.name ILIKE ${n} OR COALESCE(s.store, '') ILIKE ${n} OR s.playlist ILIKE ${n})"
        ));
    }
    match query.state {
        Some(FleetState::Online) => {
            let n = next(&mut values, Box::new(query.online_since));
            conditions.push(format!("h.received_at >= ${n}"));
        }
        Some(FleetState::Offline) => {
            let n = next(&mut values, Box::new(query.online_since));
            conditions.push(format!("h.received_at < ${n}"));
        }
        Some(FleetState::Silent) => conditions.push("h.screen IS NULL".into()),
        Some(FleetState::Alerting) => {
            conditions.push("COALESCE(jsonb_array_length(h.body -> 'alerts'), 0) > 0".into())
        }
        Some(FleetState::Behind) => {
            conditions.push("(h.body ->> 'manifest_version')::bigint < mv.version".into());
        }
        None => {}
    }
    (conditions.join(" AND "), values)
}

fn references(values: &[Parameter]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

#[async_trait::async_trait]
impl ConsoleStore for PostgresStore {
    async fn create_session(
        &self,
        id_sha256: String,
        session: ConsoleSession,
    ) -> Result<(), StorageError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO console_sessions (id_sha256, token_sha256, csrf, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &id_sha256,
                    &session.token_sha256,
                    &session.csrf,
                    &session.expires_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn session(
        &self,
        id_sha256: String,
        now: Timestamp,
    ) -> Result<Option<ConsoleSession>, StorageError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT token_sha256, csrf, expires_at FROM console_sessions WHERE id_sha256 = $1",
            )
            .await?;
        let Some(row) = client.query_opt(&statement, &[&id_sha256]).await? else {
            return Ok(None);
        };
        let expires_at: Timestamp = row.try_get(2)?;
        if expires_at <= now {
            client
                .execute(
                    "DELETE FROM console_sessions WHERE id_sha256 = $1",
                    &[&id_sha256],
                )
                .await?;
            return Ok(None);
        }
        Ok(Some(ConsoleSession {
            token_sha256: row.try_get(0)?,
            csrf: row.try_get(1)?,
            expires_at,
        }))
    }

    async fn end_session(&self, id_sha256: String) -> Result<bool, StorageError> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "DELETE FROM console_sessions WHERE id_sha256 = $1",
                &[&id_sha256],
            )
            .await?
            > 0)
    }

    async fn end_all_sessions(&self) -> Result<u64, StorageError> {
        let client = self.client().await?;
        Ok(client.execute("DELETE FROM console_sessions", &[]).await?)
    }

    async fn fleet_page(&self, query: FleetQuery) -> Result<FleetPage, StorageError> {
        let client = self.client().await?;
        let (conditions, mut values) = fleet_conditions(&query);
        let total: i64 = client
            .query_one(
                &format!("SELECT COUNT(*) {FLEET_FROM} WHERE {conditions}"),
                &references(&values),
            )
            .await?
            .try_get(0)?;
        values.push(Box::new(to_sql_integer(query.limit, "page size")?));
        values.push(Box::new(to_sql_integer(query.offset, "page offset")?));
        let n = values.len();
        let rows = client
            .query(
                &format!(
                    "SELECT s.name, s.playlist, s.store, COALESCE(st.region, ''), s.tags::text,
                            COALESCE(st.tags, '[]'::jsonb)::text, s.revoked_at IS NOT NULL,
                            h.received_at, h.body::text, mv.version,
                            (SELECT MAX(version) FROM playlists p WHERE p.name = s.playlist)
                     {FLEET_FROM} WHERE {conditions}
                     ORDER BY s.name LIMIT ${} OFFSET ${n}",
                    n - 1
                ),
                &references(&values),
            )
            .await?;
        let rows = rows
            .into_iter()
            .map(|row| {
                let name: String = row.try_get(0)?;
                let mut tags: Vec<String> =
                    super::from_json_text(&row.try_get::<_, String>(4)?, "screen tags")?;
                tags.extend(super::from_json_text::<Vec<String>>(
                    &row.try_get::<_, String>(5)?,
                    "store tags",
                )?);
                tags.sort();
                tags.dedup();
                let received_at: Option<Timestamp> = row.try_get(7)?;
                let body: Option<String> = row.try_get(8)?;
                let heard = match (received_at, body) {
                    (Some(at), Some(body)) => Some((
                        at,
                        super::from_json_text(&body, &format!("heartbeat of `{name}`"))?,
                    )),
                    _ => None,
                };
                let newest_manifest: Option<i64> = row.try_get(9)?;
                let newest_playlist: Option<i64> = row.try_get(10)?;
                Ok(FleetRow {
                    playlist: row.try_get(1)?,
                    store: row.try_get(2)?,
                    region: row.try_get(3)?,
                    tags,
                    revoked: row.try_get(6)?,
                    heard,
                    newest_manifest: newest_manifest
                        .map(|version| from_sql_integer(version, "manifest version"))
                        .transpose()?,
                    newest_playlist: newest_playlist
                        .map(|version| from_sql_integer(version, "playlist version"))
                        .transpose()?,
                    name,
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(FleetPage {
            rows,
            total: from_sql_integer(total, "screen count")?,
        })
    }

    async fn heard_since(
        &self,
        since: Timestamp,
        visible_stores: Option<Vec<String>>,
        limit: u64,
    ) -> Result<Vec<(String, Timestamp)>, StorageError> {
        let client = self.client().await?;
        let limit = to_sql_integer(limit, "limit")?;
        let statement = client
            .prepare_cached(
                "SELECT h.screen, h.received_at FROM screen_status h
                 JOIN screens s ON s.name = h.screen
                 WHERE h.received_at > $1
                   AND ($2::text[] IS NULL OR s.store = ANY($2::text[]))
                 ORDER BY h.received_at LIMIT $3",
            )
            .await?;
        let rows = client
            .query(&statement, &[&since, &visible_stores, &limit])
            .await?;
        rows.into_iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    async fn playlist_summaries(&self) -> Result<Vec<PlaylistSummary>, StorageError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT DISTINCT ON (p.name) p.name, p.version, p.created_at,
                        (SELECT owner_stores::text FROM playlists f WHERE f.name = p.name
                         AND f.version = 1),
                        (SELECT COUNT(*) FROM screens s WHERE s.playlist = p.name
                         AND s.revoked_at IS NULL)
                 FROM playlists p ORDER BY p.name, p.version DESC",
                &[],
            )
            .await?;
        rows.into_iter()
            .map(|row| {
                let owner: Option<String> = row.try_get(3)?;
                Ok(PlaylistSummary {
                    name: row.try_get(0)?,
                    newest: from_sql_integer(row.try_get(1)?, "playlist version")?,
                    updated_at: row.try_get(2)?,
                    owner_stores: owner
                        .map(|owner| super::from_json_text(&owner, "playlist owner"))
                        .transpose()?,
                    screens: from_sql_integer(row.try_get(4)?, "screen count")?,
                })
            })
            .collect()
    }

    async fn playlist_versions(&self, name: String) -> Result<Vec<VersionSummary>, StorageError> {
        super::versions::summaries(
            &self.client().await?,
            super::versions::Versioned::Playlists,
            &name,
        )
        .await
    }

    async fn playlist_version(
        &self,
        name: String,
        version: u64,
    ) -> Result<Option<StoredPlaylist>, StorageError> {
        super::playlists::read_version(&self.client().await?, &name, Some(version)).await
    }

    async fn campaign_summaries(&self) -> Result<Vec<CampaignRow>, StorageError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT DISTINCT ON (name) name, version, created_at
                 FROM campaigns ORDER BY name, version DESC",
                &[],
            )
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(CampaignRow {
                    name: row.try_get(0)?,
                    newest: from_sql_integer(row.try_get(1)?, "campaign version")?,
                    updated_at: row.try_get(2)?,
                })
            })
            .collect()
    }

    async fn campaign_versions(&self, name: String) -> Result<Vec<VersionSummary>, StorageError> {
        super::versions::summaries(
            &self.client().await?,
            super::versions::Versioned::Campaigns,
            &name,
        )
        .await
    }

    async fn campaign_version(
        &self,
        name: String,
        version: u64,
    ) -> Result<Option<CampaignText>, StorageError> {
        let client = self.client().await?;
        let wanted = to_sql_integer(version, "campaign version")?;
        let row = client
            .query_opt(
                "SELECT file_name, source, media::text, created_at FROM campaigns
                 WHERE name = $1 AND version = $2",
                &[&name, &wanted],
            )
            .await?;
        row.map(|row| {
            let media: String = row.try_get(2)?;
            Ok(CampaignText {
                version,
                file_name: row.try_get(0)?,
                source: row.try_get(1)?,
                media: super::from_json_text(&media, "campaign media")?,
                created_at: row.try_get(3)?,
            })
        })
        .transpose()
    }

    async fn media_library(&self) -> Result<Vec<MediaRow>, StorageError> {
        let client = self.client().await?;
        let files = client
            .query("SELECT sha256, size, created_at FROM media", &[])
            .await?
            .into_iter()
            .map(|row| {
                let sha256: String = row.try_get(0)?;
                Ok((
                    sha256.parse().map_err(|error| {
                        StorageError::CorruptRow(format!("media digest `{sha256}`: {error}"))
                    })?,
                    from_sql_integer(row.try_get(1)?, "media size")?,
                    row.try_get(2)?,
                ))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        let uses = client
            .query(
                "SELECT 0, p.name, p.version, j.key, j.value
                 FROM playlists p, jsonb_each_text(p.media) j
                 UNION ALL
                 SELECT 1, c.name, c.version, j.key, j.value
                 FROM campaigns c, jsonb_each_text(c.media) j",
                &[],
            )
            .await?
            .into_iter()
            .map(|row| {
                let user: i32 = row.try_get(0)?;
                Ok((
                    row.try_get(4)?,
                    MediaUse {
                        user: if user == 0 {
                            MediaUser::Playlist
                        } else {
                            MediaUser::Campaign
                        },
                        name: row.try_get(1)?,
                        version: from_sql_integer(row.try_get(2)?, "version")?,
                        file_name: row.try_get(3)?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(media_rows(files, uses))
    }
}
