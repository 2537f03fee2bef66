//! A pause at one point of the engine's work, so a test can interleave two
//! changes exactly: the first change to reach an armed point waits there,
//! holding its transaction and its row locks, until the test lets it go.
//! Unarmed (always, outside tests) it is one uncontended lock per commit.

use std::sync::Mutex;

use tokio::sync::oneshot;

#[derive(Default)]
pub(crate) struct FailPoint {
    armed: Mutex<Option<Armed>>,
}

struct Armed {
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// A change held at a fail point. Dropping it lets the change go, so a
/// failing test never leaves one stuck.
pub struct Paused {
    reached: Option<oneshot::Receiver<()>>,
    release: Option<oneshot::Sender<()>>,
}

impl Paused {
    /// Waits until a change has reached the point (and is held there).
    pub async fn reached(&mut self) {
        if let Some(reached) = self.reached.take() {
            let _ = reached.await;
        }
    }

    /// Lets the held change go on.
    pub fn release(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        self.release();
    }
}

impl FailPoint {
    pub(crate) fn arm(&self) -> Paused {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.armed.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Armed { reached: reached_tx, release: release_rx });
        Paused { reached: Some(reached_rx), release: Some(release_tx) }
    }

    /// Passes the point: waits here if it was armed (once).
    pub(crate) async fn pass(&self) {
        let armed = self.armed.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(Armed { reached, release }) = armed {
            let _ = reached.send(());
            let _ = release.await;
        }
    }
}
