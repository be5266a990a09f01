//! Listing over several stores (SPEC §9): the primary's keys, as the
//! fallback's `get` sees them.
//!
//! A listing cannot merge the stores' pages into one resumable order without
//! holding every store's position in the cursor, and the primary is where the
//! fallback's truth lives (conditional writes are judged there). So a listing
//! pages through the primary alone and, while the primary is down, fails with
//! its error rather than answer with a secondary's partial view. What the
//! primary holds are fallback records: each page's records are read (one
//! `get_many` on the primary) and only visible values are listed — never a
//! tombstone, never a value past its own expiry. A key written only to a
//! secondary while the primary was down is not listed until a read has
//! repaired it onto the primary; `delete_prefix` does go through every
//! store, so it removes such a key too.

use std::sync::Arc;

use flowstore_core::listing::MAX_BATCH_LEN;
use flowstore_core::{Cursor, Error, Key, ListItem, ListPage, Prefix, Result, Store};

use crate::FallbackStore;
use crate::conditional::{expiry_time, is_visible};
use crate::envelope::{self, Decoded};

impl FallbackStore {
    /// One page of the primary's visible keys. A page may hold fewer items
    /// than the primary's (tombstones are dropped), but its cursor is the
    /// primary's, so nothing is skipped.
    pub(crate) async fn list_primary(
        &self,
        prefix: &Prefix,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<ListPage> {
        visible_page(&self.stores[0], prefix, cursor, limit, self.clock.wall()).await
    }

    /// Deletes every visible key with `prefix` held by any store, with
    /// tombstones in every store (the fallback's own `delete`): first the
    /// primary's, then what a secondary alone holds — a write it took while
    /// the primary was down, a value newer than the primary's record — which
    /// the fallback's `get` would otherwise still find and repair back.
    pub(crate) async fn delete_prefix_everywhere(&self, prefix: &Prefix) -> Result<u64> {
        let mut deleted = 0;
        for store in &self.stores {
            let mut cursor = None;
            loop {
                let now = self.clock.wall();
                let page = visible_page(store, prefix, cursor.as_ref(), MAX_BATCH_LEN, now).await?;
                let keys: Vec<Key> = page.items.into_iter().map(|item| item.key).collect();
                Store::delete_many(self, &keys).await?;
                deleted += keys.len() as u64;
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(deleted)
    }
}

/// One page of `store`'s keys that hold a value visible to the fallback at
/// `now`: the store's listing, its records read with one `get_many`.
async fn visible_page(
    store: &Arc<dyn Store>,
    prefix: &Prefix,
    cursor: Option<&Cursor>,
    limit: usize,
    now: u64,
) -> Result<ListPage> {
    let page = store.list(prefix, cursor, limit).await?;
    let keys: Vec<_> = page.items.iter().map(|item| item.key.clone()).collect();
    let records = store.get_many(&keys).await?;
    if records.len() != keys.len() {
        return Err(crate::own(Error::backend(format!(
            "a store answered {} records for {} keys",
            records.len(),
            keys.len()
        ))));
    }
    let items = page
        .items
        .into_iter()
        .zip(records)
        .filter_map(|(item, record)| {
            // Gone between the listing and the read: not listed.
            let decoded = envelope::decode(record?).map_err(crate::own);
            Some(decoded.map(|decoded| visible_item(item, &decoded, now)))
        })
        .filter_map(Result::transpose)
        .collect::<Result<Vec<_>>>()?;
    Ok(ListPage::new(items, page.next))
}

/// The item as the fallback shows it, `None` for a tombstone or an expired
/// value: a record's expiry is its own (the primary's TTL includes the grace
/// period that keeps expired records as tombstones).
fn visible_item(item: ListItem, decoded: &Decoded, now: u64) -> Option<ListItem> {
    if !is_visible(decoded, now) {
        return None;
    }
    let expires_at = match decoded {
        Decoded::Plain(_) => item.expires_at,
        Decoded::Record(header, _) => expiry_time(header.expires_at),
    };
    Some(ListItem::new(
        item.key,
        item.version,
        expires_at,
        item.stored_size,
    ))
}
