//! Running blocking work (compressing, copying, unpacking layers) from async code.

/// Runs `work` off the runtime's scheduling: on a multi-threaded runtime the thread hands its
/// other tasks to other threads first; on a current-thread runtime there is nobody to hand them
/// to, and `work` simply runs.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
