//! What a round of manifest builds reads once. After a change, the push channel rebuilds every
//! connected screen's manifest; thousands of screens share one playlist, one list of campaigns
//! and a few hundred stores, so each of those is read (and a playlist parsed) once per round,
//! not once per screen. A single `GET /v1/manifest` builds through a `Reads` of its own, so there
//! is one way to build a manifest.
//!
//! **Invariant: a `Reads` belongs to one content generation.** It takes the generation when it is
//! made, before it reads anything, and manifests built through it are cached under that
//! generation (see [`crate::cache`]): a write that lands during the round moves the generation
//! on, so what was built from older reads is already stale, and the write's own announcement
//! starts the next round with a fresh `Reads`.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use vitrine_core::playlist::Playlist;

use crate::AppState;
use crate::catalog::{LocalProduct, ScreenRecord, StoreRecord};
use crate::error::ApiError;
use crate::storage::campaigns::StoredCampaign;
use crate::storage::playlists::StoredPlaylist;

/// The newest version of a playlist as stored, and as read back.
#[derive(Debug)]
pub struct PlaylistSource {
    pub stored: StoredPlaylist,
    pub playlist: Playlist,
}

/// The reads of one round of manifest builds; see the module's invariant.
#[derive(Debug)]
pub struct Reads {
    generation: u64,
    playlists: Memo<String, Option<Arc<PlaylistSource>>>,
    campaigns: OnceCell<Arc<Vec<StoredCampaign>>>,
    screens: Memo<String, Option<ScreenRecord>>,
    stores: Memo<String, Option<StoreRecord>>,
    segments: Memo<String, BTreeMap<String, f64>>,
    products: Memo<ProductsAt, Arc<BTreeMap<String, LocalProduct>>>,
}

/// Products asked for together: the store whose prices and stock apply, and the ids.
type ProductsAt = (Option<String>, Vec<String>);

impl Reads {
    /// Reads for builds at the content generation of now.
    pub fn new(state: &AppState) -> Self {
        Self {
            generation: state.generation(),
            playlists: Memo::default(),
            campaigns: OnceCell::new(),
            screens: Memo::default(),
            stores: Memo::default(),
            segments: Memo::default(),
            products: Memo::default(),
        }
    }

    /// The content generation everything read here is at least as new as.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Reads every screen's record in one query, for a round that builds many of them.
    pub async fn read_all_screens(&self, state: &AppState) -> Result<(), ApiError> {
        for screen in state.storage().screens().await? {
            self.screens.insert(screen.name.clone(), Some(screen));
        }
        Ok(())
    }

    /// The newest version of playlist `name`, parsed; None while it has not been pushed.
    pub async fn playlist(
        &self,
        state: &AppState,
        name: &str,
    ) -> Result<Option<Arc<PlaylistSource>>, ApiError> {
        self.playlists
            .get_or_load(name.to_owned(), || async {
                let Some(stored) = state.storage().latest_playlist(name.to_owned()).await? else {
                    return Ok(None);
                };
                let playlist = crate::manifest::stored_playlist(&stored)?;
                Ok(Some(Arc::new(PlaylistSource { stored, playlist })))
            })
            .await
    }

    /// The newest version of every campaign.
    pub async fn campaigns(&self, state: &AppState) -> Result<Arc<Vec<StoredCampaign>>, ApiError> {
        self.campaigns
            .get_or_try_init(|| async {
                Ok::<_, ApiError>(Arc::new(state.storage().latest_campaigns().await?))
            })
            .await
            .cloned()
    }

    /// Screen `name`'s record, or None for a screen not registered.
    pub async fn screen(
        &self,
        state: &AppState,
        name: &str,
    ) -> Result<Option<ScreenRecord>, ApiError> {
        self.screens
            .get_or_load(name.to_owned(), || async {
                Ok(state.storage().screen_record(name.to_owned()).await?)
            })
            .await
    }

    /// Store `code`'s record, or None for a code no store has.
    pub async fn store(
        &self,
        state: &AppState,
        code: &str,
    ) -> Result<Option<StoreRecord>, ApiError> {
        self.stores
            .get_or_load(code.to_owned(), || async {
                Ok(state.storage().store_by_code(code.to_owned()).await?)
            })
            .await
    }

    /// The segment mix of store `code`.
    pub async fn segments(
        &self,
        state: &AppState,
        code: &str,
    ) -> Result<BTreeMap<String, f64>, ApiError> {
        self.segments
            .get_or_load(code.to_owned(), || async {
                Ok(state.storage().segments_of(code.to_owned()).await?)
            })
            .await
    }

    /// The products with these ids (sorted, without repeats) at `store` when given.
    pub async fn local_products(
        &self,
        state: &AppState,
        ids: Vec<String>,
        store: Option<String>,
    ) -> Result<Arc<BTreeMap<String, LocalProduct>>, ApiError> {
        let key = (store, ids);
        self.products
            .get_or_load(key.clone(), || async {
                let (store, ids) = key;
                Ok(Arc::new(state.storage().local_products(ids, store).await?))
            })
            .await
    }
}

/// Values read once per key; builds that ask for the same key at the same time wait for the one
/// read.
#[derive(Debug)]
struct Memo<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self {
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    fn cell(&self, key: K) -> Arc<OnceCell<V>> {
        self.cells
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }

    async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<V, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ApiError>>,
    {
        self.cell(key).get_or_try_init(load).await.cloned()
    }

    /// Records a value read another way; a value already read stays.
    fn insert(&self, key: K, value: V) {
        let _ = self.cell(key).set(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_read_once_and_a_failed_read_is_tried_again() {
        let memo: Memo<&str, u32> = Memo::default();
        let reads = std::sync::atomic::AtomicU32::new(0);
        let load = || async {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(7)
        };
        assert_eq!(memo.get_or_load("a", load).await.unwrap(), 7);
        assert_eq!(memo.get_or_load("a", load).await.unwrap(), 7);
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);

        let failing = || async { Err(ApiError::internal("reading", "the disk is gone")) };
        assert!(memo.get_or_load("b", failing).await.is_err());
        assert_eq!(memo.get_or_load("b", load).await.unwrap(), 7);
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);

        memo.insert("a", 9);
        memo.insert("c", 3);
        assert_eq!(memo.get_or_load("a", load).await.unwrap(), 7, "kept");
        assert_eq!(memo.get_or_load("c", load).await.unwrap(), 3, "recorded");
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
