//! [`ScanStore`] on SQLite: the `scans` table, and the screens' keys from `screens`.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use crate::storage::StorageError;
use crate::storage::scans::{
    MAX_HITS_PER_TOKEN, MAX_UNIQUE_SCANS_PER_TOKEN, ScanRecord, ScanStore,
};
use crate::storage::sortable_timestamp;

#[async_trait::async_trait]
impl ScanStore for SqliteStore {
    /// Counts the code's hits and devices and stores the hit in one `BEGIN IMMEDIATE`
    /// transaction, so that concurrent hits cannot both take the last place.
    async fn record_scan(&self, scan: ScanRecord) -> Result<bool, StorageError> {
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (hits, unique, seen_device): (i64, i64, bool) = transaction.query_row(
                "SELECT COUNT(*), COALESCE(SUM(first_of_device), 0),
                        COALESCE(MAX(device = ?2), 0)
                 FROM scans WHERE token = ?1",
                params![scan.token, scan.device],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?;
            let room = if seen_device {
                hits < MAX_HITS_PER_TOKEN
            } else {
                unique < MAX_UNIQUE_SCANS_PER_TOKEN
            };
            if !room {
                return Ok(false);
            }
            transaction.execute(
                "INSERT INTO scans (token, screen, campaign, offer, arm, played_at, scanned_at,
                    user_agent, device, first_of_device)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    scan.token,
                    scan.play.screen,
                    scan.campaign,
                    scan.play.offer_id,
                    scan.play.arm.as_str(),
                    sortable_timestamp(scan.play.played_at),
                    sortable_timestamp(scan.scanned_at),
                    scan.user_agent,
                    scan.device,
                    !seen_device,
                ],
            )?;
            // The play's first scan: its rollup rows count it as scanned, if HQ holds it.
            if hits == 0 {
                super::plays::count_scanned_play(
                    &transaction,
                    &scan.play.screen,
                    &scan.play.offer_id,
                    scan.play.arm.as_str(),
                    &sortable_timestamp(scan.play.played_at),
                )?;
            }
            transaction.commit()?;
            Ok(true)
        })
        .await
    }

    async fn screen_key(
        &self,
        screen: String,
    ) -> Result<Option<(String, Option<Timestamp>)>, StorageError> {
        let row = self
            .interact(move |connection| {
                Ok(connection
                    .query_row(
                        "SELECT token_sha256, revoked_at FROM screens WHERE name = ?1",
                        [screen],
                        |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)),
                    )
                    .optional()?)
            })
            .await?;
        let Some((key, revoked_at)) = row else {
            return Ok(None);
        };
        let revoked_at = revoked_at
            .map(|text| {
                text.parse::<Timestamp>()
                    .map_err(|error| StorageError::CorruptRow(format!("revoked_at: {error}")))
            })
            .transpose()?;
        Ok(Some((key, revoked_at)))
    }
}
