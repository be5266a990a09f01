//! The background sweep: deletes expired rows in small batches, off the
//! request path. Reads never depend on it (they filter on `expires_at`); it
//! only keeps the table from growing with dead rows.

use std::sync::Weak;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::db::Db;
use crate::error::Failure;
use crate::store::Shared;

/// Pause between two batches of one sweep, so a large backlog is deleted in
/// small transactions that never hold many locks or much WAL at once.
const PAUSE_BETWEEN_BATCHES: Duration = Duration::from_millis(10);

/// Sweeps every `interval` until the store is dropped. Holds only a `Weak`, so
/// it never keeps the store alive; it stops at the first tick after the last
/// handle is gone.
pub(crate) fn spawn(shared: Weak<Shared>, interval: Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(store) = shared.upgrade() else {
                return;
            };
            // Errors (server down, …) are retried at the next tick.
            let _ = sweep(&store.db, &store.sql.sweep_batch, store.options.sweep_batch).await;
            drop(store);
        }
    });
}

/// Deletes expired rows, `batch` at a time, until none is left. Returns how
/// many were deleted.
pub(crate) async fn sweep(db: &Db, statement: &str, batch: usize) -> Result<u64, Failure> {
    let limit = i64::try_from(batch).unwrap_or(i64::MAX);
    let mut total = 0;
    loop {
        let client = db.client().await?;
        let result = db
            .timed(async {
                let prepared = client.prepare_cached(statement).await?;
                client.execute(&prepared, &[&limit]).await
            })
            .await;
        let deleted = Db::settle(client, result)?;
        total += deleted;
        if deleted < batch as u64 {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE_BETWEEN_BATCHES).await;
    }
}
