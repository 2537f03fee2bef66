//! A write transaction over the directory. Directory changes and the desired
//! state of the app accounts they affect are written in one `Tx`, so a crash
//! never leaves a change that the apps will not hear about; a preview runs
//! the same change in a `Tx` and rolls it back.

use sqlx::{Any, AnyConnection};

use crate::error::StoreError;
use crate::log::{NewLogEvent, append};
use crate::store::{Backend, Store};

pub struct Tx {
    pub(crate) inner: sqlx::Transaction<'static, Any>,
    /// SQLite: this process's one writer slot, held until commit or
    /// rollback (see `Store::write`).
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// One clock reading for the whole change.
    pub(crate) now: i64,
    pub(crate) backend: Backend,
}

impl Tx {
    pub fn now_ms(&self) -> i64 {
        self.now
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.inner.commit().await?)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.inner.rollback().await?)
    }

    /// Appends a system-log event that commits (or not) with the change.
    pub async fn log(&mut self, event: &NewLogEvent) -> Result<(), StoreError> {
        let now = self.now;
        append(self.conn(), now, event).await
    }
}

impl Store {
    /// A write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes
    /// fails with "database is locked" instead of waiting its turn.
    ///
    /// On SQLite the process's writers also queue here, in order, before
    /// taking a connection: waiting on the database's own lock would go
    /// through SQLite's busy handler, which sleeps for up to 100 ms at a
    /// time, and writers holding pooled connections while they wait would
    /// starve the readers.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        let (inner, writer) = match self.backend() {
            Backend::Sqlite => {
                let writer = self.writer.clone().lock_owned().await;
                (self.pool.begin_with("BEGIN IMMEDIATE").await?, Some(writer))
            }
            Backend::Postgres => (self.pool.begin().await?, None),
        };
        Ok(Tx { inner, _writer: writer, now: self.now_ms(), backend: self.backend() })
    }

    /// A read-only transaction that sees one moment of the directory
    /// throughout (PostgreSQL: REPEATABLE READ; SQLite: a read transaction,
    /// which in WAL mode is a snapshot and does not block the writer). For
    /// checks that compare many rows with each other; it must be rolled back.
    pub async fn snapshot(&self) -> Result<Tx, StoreError> {
        let mut inner = self.pool.begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *inner).await?;
        }
        Ok(Tx { inner, _writer: None, now: self.now_ms(), backend: self.backend() })
    }
}
