//! [`PairingStore`] on SQLite: the `pairings` table. Each rule that must hold against a racing
//! request (room under the bounds, one claim, one pick-up) is one statement or one `IMMEDIATE`
//! transaction.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::storage::pairing::{
    Insert, MAX_PENDING, MAX_PENDING_PER_ADDRESS, MAX_PENDING_PER_PREFIX, NewPairing, PairingRow,
    PairingStore,
};
use crate::storage::sortable_timestamp;
use crate::storage::{Change, StorageError};

/// Deletes the oldest unconfirmed codes matching `filter` (an SQL condition on `?1`) until fewer
/// than `bound` match.
fn make_room(
    transaction: &rusqlite::Transaction<'_>,
    filter: &str,
    value: &str,
    bound: i64,
) -> Result<(), StorageError> {
    let waiting: i64 = transaction.query_row(
        &format!("SELECT COUNT(*) FROM pairings WHERE {filter}"),
        [value],
        |row| row.get(0),
    )?;
    if waiting >= bound {
        transaction.execute(
            &format!(
                "DELETE FROM pairings WHERE code IN (
                     SELECT code FROM pairings WHERE {filter} AND screen IS NULL
                     ORDER BY created_at LIMIT ?2)"
            ),
            params![value, waiting - bound + 1],
        )?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl PairingStore for SqliteStore {
    async fn insert_pairing(&self, new: NewPairing) -> Result<Insert, StorageError> {
        let NewPairing {
            code,
            secret_sha256,
            origin,
            now,
            expires_at,
        } = new;
        let (now, expires_at) = (sortable_timestamp(now), sortable_timestamp(expires_at));
        self.interact(move |connection| {
            let transaction =
                connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            transaction.execute("DELETE FROM pairings WHERE expires_at <= ?1", [&now])?;
            make_room(
                &transaction,
                "address = ?1",
                &origin.address,
                MAX_PENDING_PER_ADDRESS,
            )?;
            make_room(
                &transaction,
                "prefix = ?1",
                &origin.prefix,
                MAX_PENDING_PER_PREFIX,
            )?;
            make_room(&transaction, "?1 = ?1", "", MAX_PENDING)?;
            let pending: i64 =
                transaction.query_row("SELECT COUNT(*) FROM pairings", [], |row| row.get(0))?;
            if pending >= MAX_PENDING {
                return Ok(Insert::Full);
            }
            let inserted = transaction.execute(
                "INSERT INTO pairings (code, secret_sha256, created_at, expires_at, address, prefix)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (code) DO NOTHING",
                params![
                    code,
                    secret_sha256,
                    now,
                    expires_at,
                    origin.address,
                    origin.prefix
                ],
            )?;
            transaction.commit()?;
            Ok(if inserted == 1 {
                Insert::Stored
            } else {
                Insert::Clash
            })
        })
        .await
    }

    async fn pairing(
        &self,
        code: String,
        now: Timestamp,
    ) -> Result<Option<PairingRow>, StorageError> {
        let now = sortable_timestamp(now);
        let row = self
            .interact(move |connection| {
                Ok(connection
                    .query_row(
                        "SELECT secret_sha256, expires_at, screen FROM pairings
                         WHERE code = ?1 AND expires_at > ?2",
                        params![code, now],
                        |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                row.get::<_, String>(1)?,
                                row.get::<_, Option<String>>(2)?,
                            ))
                        },
                    )
                    .optional()?)
            })
            .await?;
        row.map(|(secret_sha256, expires_at, screen)| {
            Ok(PairingRow {
                secret_sha256,
                expires_at: expires_at.parse().map_err(|error| {
                    StorageError::CorruptRow(format!("pairings.expires_at: {error}"))
                })?,
                screen,
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
        let now = sortable_timestamp(now);
        let claimed = self
            .interact(move |connection| {
                let changed = connection.execute(
                    "UPDATE pairings SET screen = ?2
                     WHERE code = ?1 AND screen IS NULL AND expires_at > ?3",
                    params![code, screen, now],
                )?;
                Ok(changed == 1)
            })
            .await?;
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
        let name = screen.clone();
        let delivered = self
            .interact(move |connection| {
                let transaction = connection
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                // Once only: a second poll of a picked-up code mints nothing.
                let first = transaction.execute(
                    "UPDATE pairings SET delivered_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                     WHERE code = ?1 AND delivered_at IS NULL",
                    [code],
                )?;
                if first != 1 {
                    return Ok(false);
                }
                let changed = transaction.execute(
                    "UPDATE screens SET token_sha256 = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                    params![screen, token_sha256],
                )?;
                transaction.commit()?;
                Ok(changed == 1)
            })
            .await?;
        if delivered {
            self.changes.announce(Change::Credentials);
            self.changes.announce(Change::Screen(name));
        }
        Ok(delivered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::pairing::Origin;
    use crate::storage::{AccessStore, ScreenStore, Storage};

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let folder = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&folder.path().join("vitrine.db")).expect("opened");
        (folder, store)
    }

    fn new_pairing(code: &str, now: Timestamp) -> NewPairing {
        NewPairing {
            code: code.to_owned(),
            secret_sha256: "secret".to_owned(),
            origin: Origin::default(),
            now,
            expires_at: now
                .checked_add(jiff::SignedDuration::from_secs(60))
                .expect("in range"),
        }
    }

    #[tokio::test]
    async fn a_code_is_claimed_once_and_delivered_once_announcing_the_screen() {
        let (_folder, store) = store();
        let now = Timestamp::now();
        assert!(
            store
                .create_screen(
                    "lobby".into(),
                    "default".into(),
                    String::new(),
                    "old".into()
                )
                .await
                .expect("created")
        );
        let mut changes = store.changes().subscribe();
        assert!(matches!(
            store.insert_pairing(new_pairing("K7M2QX", now)).await,
            Ok(Insert::Stored)
        ));
        assert!(matches!(
            store.insert_pairing(new_pairing("K7M2QX", now)).await,
            Ok(Insert::Clash)
        ));
        assert!(
            changes.try_recv().is_err(),
            "a stored code changes no credential"
        );

        let claim = || store.claim_pairing("K7M2QX".into(), "lobby".into(), now);
        assert!(claim().await.expect("claimed"));
        assert!(!claim().await.expect("claimed again"));
        assert_eq!(changes.try_recv().ok(), Some(Change::Credentials));
        assert!(changes.try_recv().is_err());

        let deliver = || store.deliver_pairing("K7M2QX".into(), "lobby".into(), "new".into());
        assert!(deliver().await.expect("delivered"));
        assert!(!deliver().await.expect("delivered again"));
        assert_eq!(changes.try_recv().ok(), Some(Change::Credentials));
        assert_eq!(
            changes.try_recv().ok(),
            Some(Change::Screen("lobby".into()))
        );
        assert!(changes.try_recv().is_err());
        assert!(matches!(
            store.token_owner("new".into()).await,
            Ok(crate::storage::access::TokenOwner::Screen(screen)) if screen.name == "lobby"
        ));
    }

    #[tokio::test]
    async fn an_expired_code_is_neither_found_nor_claimed() {
        let (_folder, store) = store();
        let now = Timestamp::now();
        assert!(matches!(
            store.insert_pairing(new_pairing("K7M2QX", now)).await,
            Ok(Insert::Stored)
        ));
        let later = now
            .checked_add(jiff::SignedDuration::from_secs(61))
            .expect("in range");
        assert!(
            store
                .pairing("K7M2QX".into(), later)
                .await
                .expect("read")
                .is_none()
        );
        assert!(
            !store
                .claim_pairing("K7M2QX".into(), "lobby".into(), later)
                .await
                .expect("claimed")
        );
    }
}
