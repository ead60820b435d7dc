//! Progress events of a solve, as plain serde data: what `--progress json` prints one per line,
//! and what the TTY and plain renderers draw. Consumers can depend on this crate alone.

use serde::{Deserialize, Serialize};

/// One thing that happened during a build. Times are milliseconds since the build started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The solve began; `ops` is how many ops the requested output needs.
    BuildStarted {
        /// Ops to resolve.
        ops: usize,
    },
    /// An op's result was found in the cache; it will not run.
    OpCached {
        /// The op's digest.
        op: String,
        /// Its description (`[build 2/5] RUN make`).
        description: String,
        /// When.
        at_ms: u64,
    },
    /// An op started running.
    OpStarted {
        /// The op's digest.
        op: String,
        /// Its description.
        description: String,
        /// When.
        at_ms: u64,
        /// Why it runs although an earlier build of the same Dockerfile and target had it
        /// cached (`build --explain`): `1 context file changed: src/main.c (content)`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A started op got a slot of the root's bound on parallel work and its work proper began;
    /// the time since `op_started` went to waiting for the slot.
    OpRunning {
        /// The op's digest.
        op: String,
        /// When.
        at_ms: u64,
    },
    /// A chunk of a running op's output.
    OpLog {
        /// The op's digest.
        op: String,
        /// `stdout` or `stderr`.
        stream: Stream,
        /// The text (invalid UTF-8 replaced).
        data: String,
        /// When.
        at_ms: u64,
    },
    /// An op finished successfully.
    OpCompleted {
        /// The op's digest.
        op: String,
        /// Its description.
        description: String,
        /// When it started.
        started_ms: u64,
        /// How long it ran.
        duration_ms: u64,
        /// How many bytes the layers it wrote take on disk (0 for an op that wrote none, or
        /// from a server that does not count them).
        #[serde(default, skip_serializing_if = "is_zero")]
        bytes_written: u64,
    },
    /// An op failed; the build stops.
    OpFailed {
        /// The op's digest.
        op: String,
        /// Its description.
        description: String,
        /// Why.
        error: String,
        /// When.
        at_ms: u64,
    },
    /// An op was cancelled because the build stopped.
    OpCancelled {
        /// The op's digest.
        op: String,
        /// Its description.
        description: String,
        /// When.
        at_ms: u64,
    },
    /// The solve finished.
    BuildCompleted {
        /// Ops that ran.
        ran: usize,
        /// Ops taken from the cache.
        cached: usize,
        /// Total time.
        duration_ms: u64,
    },
    /// The solve failed.
    BuildFailed {
        /// Why.
        error: String,
        /// Total time.
        duration_ms: u64,
    },
}

/// Which output stream a log chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Event {
    /// The event as one JSON line (without the newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where a solve sends its events. Implementations must be cheap: they are called from the
/// solver's tasks.
pub trait EventSink: Send + Sync {
    /// Receives one event.
    fn emit(&self, event: Event);
}

/// Discards events.
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _: Event) {}
}

/// Whether a count is zero (left out of the JSON line).
fn is_zero(count: &u64) -> bool {
    *count == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_json_lines() {
        let event = Event::OpCompleted {
            op: "sha256:ab".into(),
            description: "RUN x".into(),
            started_ms: 1,
            duration_ms: 2,
            bytes_written: 0,
        };
        let line = event.to_json_line();
        assert_eq!(
            line,
            r#"{"event":"op_completed","op":"sha256:ab","description":"RUN x","started_ms":1,"duration_ms":2}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&line).ok(), Some(event));
    }
}
