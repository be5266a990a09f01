//! Checking connections out of the pool and running one statement under the
//! operation timeout.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Client, Object, Pool, PoolError, TimeoutType};

use crate::error::Failure;

/// The pool plus the timeouts every statement runs under.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    pub(crate) pool: Pool,
    /// The bound we put around each checkout ourselves, for a pool the user
    /// built (see `PostgresBuilder::checkout_bound`).
    checkout_bound: Option<Duration>,
    pub(crate) operation_timeout: Duration,
}

impl Db {
    pub(crate) fn new(
        pool: Pool,
        checkout_bound: Option<Duration>,
        operation_timeout: Duration,
    ) -> Db {
        Db {
            pool,
            checkout_bound,
            operation_timeout,
        }
    }

    /// A connection from the pool: bounded by the pool's wait/create/recycle
    /// timeouts; a full pool or an unreachable server is a [`Failure::Pool`] or
    /// [`Failure::Pg`], never a hang.
    pub(crate) async fn client(&self) -> Result<Client, Failure> {
        match self.checkout_bound {
            None => Ok(self.pool.get().await?),
            Some(bound) => match tokio::time::timeout(bound, self.pool.get()).await {
                Ok(result) => Ok(result?),
                Err(_) => Err(Failure::Pool(PoolError::Timeout(TimeoutType::Wait))),
            },
        }
    }

    /// Runs `statement` under the operation timeout.
    pub(crate) async fn timed<T>(
        &self,
        statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.operation_timeout, statement).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(Failure::Pg(err)),
            Err(_) => Err(Failure::Elapsed(self.operation_timeout)),
        }
    }

    /// Gives `client` back to the pool, unless `result` says it timed out or
    /// broke: then it is discarded, so a stuck or dead connection is never
    /// handed out again.
    pub(crate) fn settle<T>(client: Client, result: Result<T, Failure>) -> Result<T, Failure> {
        if let Err(failure) = &result
            && failure.poisons_connection()
        {
            drop(Object::take(client));
        }
        result
    }
}
