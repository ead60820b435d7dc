//! Progress renderers for `--progress`: a live TTY view (indicatif), plain lines like
//! `buildctl --progress=plain`, and JSON lines. All write to standard error.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gb_events::{Event, EventSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ProgressMode;
use crate::session::Session;

/// Makes the sink for a progress mode.
/// Makes the sink for a progress mode, writing to the session's standard error.
pub fn sink(mode: ProgressMode) -> Box<dyn EventSink> {
    let session = crate::session::current();
    let mode = match mode {
        ProgressMode::Auto if session.stderr_is_terminal() => ProgressMode::Tty,
        ProgressMode::Auto => ProgressMode::Plain,
        other => other,
    };
    match mode {
        ProgressMode::Quiet => Box::new(gb_events::NoEvents),
        ProgressMode::Json => Box::new(JsonLines { session }),
        ProgressMode::Tty => Box::new(Tty::new(&session)),
        _ => Box::new(Plain { session, numbers: Mutex::default() }),
    }
}

struct JsonLines {
    session: Arc<Session>,
}

impl EventSink for JsonLines {
    fn emit(&self, event: Event) {
        let _ = writeln!(self.session.stderr(), "{}", event.to_json_line());
    }
}

/// Numbers steps in the order they first appear, as buildctl's `#N`.
struct Plain {
    session: Arc<Session>,
    numbers: Mutex<HashMap<String, usize>>,
}

impl Plain {
    fn number(&self, op: &str) -> usize {
        let Ok(mut numbers) = self.numbers.lock() else { return 0 };
        let next = numbers.len() + 1;
        *numbers.entry(op.to_owned()).or_insert(next)
    }
}

/// A duration as BuildKit's progress prints one: `1.2s`.
pub(crate) fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

impl EventSink for Plain {
    fn emit(&self, event: Event) {
        let line = match &event {
            Event::BuildStarted { .. } | Event::OpRunning { .. } => return,
            Event::OpCached { op, description, .. } => {
                let n = self.number(op);
                format!("#{n} {description}\n#{n} CACHED")
            }
            Event::OpStarted { op, description, .. } => format!("#{} {description}", self.number(op)),
            Event::OpLog { op, data, at_ms, .. } => {
                let n = self.number(op);
                data.lines().map(|l| format!("#{n} {:.3} {l}", *at_ms as f64 / 1000.0)).collect::<Vec<_>>().join("\n")
            }
            Event::OpCompleted { op, duration_ms, .. } => {
                format!("#{} DONE {}", self.number(op), seconds(*duration_ms))
            }
            Event::OpFailed { op, error, .. } => format!("#{} ERROR: {error}", self.number(op)),
            Event::OpCancelled { op, .. } => format!("#{} CANCELED", self.number(op)),
            Event::BuildCompleted { ran, cached, duration_ms } => {
                format!("built in {} ({ran} steps ran, {cached} cached)", seconds(*duration_ms))
            }
            Event::BuildFailed { .. } => return,
        };
        if !line.is_empty() {
            let _ = writeln!(self.session.stderr(), "{line}");
        }
    }
}

/// A spinner per running step; finished steps print a line with their time or CACHED.
struct Tty {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Tty {
    fn new(session: &Session) -> Self {
        // A client's terminal is drawn on through its own descriptor.
        let target = match (session.stderr_file(), session.stderr_file()) {
            (Some(read), Some(write)) => ProgressDrawTarget::term(console::Term::read_write_pair(read, write), 20),
            _ => ProgressDrawTarget::stderr(),
        };
        Self { multi: MultiProgress::with_draw_target(target), bars: Mutex::new(HashMap::new()) }
    }
}

impl EventSink for Tty {
    fn emit(&self, event: Event) {
        let Ok(mut bars) = self.bars.lock() else { return };
        match event {
            Event::OpStarted { op, description, .. } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(description);
                bar.enable_steady_tick(Duration::from_millis(100));
                bars.insert(op, bar);
            }
            Event::OpLog { op, data, .. } => {
                if let (Some(bar), Some(last)) = (bars.get(&op), data.lines().rfind(|l| !l.trim().is_empty())) {
                    let description = bar.message().split(" │ ").next().unwrap_or_default().to_owned();
                    bar.set_message(format!("{description} │ {}", last.chars().take(60).collect::<String>()));
                }
            }
            Event::OpCached { description, .. } => {
                let _ = self.multi.println(format!("  CACHED {description}"));
            }
            Event::OpCompleted { op, description, duration_ms, .. } => {
                if let Some(bar) = bars.remove(&op) {
                    bar.finish_and_clear();
                }
                let _ = self.multi.println(format!("  {:>6} {description}", seconds(duration_ms)));
            }
            Event::OpFailed { op, description, .. } | Event::OpCancelled { op, description, .. } => {
                if let Some(bar) = bars.remove(&op) {
                    bar.finish_and_clear();
                }
                let _ = self.multi.println(format!("  FAILED {description}"));
            }
            Event::BuildCompleted { ran, cached, duration_ms } => {
                let _ =
                    self.multi.println(format!("built in {} ({ran} steps ran, {cached} cached)", seconds(duration_ms)));
            }
            Event::BuildStarted { .. } | Event::BuildFailed { .. } | Event::OpRunning { .. } => {}
        }
    }
}
