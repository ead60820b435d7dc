//! What every solve against one state root shares: the whole-root bound on running steps and
//! the steps running now (so two concurrent builds asking for one cache key run it once). It
//! lives in the root (`StateRoot::shared`), so every solve of one opened root finds the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use gb_cache::CacheKey;
use gb_store::StateRoot;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Shared by every solve of one [`crate::StateRoot`].
#[derive(Default)]
pub(crate) struct Steps {
    /// Whole-root step slots, sized once (the server's `--max-parallelism`).
    slots: OnceLock<Arc<Semaphore>>,
    /// The steps running now, by cache key; a waiter learns of the end by the channel closing.
    running: Mutex<HashMap<CacheKey, watch::Receiver<()>>>,
}

/// Bounds how many steps all solves on `root` run at once (the server's `--max-parallelism`;
/// the core count when never set). Only the first call counts.
pub fn limit_parallel_steps(root: &StateRoot, max: usize) {
    root.shared::<Steps>().limit(max);
}

/// Whether this solve runs a step or another solve already does.
pub(crate) enum Claim {
    /// This solve runs it; dropping the guard tells the waiters it ended (well or not).
    Mine(RunningStep),
    /// Another solve runs it; this resolves when it ended.
    Theirs(watch::Receiver<()>),
}

/// Who ran a step [`Steps::once`] returns the result of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ran {
    /// This solve.
    Here,
    /// A concurrent solve that asked for the same key; this one took its stored result.
    ByAnother,
    /// Nobody: the result was stored under the op's content-based key (`content.rs`).
    Stored,
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
        let slots = self.slots.get_or_init(|| Arc::new(Semaphore::new(crate::default_parallelism())));
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

    /// Runs the step of `key` once for every solve that asks for it at the same time. Each
    /// attempt first takes `permit` (the asking solve's own bound). When another solve runs the
    /// step, this one gives its permit back, waits for it to end and returns what `stored` then
    /// finds (`Ran::ByAnother`); when nothing was stored (the other failed or was cancelled), it
    /// claims the step and tries again. A result stored by a solve that ended just before the
    /// claim counts too. `run` runs at most once, under the claim and the permit.
    pub async fn once<T, E, P, Permit, Run>(
        self: &Arc<Self>,
        key: CacheKey,
        cancel: &tokio_util::sync::CancellationToken,
        permit: impl Fn() -> P,
        stored: impl Fn() -> Result<Option<T>, E>,
        run: impl FnOnce() -> Run,
        cancelled: impl Fn() -> E,
    ) -> Result<(T, Ran), E>
    where
        P: std::future::Future<Output = Permit>,
        Run: std::future::Future<Output = Result<T, E>>,
    {
        loop {
            let held = permit().await;
            match self.claim(key) {
                Claim::Mine(_running) => {
                    if let Some(found) = stored()? {
                        return Ok((found, Ran::ByAnother));
                    }
                    return run().await.map(|output| (output, Ran::Here));
                }
                Claim::Theirs(mut running) => {
                    drop(held);
                    tokio::select! {
                        _ = running.changed() => {}
                        () = cancel.cancelled() => return Err(cancelled()),
                    }
                    if let Some(found) = stored()? {
                        return Ok((found, Ran::ByAnother));
                    }
                }
            }
        }
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

    /// A fake store of step results for `once`'s tests.
    type Store = Arc<Mutex<HashMap<CacheKey, u32>>>;

    /// One solve asking for `key` with `Steps::once`: the step stores `value` after `millis`
    /// (or fails); counts its runs.
    async fn ask(
        steps: &Arc<Steps>,
        store: &Store,
        runs: &Arc<std::sync::atomic::AtomicUsize>,
        cancel: &tokio_util::sync::CancellationToken,
        (millis, value, fail): (u64, u32, bool),
    ) -> Result<(u32, Ran), String> {
        let stored = || Ok(store.lock().expect("store").get(&key(1)).copied());
        let run = || async {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
            if fail {
                return Err("the step failed".to_owned());
            }
            store.lock().expect("store").insert(key(1), value);
            Ok(value)
        };
        steps.once(key(1), cancel, || async {}, stored, run, || "cancelled".to_owned()).await
    }

    #[tokio::test]
    async fn a_step_two_solves_ask_for_at_once_runs_once_and_both_get_its_result() {
        let (steps, store, runs) = (Arc::new(Steps::default()), Store::default(), Arc::default());
        let cancel = tokio_util::sync::CancellationToken::new();
        let first = ask(&steps, &store, &runs, &cancel, (50, 7, false));
        let second = async {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            ask(&steps, &store, &runs, &cancel, (50, 8, false)).await
        };
        let (first, second) = tokio::join!(first, second);
        assert_eq!(first, Ok((7, Ran::Here)));
        assert_eq!(second, Ok((7, Ran::ByAnother)), "the second took the first's result");
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1, "the step ran once");
    }

    #[tokio::test]
    async fn when_the_solve_running_a_step_fails_the_waiting_one_runs_it_itself() {
        let (steps, store, runs) = (Arc::new(Steps::default()), Store::default(), Arc::default());
        let cancel = tokio_util::sync::CancellationToken::new();
        let failing = ask(&steps, &store, &runs, &cancel, (30, 0, true));
        let waiting = async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            ask(&steps, &store, &runs, &cancel, (5, 9, false)).await
        };
        let (failing, waiting) = tokio::join!(failing, waiting);
        assert_eq!(failing, Err("the step failed".to_owned()));
        assert_eq!(waiting, Ok((9, Ran::Here)), "the waiting solve ran the step after the failure");
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_waiting_solve_cancelled_leaves_the_running_one_alone() {
        let (steps, store, runs) = (Arc::new(Steps::default()), Store::default(), Arc::default());
        let (running, waiting) =
            (tokio_util::sync::CancellationToken::new(), tokio_util::sync::CancellationToken::new());
        let first = ask(&steps, &store, &runs, &running, (60, 3, false));
        let second = async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            ask(&steps, &store, &runs, &waiting, (60, 4, false)).await
        };
        let cancel_waiting = async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            waiting.cancel();
        };
        let (first, second, ()) = tokio::join!(first, second, cancel_waiting);
        assert_eq!(second, Err("cancelled".to_owned()));
        assert_eq!(first, Ok((3, Ran::Here)), "the running solve finished its step");
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
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
