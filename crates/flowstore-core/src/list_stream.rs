//! [`ListStream`]: the pages of a listing as one stream of items.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::Result;
use crate::listing::{Cursor, ListItem, ListPage, Prefix};
use crate::store::{Store, StoreFuture};

/// Every item of a listing, fetching one page at a time (at most one page is
/// held in memory). Made by [`StoreExt::list_stream`](crate::StoreExt::list_stream).
/// An error ends the stream after it is yielded.
pub struct ListStream<'a, S: ?Sized> {
    store: &'a S,
    prefix: Prefix,
    page_size: usize,
    buffered: VecDeque<ListItem>,
    state: State<'a>,
}

enum State<'a> {
    /// The next page to ask for: from this cursor, or (`None`) from the start.
    Ready(Option<Cursor>),
    Fetching(StoreFuture<'a, Result<ListPage>>),
    Done,
}

impl<'a, S: Store + ?Sized> ListStream<'a, S> {
    pub(crate) fn new(
        store: &'a S,
        prefix: Prefix,
        cursor: Option<Cursor>,
        page_size: usize,
    ) -> Self {
        ListStream {
            store,
            prefix,
            page_size,
            buffered: VecDeque::new(),
            state: State::Ready(cursor),
        }
    }
}

impl<S: Store + ?Sized> Stream for ListStream<'_, S> {
    type Item = Result<ListItem>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.buffered.pop_front() {
                return Poll::Ready(Some(Ok(item)));
            }
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Ready(cursor) => {
                    let (store, prefix, limit) = (this.store, this.prefix.clone(), this.page_size);
                    let cursor = cursor.take();
                    this.state = State::Fetching(Box::pin(async move {
                        store.list(&prefix, cursor.as_ref(), limit).await
                    }));
                }
                State::Fetching(page) => match page.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(err)) => {
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(err)));
                    }
                    Poll::Ready(Ok(page)) => {
                        this.buffered.extend(page.items);
                        this.state = match page.next {
                            Some(next) => State::Ready(Some(next)),
                            None => State::Done,
                        };
                    }
                },
            }
        }
    }
}

impl<S: ?Sized> fmt::Debug for ListStream<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListStream")
            .field("prefix", &self.prefix)
            .field("page_size", &self.page_size)
            .field("buffered", &self.buffered.len())
            .finish_non_exhaustive()
    }
}
