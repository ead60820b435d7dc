//! The scheduler: runs a plan of steps, each as soon as the steps it waits for are done, and
//! stops the run at the first failure (cancelling the steps still running and waiting for
//! them). It knows nothing of ops, caches or containers: a step is an id, the ids it waits for,
//! and a future the caller starts from the outputs so far, which is what lets its tests use fake
//! steps.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;

use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

/// What to run: every step with the steps of the plan it waits for (inputs known before the run
/// are not listed).
pub(crate) struct Plan<Id> {
    /// Step and the steps it waits for, in any order.
    pub steps: Vec<(Id, Vec<Id>)>,
}

/// Runs `plan`. `start` makes the future of a step whose inputs are done, from the outputs so
/// far; it is spawned at once. The first failure (a step's error, or `on_panic` of a step that
/// panicked) fires `cancel`, no further step starts, and the run ends with that error once the
/// running steps have ended. Returns every step's output.
pub(crate) async fn run<Id, Output, Error, Start, StepFuture>(
    plan: Plan<Id>,
    cancel: &CancellationToken,
    mut start: Start,
    on_panic: impl Fn(JoinError) -> Error,
) -> Result<HashMap<Id, Output>, Error>
where
    Id: Copy + Eq + Hash + Send + 'static,
    Output: Send + 'static,
    Error: Send + 'static,
    Start: FnMut(Id, &HashMap<Id, Output>) -> StepFuture,
    StepFuture: Future<Output = Result<Output, Error>> + Send + 'static,
{
    let in_plan: HashSet<Id> = plan.steps.iter().map(|(id, _)| *id).collect();
    let mut waiting: HashMap<Id, usize> = HashMap::new();
    let mut dependents: HashMap<Id, Vec<Id>> = HashMap::new();
    let mut ready = Vec::new();
    for (id, inputs) in &plan.steps {
        // An input listed twice is waited for once; one outside the plan is known already.
        let unique: HashSet<Id> = inputs.iter().copied().filter(|i| in_plan.contains(i)).collect();
        for input in &unique {
            dependents.entry(*input).or_default().push(*id);
        }
        waiting.insert(*id, unique.len());
        if unique.is_empty() {
            ready.push(*id);
        }
    }
    let mut outputs: HashMap<Id, Output> = HashMap::new();
    let mut tasks: JoinSet<(Id, Result<Output, Error>)> = JoinSet::new();
    let mut failure: Option<Error> = None;
    loop {
        if failure.is_none() {
            for id in ready.drain(..) {
                let step = start(id, &outputs);
                tasks.spawn(async move { (id, step.await) });
            }
        }
        let Some(joined) = tasks.join_next().await else { break };
        match joined {
            Ok((id, Ok(output))) => {
                outputs.insert(id, output);
                for dependent in dependents.get(&id).into_iter().flatten() {
                    if let Some(count) = waiting.get_mut(dependent) {
                        *count -= 1;
                        if *count == 0 {
                            ready.push(*dependent);
                        }
                    }
                }
            }
            Ok((_, Err(error))) => {
                if failure.is_none() {
                    // One failure stops the run: cancel the siblings and wait for them.
                    cancel.cancel();
                    failure = Some(error);
                }
            }
            Err(panicked) => {
                if failure.is_none() {
                    cancel.cancel();
                    failure = Some(on_panic(panicked));
                }
            }
        }
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(outputs),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// A fake step: sleeps, then succeeds with its id (or fails), recording when it ran.
    #[derive(Default)]
    struct Log {
        started: Mutex<Vec<u32>>,
        finished: Mutex<Vec<u32>>,
        running: AtomicUsize,
        most_at_once: AtomicUsize,
    }

    fn fake(
        log: &Arc<Log>,
        id: u32,
        millis: u64,
        fail: bool,
        cancel: &CancellationToken,
    ) -> impl Future<Output = Result<u32, String>> + Send + 'static {
        let (log, cancel) = (log.clone(), cancel.clone());
        async move {
            log.started.lock().expect("log").push(id);
            let now = log.running.fetch_add(1, Ordering::SeqCst) + 1;
            log.most_at_once.fetch_max(now, Ordering::SeqCst);
            let outcome = tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(millis)) => {
                    if fail { Err(format!("step {id} failed")) } else { Ok(id) }
                }
                () = cancel.cancelled() => Err(format!("step {id} cancelled")),
            };
            log.running.fetch_sub(1, Ordering::SeqCst);
            log.finished.lock().expect("log").push(id);
            outcome
        }
    }

    /// A step and the outputs it was started with.
    type Started = (u32, Vec<u32>);

    fn plan(edges: &[(u32, &[u32])]) -> Plan<u32> {
        Plan { steps: edges.iter().map(|(id, inputs)| (*id, inputs.to_vec())).collect() }
    }

    #[tokio::test]
    async fn a_step_starts_only_after_every_step_it_waits_for_and_sees_their_outputs() {
        let log = Arc::new(Log::default());
        let cancel = CancellationToken::new();
        // 1 and 2 are independent; 3 waits for both; 4 waits for 3 (listed twice).
        let seen: Arc<Mutex<Vec<Started>>> = Arc::default();
        let outputs = run(
            plan(&[(4, &[3, 3]), (3, &[1, 2]), (1, &[]), (2, &[])]),
            &cancel,
            |id, done| {
                let mut inputs: Vec<u32> = done.values().copied().collect();
                inputs.sort_unstable();
                seen.lock().expect("seen").push((id, inputs));
                fake(&log, id, if id == 1 { 30 } else { 5 }, false, &cancel)
            },
            |e| e.to_string(),
        )
        .await
        .expect("the run succeeds");
        assert_eq!(outputs.len(), 4);
        let seen = seen.lock().expect("seen").clone();
        let inputs_of = |id| seen.iter().find(|(s, _)| *s == id).map(|(_, i)| i.clone()).expect("started");
        assert_eq!(inputs_of(3), vec![1, 2], "3 started once 1 and 2 were done");
        assert_eq!(inputs_of(4), vec![1, 2, 3], "4 started once 3 was done");
        assert_eq!(log.most_at_once.load(Ordering::SeqCst), 2, "1 and 2 ran at once");
    }

    #[tokio::test]
    async fn the_first_failure_cancels_the_running_steps_and_starts_no_other() {
        let log = Arc::new(Log::default());
        let cancel = CancellationToken::new();
        // 1 fails quickly while 2 runs long; 3 waits for 1 and never starts.
        let result = run(
            plan(&[(1, &[]), (2, &[]), (3, &[1])]),
            &cancel,
            |id, _| fake(&log, id, if id == 1 { 5 } else { 10_000 }, id == 1, &cancel),
            |e| e.to_string(),
        )
        .await;
        assert_eq!(result.err().as_deref(), Some("step 1 failed"), "the run ends with the first failure");
        assert!(cancel.is_cancelled());
        let started = log.started.lock().expect("log").clone();
        assert!(!started.contains(&3), "no step starts after a failure: {started:?}");
        let finished = log.finished.lock().expect("log").clone();
        assert!(finished.contains(&2), "the running sibling was cancelled and waited for: {finished:?}");
    }

    #[tokio::test]
    async fn cancelling_one_run_leaves_another_running_alone() {
        let log = Arc::new(Log::default());
        let (first, second) = (CancellationToken::new(), CancellationToken::new());
        let one =
            run(plan(&[(1, &[]), (2, &[1])]), &first, |id, _| fake(&log, id, 200, false, &first), |e| e.to_string());
        let other = run(
            plan(&[(11, &[]), (12, &[11])]),
            &second,
            |id, _| fake(&log, id, 20, false, &second),
            |e| e.to_string(),
        );
        let cancel_first = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            first.cancel();
        };
        let (one, other, ()) = tokio::join!(one, other, cancel_first);
        assert_eq!(one.err().as_deref(), Some("step 1 cancelled"));
        let other = other.expect("the other run finishes");
        assert_eq!(other.len(), 2);
        assert!(!second.is_cancelled(), "the other run's token was never fired");
    }

    #[tokio::test]
    async fn a_panicking_step_fails_the_run_through_on_panic() {
        let cancel = CancellationToken::new();
        let result: Result<HashMap<u32, u32>, String> = run(
            plan(&[(1, &[])]),
            &cancel,
            |_, _| async { panic!("a bug in a step") },
            |e| format!("panicked: {}", e.is_panic()),
        )
        .await;
        assert_eq!(result.err().as_deref(), Some("panicked: true"));
    }
}
