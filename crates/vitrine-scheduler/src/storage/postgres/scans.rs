//! [`ScanStore`] on PostgreSQL: the `scans` table, and the screens' keys from `screens`.

use jiff::Timestamp;

use super::PostgresStore;
use crate::storage::StorageError;
use crate::storage::scans::{
    MAX_HITS_PER_TOKEN, MAX_UNIQUE_SCANS_PER_TOKEN, ScanRecord, ScanStore,
};

/// The first key of the advisory lock a code's hits take (`scan` in ASCII), the second being a
/// hash of the code.
const TOKEN_LOCK: i32 = 0x7363_616e;

#[async_trait::async_trait]
impl ScanStore for PostgresStore {
    /// Counts the code's hits and devices and stores the hit in one transaction holding an
    /// advisory lock on the code, so that concurrent hits, here or on another scheduler, cannot
    /// both take the last place.
    async fn record_scan(&self, scan: ScanRecord) -> Result<bool, StorageError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&TOKEN_LOCK, &scan.token],
            )
            .await?;
        let counted = transaction
            .query_one(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE first_of_device),
                        COALESCE(bool_or(device = $2), false)
                 FROM scans WHERE token = $1",
                &[&scan.token, &scan.device],
            )
            .await?;
        let hits: i64 = counted.try_get(0)?;
        let unique: i64 = counted.try_get(1)?;
        let seen_device: bool = counted.try_get(2)?;
        let room = if seen_device {
            hits < MAX_HITS_PER_TOKEN
        } else {
            unique < MAX_UNIQUE_SCANS_PER_TOKEN
        };
        if !room {
            return Ok(false);
        }
        transaction
            .execute(
                "INSERT INTO scans (token, screen, campaign, offer, arm, played_at, scanned_at,
                    user_agent, device, first_of_device)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &scan.token,
                    &scan.play.screen,
                    &scan.campaign,
                    &scan.play.offer_id,
                    &scan.play.arm.as_str(),
                    &scan.play.played_at,
                    &scan.scanned_at,
                    &scan.user_agent,
                    &scan.device,
                    &!seen_device,
                ],
            )
            .await?;
        // The play's first scan: its rollup rows count it as scanned, if HQ holds it.
        if hits == 0 {
            super::plays::count_scanned_play(
                &transaction,
                &scan.play.screen,
                &scan.play.offer_id,
                scan.play.arm.as_str(),
                scan.play.played_at,
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(true)
    }

    async fn screen_key(
        &self,
        screen: String,
    ) -> Result<Option<(String, Option<Timestamp>)>, StorageError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT token_sha256, revoked_at FROM screens WHERE name = $1",
                &[&screen],
            )
            .await?;
        row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .transpose()
    }
}
