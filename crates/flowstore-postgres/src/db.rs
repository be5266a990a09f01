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
    /// Set for a pool the user built: the bound we put around each checkout
    /// ourselves. Its timeouts may be missing, and its recycling method may
    /// run a query per checkout that deadpool retries on the next connection
    /// when it fails, so only a pool we built ourselves (every timeout set,
    /// `Fast` recycling without I/O) is trusted to bound its own checkouts.
    checkout_bound: Option<Duration>,
    pub(crate) operation_timeout: Duration,
}

impl Db {
    /// `ours`: the store built this pool itself (see `checkout_bound`).
    /// `defaults`: the wait, create and recycle timeouts used in the bound for
    /// any the user's pool lacks.
    pub(crate) fn new(
        pool: Pool,
        ours: bool,
        defaults: [Duration; 3],
        operation_timeout: Duration,
    ) -> Db {
        let checkout_bound = (!ours).then(|| {
            let timeouts = pool.timeouts();
            let [wait, create, recycle] = defaults;
            timeouts.wait.unwrap_or(wait)
                + timeouts.create.unwrap_or(create)
                + timeouts.recycle.unwrap_or(recycle)
        });
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
