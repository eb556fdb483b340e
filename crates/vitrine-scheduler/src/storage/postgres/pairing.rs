//! [`PairingStore`] on PostgreSQL: the `pairings` table. Storing a code holds a transaction-scoped
//! advisory lock, so schedulers making room under the bounds take turns; a claim and a pick-up
//! are each one `UPDATE` that re-checks its condition on the row it locks, so of two racing
//! requests only one changes it.

use jiff::Timestamp;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use crate::storage::pairing::{
    Insert, MAX_PENDING, MAX_PENDING_PER_ADDRESS, MAX_PENDING_PER_PREFIX, NewPairing, PairingRow,
    PairingStore,
};
use crate::storage::{Change, StorageError};

/// The advisory lock key storing a code holds ("pairings" in ASCII): the bounds count codes of
/// every address, so two schedulers counting at once could both find room for one more.
const PAIRING_LOCK: i64 = 0x7061_6972_696e_6773;

/// Deletes the oldest unconfirmed codes matching `filter` (an SQL condition on the `parameters`)
/// until fewer than `bound` match.
async fn make_room(
    transaction: &deadpool_postgres::Transaction<'_>,
    filter: &str,
    parameters: &[&(dyn ToSql + Sync)],
    bound: i64,
) -> Result<(), StorageError> {
    let waiting: i64 = transaction
        .query_one(
            &format!("SELECT COUNT(*) FROM pairings WHERE {filter}"),
            parameters,
        )
        .await?
        .try_get(0)?;
    if waiting >= bound {
        let excess = waiting - bound + 1;
        let mut with_limit = parameters.to_vec();
        with_limit.push(&excess);
        // FOR UPDATE waits for a claim in flight and then skips the code it confirmed, taking
        // the next oldest instead.
        transaction
            .execute(
                &format!(
                    "DELETE FROM pairings WHERE code IN (
                         SELECT code FROM pairings WHERE {filter} AND screen IS NULL
                         ORDER BY created_at LIMIT ${} FOR UPDATE)",
                    with_limit.len()
                ),
                &with_limit,
            )
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl PairingStore for PostgresStore {
    async fn insert_pairing(&self, new: NewPairing) -> Result<Insert, StorageError> {
        let NewPairing {
            code,
            secret_sha256,
            origin,
            now,
            expires_at,
        } = new;
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&PAIRING_LOCK])
            .await?;
        transaction
            .execute("DELETE FROM pairings WHERE expires_at <= $1", &[&now])
            .await?;
        make_room(
            &transaction,
            "address = $1",
            &[&origin.address],
            MAX_PENDING_PER_ADDRESS,
        )
        .await?;
        make_room(
            &transaction,
            "prefix = $1",
            &[&origin.prefix],
            MAX_PENDING_PER_PREFIX,
        )
        .await?;
        make_room(&transaction, "TRUE", &[], MAX_PENDING).await?;
        let pending: i64 = transaction
            .query_one("SELECT COUNT(*) FROM pairings", &[])
            .await?
            .try_get(0)?;
        if pending >= MAX_PENDING {
            return Ok(Insert::Full);
        }
        let inserted = transaction
            .execute(
                "INSERT INTO pairings (code, secret_sha256, created_at, expires_at, address, prefix)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO NOTHING",
                &[
                    &code,
                    &secret_sha256,
                    &now,
                    &expires_at,
                    &origin.address,
                    &origin.prefix,
                ],
            )
            .await?;
        transaction.commit().await?;
        Ok(if inserted == 1 {
            Insert::Stored
        } else {
            Insert::Clash
        })
    }

    async fn pairing(
        &self,
        code: String,
        now: Timestamp,
    ) -> Result<Option<PairingRow>, StorageError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT secret_sha256, expires_at, screen FROM pairings
                 WHERE code = $1 AND expires_at > $2",
                &[&code, &now],
            )
            .await?
            .map(|row| {
                Ok(PairingRow {
                    secret_sha256: row.try_get(0)?,
                    expires_at: row.try_get(1)?,
                    screen: row.try_get(2)?,
                })
            })
            .transpose()
    }

    async fn claim_pairing(
        &self,
        code: String,
        screen: String,
        now: Timestamp,
    ) -> Result<bool, StorageError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE pairings SET screen = $2
                 WHERE code = $1 AND screen IS NULL AND expires_at > $3",
                &[&code, &screen, &now],
            )
            .await?;
        let claimed = changed == 1;
        if claimed {
            self.changes.announce(Change::Credentials);
        }
        Ok(claimed)
    }

    async fn deliver_pairing(
        &self,
        code: String,
        screen: String,
        token_sha256: String,
    ) -> Result<bool, StorageError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await?;
        // Once only: a second poll of a picked-up code mints nothing. A racing poll waits on the
        // row this locks and then finds it delivered.
        let first = transaction
            .execute(
                "UPDATE pairings SET delivered_at = now()
                 WHERE code = $1 AND delivered_at IS NULL",
                &[&code],
            )
            .await?;
        if first != 1 {
            return Ok(false);
        }
        let changed = transaction
            .execute(
                "UPDATE screens SET token_sha256 = $2 WHERE name = $1 AND revoked_at IS NULL",
                &[&screen, &token_sha256],
            )
            .await?;
        transaction.commit().await?;
        let delivered = changed == 1;
        if delivered {
            self.changes.announce(Change::Credentials);
            self.changes.announce(Change::Screen(screen));
        }
        Ok(delivered)
    }
}
