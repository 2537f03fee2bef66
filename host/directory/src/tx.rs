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
    pub async fn write(&self) -> Result<Tx, StoreError> {
        let inner = match self.backend() {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx { inner, now: self.now_ms(), backend: self.backend() })
    }
}
