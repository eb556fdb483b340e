//! Validating what people push (playlists, campaigns) off the async workers, a few at a time and
//! within a time budget, so that large pushes cannot stall health checks, players' manifests or
//! other requests. What a file may hold is capped by vitrine-core's named limits; this module
//! bounds the time and the threads the check may take.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// How long one validation may take before the push is refused. Files within vitrine-core's
/// limits take milliseconds; this only catches what the limits did not foresee.
pub const VALIDATION_BUDGET: Duration = Duration::from_secs(10);

/// How many validations run at once; more wait their turn, so pushes never take every thread.
pub const MAX_CONCURRENT_VALIDATIONS: usize = 2;

static PERMITS: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(MAX_CONCURRENT_VALIDATIONS)));

/// Runs `work` on the blocking thread pool within [`VALIDATION_BUDGET`].
pub async fn off_worker<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    off_worker_within(VALIDATION_BUDGET, work).await
}

/// [`off_worker`] with another budget.
pub async fn off_worker_within<T: Send + 'static>(
    budget: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let permit = PERMITS
        .clone()
        .acquire_owned()
        .await
        .map_err(|error| ApiError::internal("waiting to validate", error))?;
    // The permit lives as long as the work, not the request: a validation past its budget still
    // holds its place until it really ends.
    let handle = tokio::task::spawn_blocking(move || {
        let value = work();
        drop(permit);
        value
    });
    match tokio::time::timeout(budget, handle).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(ApiError::internal("validating", error)),
        Err(_elapsed) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_timeout",
            format!(
                "checking this file took longer than its budget of {} s, so it was not stored; \
                 split it into smaller playlists or fragments",
                budget.as_secs_f64()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a runtime with one worker, work run on that worker would block the task that lets it
    /// finish; off the worker, both complete.
    #[test]
    fn validation_leaves_the_async_worker_free() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let signalled = runtime.block_on(async {
            let (sender, receiver) = std::sync::mpsc::channel::<()>();
            let validation =
                off_worker(move || receiver.recv_timeout(Duration::from_secs(30)).is_ok());
            let other_request = async move {
                tokio::task::yield_now().await;
                sender.send(()).expect("the validation is waiting");
            };
            let (signalled, ()) = tokio::join!(validation, other_request);
            signalled.expect("validated")
        });
        assert!(
            signalled,
            "another task ran while the validation was in progress"
        );
    }

    #[tokio::test]
    async fn validation_past_its_budget_is_refused_with_the_budget_named() {
        let refused = off_worker_within(Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_millis(500));
        })
        .await
        .expect_err("over budget");
        assert_eq!(refused.code(), "validation_timeout");
        assert!(refused.to_string().contains("0.02 s"), "{refused}");
    }
}
