//! Build records: every build the engine runs leaves one in `ROOT/builds/ID.json` (what was
//! built, with which options, each step's status and timing, the result), as BuildKit's build
//! history does; `graphbuild builds ls|show` read them. The last [`DEFAULT_KEEP`] (or the
//! configured number) are kept; `prune --all` removes them all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gb_events::{Event, EventSink};
use gb_ir::Definition;
use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// How many records a root keeps when its config names no number.
pub const DEFAULT_KEEP: usize = 50;

/// What the caller knows of a build beyond its graph: the front end's options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// The Dockerfile (its name as the user gave it), when a front end read one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// `--target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `--platform`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The build args given, by name (as `docker buildx history inspect` shows them; secrets
    /// are never build args).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub build_args: std::collections::BTreeMap<String, String>,
    /// The image names (`-t`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// `--no-cache`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_cache: bool,
}

impl BuildInfo {
    /// Whether `other` builds the same thing: the same Dockerfile and target (what a build is
    /// explained against).
    pub fn same_build(&self, other: &BuildInfo) -> bool {
        self.dockerfile == other.dockerfile && self.target == other.target
    }
}

/// How many files of a context a record lists; a larger context is recorded by its checksum.
pub const MAX_RECORDED_FILES: usize = 10_000;

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    /// It built its result.
    Completed,
    /// A step or an export failed.
    Failed,
    /// It was cancelled.
    Cancelled,
}

impl BuildStatus {
    /// Its name as `builds ls` and `builds show` print it (`Completed`).
    pub fn label(self) -> &'static str {
        match self {
            BuildStatus::Completed => "Completed",
            BuildStatus::Failed => "Failed",
            BuildStatus::Cancelled => "Cancelled",
        }
    }
}

/// How a step of a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It ran.
    Ran,
    /// Its result came from the cache (or from a concurrent build that ran it).
    Cached,
    /// It failed.
    Failed,
    /// It was started and stopped with the build.
    Cancelled,
}

impl StepStatus {
    /// Its name, as the record spells it (`ran`, `cached`, `failed`, `cancelled`).
    pub fn name(self) -> &'static str {
        match self {
            StepStatus::Ran => "ran",
            StepStatus::Cached => "cached",
            StepStatus::Failed => "failed",
            StepStatus::Cancelled => "cancelled",
        }
    }
}

/// One step (exec or file op) of a recorded build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The op's digest.
    pub op: String,
    /// Its description (`[build 2/5] RUN make`).
    pub description: String,
    /// Where the front end's source says it comes from (`Dockerfile:7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// How it ended.
    pub status: StepStatus,
    /// When it started running, in milliseconds since the build started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// How long it ran, from its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// How much of that it waited for a slot of the root's bound on parallel work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_ms: Option<u64>,
    /// How many bytes the layers it wrote take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_written: Option<u64>,
    /// Why it ran although the build it was compared with had it cached (`build --explain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The image a recorded build made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedImage {
    /// Its id (config digest).
    pub id: String,
    /// Its manifest digest.
    pub manifest: String,
}

/// One recorded build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// Its id (lower-case hex, unique in the root).
    pub id: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// How long it took, exports included.
    pub duration_ms: u64,
    /// How it ended.
    pub status: BuildStatus,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The front end's options.
    pub info: BuildInfo,
    /// Its steps, in the order the graph lists them.
    pub steps: Vec<StepRecord>,
    /// The image it made, when it made one (a multi-platform build: its index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<RecordedImage>,
    /// How long the exports (and pushes) took after the solve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_ms: Option<u64>,
    /// The graphs it solved: one, or one per platform.
    pub graphs: Vec<RecordedGraph>,
    /// What each source brought in (by op digest): its content key and a context's files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<String, gb_solver::SourceContent>,
}

/// A graph a recorded build solved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedGraph {
    /// The platform it was lowered for, in a multi-platform build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The graph.
    pub definition: Definition,
}

/// A build as it ended, for [`Engine::record`].
pub(crate) struct Ended {
    pub(crate) started: std::time::SystemTime,
    pub(crate) graphs: Vec<RecordedGraph>,
    pub(crate) info: BuildInfo,
    pub(crate) keep: usize,
    pub(crate) image: Option<RecordedImage>,
    pub(crate) sources: BTreeMap<gb_ir::OpDigest, gb_solver::SourceContent>,
}

impl BuildRecord {
    /// How many steps ran and how many came from the cache.
    pub fn ran_and_cached(&self) -> (usize, usize) {
        let count = |status| self.steps.iter().filter(|step| step.status == status).count();
        (count(StepStatus::Ran), count(StepStatus::Cached))
    }

    /// How many bytes of the build contexts' files were read to hash them.
    pub fn bytes_hashed(&self) -> u64 {
        self.sources.values().map(|source| source.bytes_hashed).sum()
    }

    /// How many bytes the layers its steps wrote take.
    pub fn bytes_written(&self) -> u64 {
        self.steps.iter().filter_map(|step| step.bytes_written).sum()
    }
}

/// Passes a build's events on, keeping what its record needs (not the steps' logs); when
/// explaining, each step's `op_started` event gets why it runs.
pub(crate) struct Recorder {
    inner: Arc<dyn EventSink>,
    events: Mutex<Vec<Event>>,
    explaining: Option<Explaining>,
}

/// What explaining steps as they start needs: the earlier build, and this one so far.
struct Explaining {
    earlier: BuildRecord,
    /// This build as a record (its graph, options and sources; the steps are made from the
    /// events when one starts), and the reasons given so far by step number.
    so_far: Mutex<(BuildRecord, std::collections::HashMap<usize, String>)>,
}

impl Recorder {
    pub(crate) fn new(inner: Arc<dyn EventSink>) -> Self {
        Self { inner, events: Mutex::new(Vec::new()), explaining: None }
    }

    /// A recorder that explains each step that starts against `earlier` (the last build of
    /// the same Dockerfile and target).
    pub(crate) fn explaining(
        inner: Arc<dyn EventSink>,
        earlier: BuildRecord,
        definition: &Definition,
        info: &BuildInfo,
    ) -> Self {
        let so_far = BuildRecord {
            id: String::new(),
            started_unix_ms: 0,
            duration_ms: 0,
            status: BuildStatus::Completed,
            error: None,
            info: info.clone(),
            steps: Vec::new(),
            image: None,
            export_ms: None,
            graphs: vec![RecordedGraph { platform: None, definition: definition.clone() }],
            sources: BTreeMap::new(),
        };
        let explaining = Explaining { earlier, so_far: Mutex::new((so_far, std::collections::HashMap::new())) };
        Self { inner, events: Mutex::new(Vec::new()), explaining: Some(explaining) }
    }

    /// What the solver calls with the sources' content when explaining.
    pub(crate) fn sources_hook(self: &Arc<Self>) -> Option<gb_solver::SourcesHook> {
        self.explaining.as_ref()?;
        let recorder = Arc::downgrade(self);
        Some(Arc::new(move |sources: &BTreeMap<gb_ir::OpDigest, gb_solver::SourceContent>| {
            if let Some(recorder) = recorder.upgrade()
                && let Some(explaining) = &recorder.explaining
                && let Ok(mut so_far) = explaining.so_far.lock()
            {
                so_far.0.sources = sources.iter().map(|(op, content)| (op.to_string(), content.clone())).collect();
            }
        }))
    }

    /// Why the step `op` runs, when explaining.
    fn reason(&self, op: &str) -> Option<String> {
        let explaining = self.explaining.as_ref()?;
        let mut so_far = explaining.so_far.lock().ok()?;
        let (record, reasons) = &mut *so_far;
        let events = self.events.lock().ok()?;
        record.steps = steps_of(&record.graphs.first()?.definition, &events, true);
        drop(events);
        let index = record.steps.iter().position(|step| step.op == op)?;
        crate::explain::explain_step(&explaining.earlier, record, index, reasons)
    }

    /// How long the solve took, as its `build_completed` events say (a multi-platform build
    /// solves each platform in turn: their sum).
    pub(crate) fn solve_ms(&self) -> Option<u64> {
        let events = self.events.lock().ok()?;
        let solves: Vec<u64> = events
            .iter()
            .filter_map(|event| match event {
                Event::BuildCompleted { duration_ms, .. } => Some(*duration_ms),
                _ => None,
            })
            .collect();
        (!solves.is_empty()).then(|| solves.iter().sum())
    }

    /// The steps of `definition` as the events tell them.
    pub(crate) fn steps(&self, definition: &Definition) -> Vec<StepRecord> {
        let events = self.events.lock().map(|events| events.clone()).unwrap_or_default();
        steps_of(definition, &events, false)
    }
}

/// The steps of `definition` as `events` tell them; a step the build has not reached (or never
/// did: it stopped first) is left out unless `unreached` asks for it.
fn steps_of(definition: &Definition, events: &[Event], unreached: bool) -> Vec<StepRecord> {
    let reachable = definition.reachable_from_output();
    let ops: std::collections::HashMap<_, _> = definition.ops.iter().map(|entry| (entry.digest, &entry.node)).collect();
    reachable
        .iter()
        .filter(|digest| {
            ops.get(*digest).is_some_and(|node| matches!(node.op, gb_ir::Op::Exec(_) | gb_ir::Op::File(_)))
        })
        .filter_map(|digest| {
            let op = digest.to_string();
            let metadata = definition.metadata.get(digest);
            let mut step = StepRecord {
                op: op.clone(),
                description: metadata.map(|m| m.description.clone()).unwrap_or_default(),
                location: metadata.and_then(|m| m.locations.first()).map(|l| format!("{}:{}", l.file, l.start_line)),
                status: StepStatus::Cancelled,
                started_ms: None,
                duration_ms: None,
                queued_ms: None,
                bytes_written: None,
                reason: None,
                error: None,
            };
            let mut seen = false;
            for event in events {
                match event {
                    Event::OpCached { op: id, .. } if *id == op => {
                        (seen, step.status) = (true, StepStatus::Cached);
                    }
                    Event::OpStarted { op: id, at_ms, reason, .. } if *id == op => {
                        (seen, step.started_ms) = (true, Some(*at_ms));
                        step.reason.clone_from(reason);
                    }
                    Event::OpRunning { op: id, at_ms } if *id == op => {
                        step.queued_ms = step.started_ms.map(|started| at_ms.saturating_sub(started));
                    }
                    Event::OpCompleted { op: id, started_ms, duration_ms, bytes_written, .. } if *id == op => {
                        step.status = StepStatus::Ran;
                        (step.started_ms, step.duration_ms) = (Some(*started_ms), Some(*duration_ms));
                        step.bytes_written = Some(*bytes_written);
                    }
                    Event::OpFailed { op: id, error, at_ms, .. } if *id == op => {
                        step.status = StepStatus::Failed;
                        step.error = Some(error.clone());
                        step.duration_ms = step.started_ms.map(|started| at_ms.saturating_sub(started));
                    }
                    _ => {}
                }
            }
            (seen || unreached).then_some(step)
        })
        .collect()
}

impl crate::Engine {
    /// Records a build that ended with `outcome` and returns the record's id. The record is
    /// written on a thread of its own, so the caller's answer does not wait for the disk;
    /// every reader of records in this process waits for it ([`flush`]). A record that cannot
    /// be written is logged, never the build's failure.
    pub(crate) fn record<T>(
        &self,
        recorder: &Recorder,
        ended: Ended,
        outcome: &Result<T, EngineError>,
    ) -> Option<String> {
        let Ended { started, graphs, info, keep, image, sources } = ended;
        // `[builds] keep = 0` turns recording off.
        if keep == 0 {
            return None;
        }
        let sources = sources
            .into_iter()
            .map(|(digest, mut content)| {
                if content.files.len() > MAX_RECORDED_FILES {
                    content.files.clear();
                }
                (digest.to_string(), content)
            })
            .collect();
        let started_unix_ms =
            started.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        let (status, error) = match outcome {
            Ok(_) => (BuildStatus::Completed, None),
            Err(e) if e.kind() == crate::ErrorKind::Cancelled => (BuildStatus::Cancelled, None),
            Err(e) => (BuildStatus::Failed, Some(e.to_string())),
        };
        let steps = graphs.iter().flat_map(|graph| recorder.steps(&graph.definition)).collect();
        let duration_ms = started.elapsed().map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        let record = BuildRecord {
            id: new_id(started_unix_ms),
            started_unix_ms,
            duration_ms,
            export_ms: recorder.solve_ms().map(|solve| duration_ms.saturating_sub(solve)).filter(|_| outcome.is_ok()),
            status,
            error,
            info,
            steps,
            image: image.filter(|_| outcome.is_ok()),
            graphs,
            sources,
        };
        let id = record.id.clone();
        store_in_background(self.root().builds_dir(), record, keep);
        Some(id)
    }
}

/// The record writes under way in this process.
static WRITING: Mutex<Vec<std::thread::JoinHandle<()>>> = Mutex::new(Vec::new());

/// Why records written in the background could not be, until a build reports them.
static UNRECORDED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Writes `record` on a thread of its own ([`store`]); [`flush`] waits for it. A failure is
/// kept for the next build's warnings ([`unrecorded`]).
fn store_in_background(dir: PathBuf, record: BuildRecord, keep: usize) {
    let pending = Arc::new((dir, record));
    let write = move |pending: &(PathBuf, BuildRecord)| {
        let (dir, record) = pending;
        if let Err(error) = store(dir, record, keep)
            && let Ok(mut unrecorded) = UNRECORDED.lock()
        {
            unrecorded.push(format!("build {} was not recorded: {error}", record.id));
        }
    };
    let mine = pending.clone();
    match std::thread::Builder::new().name("build-record".to_owned()).spawn(move || write(&mine)) {
        Ok(handle) => {
            if let Ok(mut writing) = WRITING.lock() {
                writing.retain(|handle| !handle.is_finished());
                writing.push(handle);
            }
        }
        // No thread to spare: written here, then.
        Err(_) => write(&pending),
    }
}

/// Waits until every record this process started writing is written: before records are read,
/// and before the process exits.
pub fn flush() {
    let handles = WRITING.lock().map(|mut writing| std::mem::take(&mut *writing)).unwrap_or_default();
    for handle in handles {
        let _ = handle.join();
    }
}

/// The records that could not be written since the last call, as warnings.
pub(crate) fn unrecorded() -> Vec<String> {
    UNRECORDED.lock().map(|mut unrecorded| std::mem::take(&mut *unrecorded)).unwrap_or_default()
}

impl EventSink for Recorder {
    fn emit(&self, mut event: Event) {
        if let Event::OpStarted { op, reason, .. } = &mut event
            && self.explaining.is_some()
        {
            *reason = self.reason(op);
        }
        if !matches!(event, Event::OpLog { .. })
            && let Ok(mut events) = self.events.lock()
        {
            events.push(event.clone());
        }
        self.inner.emit(event);
    }
}

/// A new build id: the start time and random bits, in hex, so ids sort by start.
pub(crate) fn new_id(started_unix_ms: u64) -> String {
    let random = gb_cache::LayerId::random();
    format!("{started_unix_ms:012x}{}", &random.0[..8])
}

/// Writes `record` into `dir` and removes all but the newest `keep` records.
pub(crate) fn store(dir: &Path, record: &BuildRecord, keep: usize) -> Result<(), EngineError> {
    let io = |action: String| move |source| EngineError::Io { action, source };
    gb_store::create_private_dir(dir)?;
    let bytes = serde_json::to_vec(record).map_err(|e| EngineError::Invalid(format!("a build record: {e}")))?;
    let path = dir.join(format!("{}.json", record.id));
    let partial = dir.join(format!(".{}.json.partial", record.id));
    std::fs::write(&partial, bytes).map_err(io(format!("writing {}", partial.display())))?;
    std::fs::rename(&partial, &path).map_err(io(format!("writing {}", path.display())))?;
    // One pass over the directory: the records to trim and what a killed process left
    // half-written (`.ID.json.partial`; one younger than a minute may be another build's,
    // being written).
    let entries = std::fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))?;
    let minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let mut ids = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = record_id(name) {
            ids.push(id.to_owned());
        } else if name.starts_with('.')
            && name.ends_with(".json.partial")
            && entry.metadata().and_then(|m| m.modified()).is_ok_and(|modified| modified < minute_ago)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    ids.sort();
    let excess = ids.len().saturating_sub(keep);
    for id in &ids[..excess] {
        let _ = std::fs::remove_file(dir.join(format!("{id}.json")));
    }
    Ok(())
}

/// The id of the record a file of the records directory holds, by its name (`ID.json`).
fn record_id(file_name: &str) -> Option<&str> {
    file_name.strip_suffix(".json").filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The ids of the records in `dir`, once the records this process is writing are written: every
/// reader of records lists them here first.
fn record_ids(dir: &Path) -> Result<Vec<String>, EngineError> {
    flush();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(EngineError::Io { action: format!("reading {}", dir.display()), source }),
    };
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str().and_then(record_id).map(str::to_owned))
        .collect())
}

/// The records in `dir`, newest first; an unreadable one is left out.
pub fn list(dir: &Path) -> Result<Vec<BuildRecord>, EngineError> {
    Ok(newest_first(dir)?.collect())
}

/// The records in `dir`, newest first, each read when it is asked for; an unreadable one is
/// left out.
fn newest_first(dir: &Path) -> Result<impl Iterator<Item = BuildRecord> + '_, EngineError> {
    let mut ids = record_ids(dir)?;
    ids.sort();
    ids.reverse();
    Ok(ids.into_iter().filter_map(move |id| read(dir, &id).ok()))
}

/// The record a user names: its id, an unambiguous prefix of it, or `latest`.
pub fn find(dir: &Path, name: &str) -> Result<BuildRecord, EngineError> {
    let mut ids = record_ids(dir)?;
    ids.sort();
    let id = if name == "latest" {
        ids.last().cloned()
    } else {
        let matching: Vec<&String> = ids.iter().filter(|id| id.starts_with(name)).collect();
        match matching.as_slice() {
            [one] => Some((*one).clone()),
            [] => None,
            _ => {
                return Err(EngineError::Invalid(format!(
                    "build {name:?} is ambiguous: {} builds start with it",
                    matching.len()
                )));
            }
        }
    };
    let id = id.ok_or_else(|| EngineError::Invalid(format!("no build {name:?} is recorded")))?;
    read(dir, &id)
}

fn read(dir: &Path, id: &str) -> Result<BuildRecord, EngineError> {
    let path: PathBuf = dir.join(format!("{id}.json"));
    let bytes = std::fs::read(&path)
        .map_err(|source| EngineError::Io { action: format!("reading {}", path.display()), source })?;
    serde_json::from_slice(&bytes).map_err(|e| EngineError::Invalid(format!("{}: {e}", path.display())))
}

/// The newest record before `record` of the same Dockerfile and target.
pub fn previous(dir: &Path, record: &BuildRecord) -> Result<Option<BuildRecord>, EngineError> {
    // Read one at a time: the one wanted is usually among the newest.
    Ok(newest_first(dir)?.find(|other| other.id < record.id && other.info.same_build(&record.info)))
}

/// The newest record of a build of the Dockerfile and target `info` names.
pub(crate) fn newest_like(dir: &Path, info: &BuildInfo) -> Result<Option<BuildRecord>, EngineError> {
    Ok(newest_first(dir)?.find(|other| other.info.same_build(info)))
}

/// Removes every record in `dir`; returns how many there were.
pub fn remove_all(dir: &Path) -> Result<usize, EngineError> {
    let ids = record_ids(dir)?;
    for id in &ids {
        let path = dir.join(format!("{id}.json"));
        std::fs::remove_file(&path)
            .map_err(|source| EngineError::Io { action: format!("removing {}", path.display()), source })?;
    }
    Ok(ids.len())
}

/// The chain of steps that bounded a build's time: each step waits for the steps it reads, so
/// the build took at least the sum of one chain's run times; this is the longest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CriticalPath {
    /// The chain's steps (indexes into [`BuildRecord::steps`]), first to last.
    pub steps: Vec<usize>,
    /// The sum of their run times (a cached step's is 0).
    pub duration_ms: u64,
}

impl BuildRecord {
    /// For each step (by index), the steps it reads directly: the nearest steps above it,
    /// looking through sources, merges and diffs.
    pub fn step_inputs(&self) -> Vec<Vec<usize>> {
        let index: std::collections::HashMap<&str, usize> =
            self.steps.iter().enumerate().map(|(i, step)| (step.op.as_str(), i)).collect();
        let nodes: std::collections::HashMap<String, &gb_ir::OpNode> = self
            .graphs
            .iter()
            .flat_map(|graph| graph.definition.ops.iter().map(|entry| (entry.digest.to_string(), &entry.node)))
            .collect();
        self.steps
            .iter()
            .map(|step| {
                let mut found = std::collections::BTreeSet::new();
                let mut pending: Vec<String> = nodes
                    .get(&step.op)
                    .map(|node| node.inputs.iter().map(|input| input.op.to_string()).collect())
                    .unwrap_or_default();
                let mut seen = std::collections::HashSet::new();
                while let Some(op) = pending.pop() {
                    if !seen.insert(op.clone()) {
                        continue;
                    }
                    match index.get(op.as_str()) {
                        Some(&i) => {
                            found.insert(i);
                        }
                        None => pending.extend(
                            nodes.get(&op).into_iter().flat_map(|node| node.inputs.iter().map(|i| i.op.to_string())),
                        ),
                    }
                }
                found.into_iter().collect()
            })
            .collect()
    }

    /// The build's critical path ([`CriticalPath`]); steps are in graph (topological) order.
    pub fn critical_path(&self) -> CriticalPath {
        let inputs = self.step_inputs();
        let mut best: Vec<(u64, Option<usize>)> = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            let own = if step.status == StepStatus::Cached { 0 } else { step.duration_ms.unwrap_or(0) };
            let before = inputs[i].iter().filter(|&&p| p < i).max_by_key(|&&p| best[p].0).copied();
            best.push((own + before.map_or(0, |p| best[p].0), before));
        }
        let Some(last) = (0..best.len()).max_by_key(|&i| best[i].0) else { return CriticalPath::default() };
        let mut steps = vec![last];
        while let Some(previous) = best[*steps.last().unwrap_or(&last)].1 {
            steps.push(previous);
        }
        steps.reverse();
        CriticalPath { steps, duration_ms: best[last].0 }
    }
}
