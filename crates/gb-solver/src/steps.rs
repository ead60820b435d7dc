//! What every solve against one state root shares: the whole-root bound on running steps, the
//! steps running now (so two concurrent builds asking for one cache key run it once), and the
//! lock that keeps garbage collection away from layers a build is still making.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use gb_cache::CacheKey;
use tokio::sync::{OwnedSemaphorePermit, RwLock, RwLockReadGuard, RwLockWriteGuard, Semaphore, watch};

/// Shared by every solve of one [`crate::StateRoot`].
#[derive(Default)]
pub(crate) struct Steps {
    /// Whole-root step slots, sized once (the server's `--max-parallelism`).
    slots: OnceLock<Arc<Semaphore>>,
    /// The steps running now, by cache key; a waiter learns of the end by the channel closing.
    running: Mutex<HashMap<CacheKey, watch::Receiver<()>>>,
    /// Held shared by builds, pulls and loads, exclusively by garbage collection.
    collection: RwLock<()>,
}

/// Whether this solve runs a step or another solve already does.
pub(crate) enum Claim {
    /// This solve runs it; dropping the guard tells the waiters it ended (well or not).
    Mine(RunningStep),
    /// Another solve runs it; this resolves when it ended.
    Theirs(watch::Receiver<()>),
}

/// The claim on a running step; dropping it releases the key.
pub(crate) struct RunningStep {
    steps: Arc<Steps>,
    key: CacheKey,
    _done: watch::Sender<()>,
}

impl Drop for RunningStep {
    fn drop(&mut self) {
        if let Ok(mut running) = self.steps.running.lock() {
            running.remove(&self.key);
        }
    }
}

impl Steps {
    /// Sets the whole-root bound; only the first call (before any step ran) counts.
    pub fn limit(&self, max: usize) {
        let _ = self.slots.set(Arc::new(Semaphore::new(max.max(1))));
    }

    /// A whole-root slot for one step.
    pub async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        let slots = self.slots.get_or_init(|| {
            Arc::new(Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get)))
        });
        slots.clone().acquire_owned().await.ok()
    }

    /// Claims the step of `key`, or says who runs it.
    pub fn claim(self: &Arc<Self>, key: CacheKey) -> Claim {
        let Ok(mut running) = self.running.lock() else {
            // A poisoned map only loses the sharing: run the step here.
            let (done, _) = watch::channel(());
            return Claim::Mine(RunningStep { steps: self.clone(), key, _done: done });
        };
        if let Some(waiter) = running.get(&key) {
            return Claim::Theirs(waiter.clone());
        }
        let (done, waiter) = watch::channel(());
        running.insert(key, waiter);
        Claim::Mine(RunningStep { steps: self.clone(), key, _done: done })
    }

    /// Shared: no garbage collection while the guard lives. For synchronous callers (never
    /// inside an async runtime).
    pub fn building(&self) -> RwLockReadGuard<'_, ()> {
        self.collection.blocking_read()
    }

    /// [`Self::building`] for async callers.
    pub async fn building_async(&self) -> RwLockReadGuard<'_, ()> {
        self.collection.read().await
    }

    /// Exclusive: no build, pull or load while the guard lives. For synchronous callers.
    pub fn collecting(&self) -> RwLockWriteGuard<'_, ()> {
        self.collection.blocking_write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> CacheKey {
        CacheKey(gb_ir::Sha256Digest::of(&[n]))
    }

    #[tokio::test]
    async fn a_second_claim_waits_for_the_first_to_end() {
        let steps = Arc::new(Steps::default());
        let Claim::Mine(first) = steps.claim(key(1)) else { panic!("the first claim runs the step") };
        let Claim::Theirs(mut waiter) = steps.claim(key(1)) else { panic!("the second claim waits") };
        assert!(matches!(steps.claim(key(2)), Claim::Mine(_)), "another key is independent");
        drop(first);
        assert!(waiter.changed().await.is_err(), "the waiter learns of the end by the channel closing");
        assert!(matches!(steps.claim(key(1)), Claim::Mine(_)), "an ended step can be claimed again");
    }

    #[tokio::test]
    async fn the_whole_root_bound_holds_across_solves() {
        let steps = Steps::default();
        steps.limit(1);
        let first = steps.slot().await;
        assert!(first.is_some());
        let second = tokio::time::timeout(std::time::Duration::from_millis(50), steps.slot()).await;
        assert!(second.is_err(), "a second slot waits while the only one is taken");
        drop(first);
        assert!(steps.slot().await.is_some());
    }
}
