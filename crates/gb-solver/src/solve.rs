//! The solve: keys, the plan of what must run, and the parallel scheduler.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use gb_cache::{CacheKey, ResultRecord, Snapshot};
use gb_events::{Event, EventSink};
use gb_ir::{Definition, Op, OpDigest, OpNode, Platform, Sha256Digest, SourceOp};
use tokio_util::sync::CancellationToken;

use crate::RemoteResult;
use crate::entitlements::{self, Entitlement};
use crate::error::SolveError;
use crate::graph::{self, GraphOp, Known};
use crate::keys::cache_key;
use crate::steps::Ran;
use crate::worker::{self, Value};
use gb_store::StateRoot;

/// Brings an image that is not in the local store into it (a registry pull), so base images can
/// stay unpulled until an op really needs their layers.
pub trait ImagePuller: Send + Sync {
    /// Pulls `reference` (normalized, pinned to `manifest`, an image for `platform`) into the
    /// store; an image for another platform is an error.
    fn pull<'a>(
        &'a self,
        reference: &'a str,
        manifest: &'a gb_ir::Sha256Digest,
        platform: &'a gb_ir::Platform,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<gb_cache::ImageRecord, PullError>> + Send + 'a>>;
}

/// Why an [`ImagePuller`] could not bring an image in, and whose failure that is.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct PullError {
    /// The machine or the registry failed (unreachable, a bad blob, a full disk), rather than
    /// the build's input (no such image, no access).
    pub environment: bool,
    /// What went wrong.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// How to solve.
#[derive(Clone)]
pub struct SolveOptions {
    /// How many ops may run at once.
    pub max_parallelism: usize,
    /// Ignore cached results (results are still stored).
    pub no_cache: bool,
    /// Local directories by name (`context` is the build context).
    pub local_dirs: BTreeMap<String, PathBuf>,
    /// Secrets by id (`--secret id=ID,src=PATH` or `id=ID,env=VAR`).
    pub secrets: BTreeMap<String, SecretSource>,
    /// SSH agent sockets by id, for `RUN --mount=type=ssh` (`--ssh default`, `--ssh ID=SOCKET`).
    pub ssh: BTreeMap<String, PathBuf>,
    /// Fired to cancel the solve (Ctrl-C).
    pub cancel: CancellationToken,
    /// Pulls base images that are pinned but not in the store, only when their layers are
    /// needed; without it such an image is an error.
    pub puller: Option<Arc<dyn ImagePuller>>,
    /// The privileges the build was granted (`--allow`); an exec op needing another is refused.
    pub entitlements: BTreeSet<Entitlement>,
    /// Told what the sources brought in once they are resolved, before any op runs (what a
    /// build's explanation of each step as it starts needs).
    pub on_sources: Option<SourcesHook>,
    /// A cache beyond the state root, asked for the results of the steps on the way to the
    /// output that the root lacks.
    pub remote: Option<Arc<dyn crate::RemoteCache>>,
}

/// See [`SolveOptions::on_sources`].
pub type SourcesHook = Arc<dyn Fn(&BTreeMap<OpDigest, SourceContent>) + Send + Sync>;

impl std::fmt::Debug for SolveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolveOptions")
            .field("max_parallelism", &self.max_parallelism)
            .field("no_cache", &self.no_cache)
            .field("local_dirs", &self.local_dirs)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("ssh", &self.ssh)
            .field("puller", &self.puller.is_some())
            .field("entitlements", &self.entitlements)
            .field("on_sources", &self.on_sources.is_some())
            .field("remote", &self.remote.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for SolveOptions {
    fn default() -> Self {
        Self {
            max_parallelism: default_parallelism(),
            no_cache: false,
            local_dirs: BTreeMap::new(),
            secrets: BTreeMap::new(),
            ssh: BTreeMap::new(),
            cancel: CancellationToken::new(),
            puller: None,
            entitlements: BTreeSet::new(),
            on_sources: None,
            remote: None,
        }
    }
}

/// How many steps run at once unless told otherwise: the core count (2 when unknown).
pub fn default_parallelism() -> usize {
    // Asked once: the standard library reads the cgroup's CPU quota files on every call, which
    // was a visible part of a no-op build.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
}

/// Where a secret's value comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// A file, read when a step mounts it.
    File(PathBuf),
    /// A value given with the build (an environment variable of the user's).
    Value(Vec<u8>),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A value is never printed.
        match self {
            SecretSource::File(path) => f.debug_tuple("File").field(path).finish(),
            SecretSource::Value(_) => f.write_str("Value(..)"),
        }
    }
}

/// What a solve produced.
#[derive(Debug, Clone)]
pub struct SolveResult {
    /// The requested output as a snapshot.
    pub output: Snapshot,
    /// The output's cache key.
    pub output_key: Option<CacheKey>,
    /// Ops that ran.
    pub ran: usize,
    /// Ops whose results came from the cache.
    pub cached: usize,
    /// The cache keys of the build's exec and file ops that have a stored result, in
    /// topological order (what `--cache-to mode=max` exports; `output_key` is `mode=min`).
    pub result_keys: Vec<CacheKey>,
    /// What each reachable source brought in: its content key (an image's manifest digest, a
    /// context's checksum, a download's sha256) and, for a local context, each file read with
    /// its content digest. What a build record keeps to explain a cache miss.
    pub sources: BTreeMap<OpDigest, SourceContent>,
}

/// What a source brought into a solve.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceContent {
    /// Its content key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A local context's files (path below the context, sha256 of the content), in path order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<(String, Sha256Digest)>,
    /// How many bytes of a local context's files were read to hash them (files whose digest
    /// the file index held are not read).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_hashed: u64,
}

/// Whether a count is zero (left out of a record).
fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// Runs Definitions against one state root.
pub struct Solver {
    root: Arc<StateRoot>,
}

/// What every op task shares.
pub(crate) struct Context {
    pub root: Arc<StateRoot>,
    /// The container runtime, found when the first exec op runs (a build with none needs no
    /// runc).
    runtime: std::sync::OnceLock<Arc<gb_exec::Runtime>>,
    pub options: SolveOptions,
    pub events: Arc<dyn EventSink>,
    pub started: Instant,
    pub definition: Arc<Definition>,
}

impl Context {
    /// The container runtime, found on first use; a work dir of this solve's own holds its
    /// containers (those a killed build left behind were reaped when the state root was
    /// opened).
    pub fn runtime(&self) -> Result<Arc<gb_exec::Runtime>, SolveError> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime.clone());
        }
        let runtime = gb_exec::Runtime::detect(&self.root.new_exec_dir())
            .map_err(|e| SolveError::env("finding a container runtime (install runc)", e))?;
        Ok(self.runtime.get_or_init(|| Arc::new(runtime)).clone())
    }

    /// Milliseconds since the solve started.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The op's description for progress and errors.
    pub fn description(&self, digest: &OpDigest) -> String {
        self.definition.metadata.get(digest).map_or_else(|| format!("op {}", digest.short()), |m| m.description.clone())
    }

    /// The op's first source location.
    pub fn location(&self, digest: &OpDigest) -> Option<gb_ir::Location> {
        self.definition.metadata.get(digest).and_then(|m| m.locations.first().cloned())
    }
}

impl Solver {
    /// A solver over a state root.
    pub fn new(root: Arc<StateRoot>) -> Self {
        Self { root }
    }

    /// The state root.
    pub fn root(&self) -> &Arc<StateRoot> {
        &self.root
    }

    /// Solves the definition's output: sources resolved first (at once), then the generic
    /// phases of `graph` over the IR's ops.
    pub async fn solve(
        &self,
        definition: &Definition,
        options: &SolveOptions,
        events: Arc<dyn EventSink>,
    ) -> Result<SolveResult, SolveError> {
        definition.validate()?;
        let started = Instant::now();
        let Some(output) = definition.output.clone() else {
            return Ok(SolveResult {
                output: Snapshot::default(),
                output_key: None,
                ran: 0,
                cached: 0,
                result_keys: Vec::new(),
                sources: BTreeMap::new(),
            });
        };
        let reachable = definition.reachable_from_output();
        // Before any cache lookup: a privileged step is refused even when its result is cached.
        entitlements::check(definition, &reachable, &options.entitlements)?;
        events.emit(Event::BuildStarted { ops: reachable.len() });
        let nodes: HashMap<OpDigest, OpNode> = definition.ops.iter().map(|e| (e.digest, e.node.clone())).collect();
        let files = std::sync::Mutex::new(BTreeMap::new());
        let mut sources = self.resolve_sources(definition, &reachable, &nodes, options, &files)?;
        let mut brought: BTreeMap<OpDigest, SourceContent> = sources
            .iter()
            .map(|(digest, (content, _))| (*digest, SourceContent { content: content.clone(), ..Default::default() }))
            .collect();
        for (digest, (files, bytes_hashed)) in files.into_inner().unwrap_or_default() {
            let brought = brought.entry(digest).or_default();
            (brought.files, brought.bytes_hashed) = (files, bytes_hashed);
        }
        if let Some(hook) = &options.on_sources {
            hook(&brought);
        }
        let context = Arc::new(Context {
            root: self.root.clone(),
            runtime: std::sync::OnceLock::new(),
            options: options.clone(),
            events: events.clone(),
            started,
            definition: Arc::new(definition.clone()),
        });
        let semaphore = Arc::new(tokio::sync::Semaphore::new(options.max_parallelism.max(1)));
        let index: HashMap<OpDigest, usize> = reachable.iter().enumerate().map(|(i, d)| (*d, i)).collect();
        let ignoring = ignoring_cache(&context, &reachable, &nodes, &index);
        // As BuildKit's `detectPrunedCacheID`: a step run without the cache starts its cache
        // mounts empty too.
        for (digest, ignores) in reachable.iter().zip(&ignoring) {
            if let (true, Op::Exec(exec)) = (ignores, &nodes[digest].op) {
                worker::prune_cache_mounts(&context.root, exec)?;
            }
        }
        let ops: Vec<IrOp> = reachable
            .iter()
            .zip(ignoring)
            .map(|(digest, ignores_cache)| {
                let node = nodes[digest].clone();
                let is_source = |position: usize| matches!(nodes[&node.inputs[position].op].op, Op::Source(_));
                IrOp {
                    digest: *digest,
                    ignores_cache,
                    content_reads: crate::content::content_reads(&node, is_source),
                    inputs: node.inputs.iter().map(|i| (index[&i.op], i.output)).collect(),
                    source: sources.remove(digest),
                    node,
                    context: context.clone(),
                    semaphore: semaphore.clone(),
                }
            })
            .collect();

        let mut planned = graph::plan(&ops, index[&output.op])?;
        if options.remote.is_some() {
            // Steps that could run at once start in an order of this build's own, so two
            // machines building the same graph at the same time tend to take different steps
            // first and find each other's results (see `ask_remote`) instead of both running
            // each. Order among ready steps is free: each still waits for its inputs.
            let order = std::collections::hash_map::RandomState::new();
            planned.needed.sort_by_key(|index| std::hash::BuildHasher::hash_one(&order, index));
        }
        for hit in &planned.hits {
            events.emit(Event::OpCached {
                op: reachable[*hit].to_string(),
                description: context.description(&reachable[*hit]),
                at_ms: started.elapsed().as_millis() as u64,
            });
        }
        let mut cached = planned.hits.len();
        let keys = planned.keys.clone();
        let outcome =
            graph::run(&ops, planned, &options.cancel, |panicked| SolveError::env("an op task", panicked)).await;
        let values = match outcome {
            Ok(done) => {
                // A step another build ran counts as cached; merges and diffs run nothing.
                cached += done.ran.iter().filter(|(_, by)| matches!(by, Ran::ByAnother | Ran::Stored)).count();
                let ran = done
                    .ran
                    .iter()
                    .filter(|(index, by)| {
                        *by == Ran::Here && !matches!(ops[*index].node.op, Op::Merge(_) | Op::Diff(_))
                    })
                    .count();
                (done.values, ran)
            }
            Err(err) => {
                let error = if options.cancel.is_cancelled() && matches!(err, SolveError::Cancelled) {
                    SolveError::Cancelled
                } else {
                    err
                };
                events.emit(Event::BuildFailed {
                    error: error.to_string(),
                    duration_ms: started.elapsed().as_millis() as u64,
                });
                return Err(error);
            }
        };
        let (values, ran) = values;
        if options.cancel.is_cancelled() {
            return Err(SolveError::Cancelled);
        }
        let output_index = index[&output.op];
        let output_value = values
            .get(&output_index)
            .and_then(|v| v.get(output.output as usize).cloned())
            .ok_or_else(|| SolveError::env("the solve", "the output has no result"))?;
        let output_snapshot = worker::to_snapshot(&context, output_value).await?;
        events.emit(Event::BuildCompleted { ran, cached, duration_ms: started.elapsed().as_millis() as u64 });
        let result_keys = (0..ops.len())
            .filter(|i| matches!(ops[*i].node.op, Op::Exec(_) | Op::File(_)) && values.contains_key(i))
            .map(|i| keys[i])
            .collect();
        Ok(SolveResult {
            output: output_snapshot,
            output_key: Some(keys[output_index]),
            ran,
            cached,
            result_keys,
            sources: brought,
        })
    }

    fn description(&self, definition: &Definition, digest: &OpDigest) -> String {
        definition.metadata.get(digest).map_or_else(|| format!("op {}", digest.short()), |m| m.description.clone())
    }

    /// Every reachable source's content key and value. Downloads, checkouts and context
    /// checksums run at once, each on a thread of its own; image and scratch sources, which only
    /// read the store, on this one. The first failure in the graph's order is the one reported.
    fn resolve_sources(
        &self,
        definition: &Definition,
        reachable: &[OpDigest],
        nodes: &HashMap<OpDigest, OpNode>,
        options: &SolveOptions,
        files: &LocalFiles,
    ) -> Result<HashMap<OpDigest, (Option<String>, Value)>, SolveError> {
        let sources: Vec<(&OpDigest, &OpNode, &SourceOp)> = reachable
            .iter()
            .filter_map(|digest| match &nodes[digest].op {
                Op::Source(source) => Some((digest, &nodes[digest], source)),
                _ => None,
            })
            .collect();
        let slow = |source: &SourceOp| matches!(source, SourceOp::Local(_) | SourceOp::Http(_) | SourceOp::Git(_));
        let resolve = |(digest, node, source): &(&OpDigest, &OpNode, &SourceOp)| {
            self.resolve_source(definition, digest, node, source, options, files)
        };
        let results: Vec<Result<(Option<String>, Value), SolveError>> =
            if sources.iter().filter(|(_, _, source)| slow(source)).count() < 2 {
                sources.iter().map(resolve).collect()
            } else {
                tokio::task::block_in_place(|| {
                    std::thread::scope(|scope| {
                        let threads: Vec<_> = sources
                            .iter()
                            .map(|entry| slow(entry.2).then(|| scope.spawn(move || resolve(entry))))
                            .collect();
                        // The quick ones here, while the slow ones run.
                        sources
                            .iter()
                            .zip(threads)
                            .map(|(entry, thread)| match thread {
                                Some(thread) => thread.join().unwrap_or_else(|_| {
                                    Err(SolveError::env("resolving a source", "its thread panicked"))
                                }),
                                None => resolve(entry),
                            })
                            .collect()
                    })
                })
            };
        let mut resolved = HashMap::new();
        for ((digest, _, _), result) in sources.iter().zip(results) {
            resolved.insert(**digest, result?);
        }
        Ok(resolved)
    }

    /// A source's content key and value.
    fn resolve_source(
        &self,
        definition: &Definition,
        digest: &OpDigest,
        node: &OpNode,
        source: &SourceOp,
        options: &SolveOptions,
        files: &LocalFiles,
    ) -> Result<(Option<String>, Value), SolveError> {
        let fail = |message: String| SolveError::OpFailed {
            description: self.description(definition, digest),
            location: definition.metadata.get(digest).and_then(|m| m.locations.first().cloned()),
            message,
        };
        // A download that failed for the build's input (a checksum, a missing ref) is the
        // build's failure; one the network, a server or the machine failed (no git, a refused
        // connection, a full disk) is the environment's.
        let fetch_failure = |e: gb_fetch::FetchError| match e.kind() {
            gb_fetch::ErrorKind::Input => fail(e.to_string()),
            gb_fetch::ErrorKind::Remote | gb_fetch::ErrorKind::Environment => {
                SolveError::env(self.description(definition, digest), e)
            }
        };
        match source {
            SourceOp::Scratch => Ok((None, Value::Snapshot(Snapshot::default()))),
            SourceOp::Image(image) => {
                let name = gb_cache::ImageName::parse(&image.reference)
                    .map_err(|e| fail(format!("image {}: {e}", image.reference)))?;
                let stored = self.root.db.image(&name).map_err(|e| SolveError::env("reading the image store", e))?;
                // The store holds one image per name: another one under it (another platform of a
                // multi-platform base, an older tag) is no copy of the pinned one.
                let elsewhere = |record: &gb_cache::ImageRecord| {
                    image.manifest.is_some_and(|pinned| pinned != record.manifest_digest) && options.puller.is_some()
                };
                let stored = stored.filter(|record| !elsewhere(record));
                // A pinned image not in the store is keyed on its manifest and pulled only if an
                // op that must run reads it: a cached build needs no base layer.
                if let (None, Some(pinned), Some(_)) = (&stored, &image.manifest, &options.puller) {
                    return Ok((
                        Some(pinned.to_string()),
                        Value::Image {
                            reference: image.reference.clone(),
                            manifest: *pinned,
                            platform: node.platform.clone().unwrap_or_else(Platform::host),
                        },
                    ));
                }
                let record = stored.ok_or_else(|| {
                    fail(format!(
                        "image {} is not in the local store (make one with `graphbuild import ROOTFS.tar NAME`)",
                        image.reference
                    ))
                })?;
                if let Some(pinned) = &image.manifest
                    && *pinned != record.manifest_digest
                {
                    return Err(fail(format!(
                        "image {} is {} in the local store, but the build asks for {pinned}",
                        image.reference, record.manifest_digest
                    )));
                }
                // An image for another platform must not stand in for the one asked for: its
                // binaries would run (or fail) as what they are, under the wanted platform's name.
                if let (Some(wanted), Some(actual)) = (&node.platform, gb_store::record_platform(&record.config))
                    && !wanted.matches(&actual)
                {
                    let name = gb_ir::ImageReference::parse(&image.reference)
                        .map_or_else(|_| image.reference.clone(), |r| r.familiar());
                    return Err(fail(format!(
                        "image with reference {name} was found but does not match the specified platform: \
                         wanted {wanted}, actual: {actual}"
                    )));
                }
                Ok((Some(record.manifest_digest.to_string()), Value::Snapshot(Snapshot { layers: record.layers })))
            }
            SourceOp::Local(local) => {
                let dir = options
                    .local_dirs
                    .get(&local.name)
                    .ok_or_else(|| fail(format!("no local directory named {:?} was given", local.name)))?;
                let canonical =
                    dir.canonicalize().map_err(|e| fail(format!("the build context {}: {e}", dir.display())))?;
                let prefix = format!("{}:{}/", local.name, canonical.display());
                let checksum =
                    gb_snapshot::checksum_tree(&canonical, &local.include, &local.exclude, &self.root.db, &prefix)
                        .map_err(|e| match e {
                            // The cache database failed (a full disk), not the context.
                            gb_snapshot::SnapshotError::Index { .. } => {
                                SolveError::env("indexing the build context", e)
                            }
                            e => fail(e.to_string()),
                        })?;
                if let Ok(mut files) = files.lock() {
                    files.insert(*digest, (checksum.file_digests, checksum.bytes_hashed));
                }
                Ok((
                    Some(checksum.digest.to_string()),
                    Value::Local { root: canonical, include: local.include.clone(), exclude: local.exclude.clone() },
                ))
            }
            SourceOp::Http(http) => {
                // With a checksum the content is known before downloading: a cached copy is used.
                let pinned_key = http.checksum.map(|c| cache_key(digest, &[], Some(&c.to_string())));
                if let Some(key) = pinned_key
                    && let Some(snapshot) = self.cached_source(&key)?
                {
                    return Ok((http.checksum.map(|c| c.to_string()), Value::Snapshot(snapshot)));
                }
                let (snapshot, sha256) = tokio::task::block_in_place(|| {
                    let work =
                        self.root.snapshots.work_dir().map_err(|e| SolveError::env("making a work directory", e))?;
                    let fetched =
                        gb_fetch::fetch_http(&http.url, http.checksum.as_ref(), http.filename.as_deref(), work.upper())
                            .map_err(fetch_failure)?;
                    let layer = worker::commit(&self.root, work)?;
                    Ok::<_, SolveError>((Snapshot { layers: vec![layer] }, fetched.sha256))
                })?;
                let key = cache_key(digest, &[], Some(&sha256.to_string()));
                self.store_source(&key, &snapshot, definition, digest)?;
                Ok((Some(sha256.to_string()), Value::Snapshot(snapshot)))
            }
            SourceOp::Git(git) => {
                let commit =
                    tokio::task::block_in_place(|| gb_fetch::resolve_git_ref(&git.remote, git.reference.as_deref()))
                        .map_err(fetch_failure)?;
                let content = format!("{commit}:{}:{}", git.subdir.as_deref().unwrap_or(""), git.keep_git_dir);
                let key = cache_key(digest, &[], Some(&content));
                if let Some(snapshot) = self.cached_source(&key)? {
                    return Ok((Some(content), Value::Snapshot(snapshot)));
                }
                let snapshot = tokio::task::block_in_place(|| {
                    let work =
                        self.root.snapshots.work_dir().map_err(|e| SolveError::env("making a work directory", e))?;
                    let checkout = work.upper().join("checkout");
                    gb_fetch::fetch_git(
                        &git.remote,
                        Some(&commit),
                        git.subdir.as_deref(),
                        git.keep_git_dir,
                        git.checksum.as_deref(),
                        &checkout,
                    )
                    .map_err(fetch_failure)?;
                    // The checkout is the layer's root.
                    for entry in std::fs::read_dir(&checkout).map_err(|e| SolveError::env("reading the checkout", e))? {
                        let entry = entry.map_err(|e| SolveError::env("reading the checkout", e))?;
                        std::fs::rename(entry.path(), work.upper().join(entry.file_name()))
                            .map_err(|e| SolveError::env("moving the checkout", e))?;
                    }
                    std::fs::remove_dir(&checkout).map_err(|e| SolveError::env("moving the checkout", e))?;
                    let layer = worker::commit(&self.root, work)?;
                    Ok::<_, SolveError>(Snapshot { layers: vec![layer] })
                })?;
                self.store_source(&key, &snapshot, definition, digest)?;
                Ok((Some(content), Value::Snapshot(snapshot)))
            }
        }
    }

    /// A fetched source's snapshot from the cache, while its layers exist.
    fn cached_source(&self, key: &CacheKey) -> Result<Option<Snapshot>, SolveError> {
        let record = self.root.db.result(key).map_err(|e| SolveError::env("reading the cache", e))?;
        Ok(record
            .and_then(|r| r.outputs.into_iter().next())
            .filter(|s| s.layers.iter().all(|l| self.root.snapshots.layer_path(l).is_dir())))
    }

    fn store_source(
        &self,
        key: &CacheKey,
        snapshot: &Snapshot,
        definition: &Definition,
        digest: &OpDigest,
    ) -> Result<(), SolveError> {
        let record = ResultRecord {
            outputs: vec![snapshot.clone()],
            created_unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            description: self.description(definition, digest),
            effective_key: None,
        };
        self.root.db.put_result(key, &record).map_err(|e| SolveError::env("writing the cache", e))
    }
}

/// The files each local source read, as its checksum listed them, with how many bytes of them
/// had to be read (the others' digests were in the file index).
type LocalFiles = std::sync::Mutex<BTreeMap<OpDigest, (Vec<(String, Sha256Digest)>, u64)>>;

/// Which of the reachable ops (in topological order) run even when the cache has their result:
/// all under `--no-cache`; else those whose metadata asks (`--no-cache-filter`) and every op
/// that reads one, since, as in BuildKit, a result made without the cache never vouches for a
/// cached result built on the old one.
fn ignoring_cache(
    context: &Context,
    reachable: &[OpDigest],
    nodes: &HashMap<OpDigest, OpNode>,
    index: &HashMap<OpDigest, usize>,
) -> Vec<bool> {
    let mut ignoring = Vec::with_capacity(reachable.len());
    for digest in reachable {
        let asked = context.options.no_cache || context.definition.metadata.get(digest).is_some_and(|m| m.ignore_cache);
        let inherited = nodes[digest].inputs.iter().any(|input| ignoring[index[&input.op]]);
        ignoring.push(asked || inherited);
    }
    ignoring
}

/// An IR op bound to the generic phases: its key is its digest with its inputs' keys (and a
/// source's content key), its stored result is looked up for exec and file ops, a source's value
/// was resolved before the solve, and running it is `run_step`.
struct IrOp {
    digest: OpDigest,
    /// The op runs even when the cache has its result (see [`ignoring_cache`]).
    ignores_cache: bool,
    node: OpNode,
    inputs: Vec<(usize, u32)>,
    /// A source's content key and value, resolved before the phases.
    source: Option<(Option<String>, Value)>,
    /// The parts of inputs it keys by their content ([`crate::content::content_reads`]).
    content_reads: Vec<Option<Vec<String>>>,
    context: Arc<Context>,
    semaphore: Arc<tokio::sync::Semaphore>,
}

impl GraphOp for IrOp {
    type Value = Value;
    type Error = SolveError;
    type Ran = Ran;

    fn inputs(&self) -> &[(usize, u32)] {
        &self.inputs
    }

    fn key(&self, input_keys: &[(CacheKey, u32)]) -> CacheKey {
        let content = self.source.as_ref().and_then(|(content, _)| content.as_deref());
        cache_key(&self.digest, input_keys, content)
    }

    fn known(&self, key: &CacheKey) -> Result<Known<Value>, SolveError> {
        if let Some((_, value)) = &self.source {
            return Ok(Known::Resolved(vec![value.clone()]));
        }
        let cacheable = matches!(self.node.op, Op::Exec(_) | Op::File(_));
        if !cacheable || self.ignores_cache {
            return Ok(Known::Nothing);
        }
        Ok(stored_result(&self.context, key)?
            .map_or(Known::Nothing, |(values, effective)| Known::Stored(values, effective.unwrap_or(*key))))
    }

    fn known_remotely(&self, key: &CacheKey) -> Result<Known<Value>, SolveError> {
        let cacheable = matches!(self.node.op, Op::Exec(_) | Op::File(_));
        if !cacheable || self.ignores_cache {
            return Ok(Known::Nothing);
        }
        Ok(match ask_remote(&self.context, key, &self.digest)? {
            Some(found) => {
                let effective = found.effective_key.unwrap_or(*key);
                Known::Stored(found.outputs.into_iter().map(Value::Snapshot).collect(), effective)
            }
            None => Known::Nothing,
        })
    }

    fn run(
        &self,
        key: CacheKey,
        inputs: Vec<Value>,
        input_keys: Vec<(CacheKey, u32)>,
    ) -> impl std::future::Future<Output = graph::RunOutcome<Self>> + Send + 'static {
        let (context, semaphore, digest, node) =
            (self.context.clone(), self.semaphore.clone(), self.digest, self.node.clone());
        let cacheable = matches!(node.op, Op::Exec(_) | Op::File(_)) && !self.ignores_cache;
        let content_reads = self.content_reads.clone();
        async move {
            // The key its dependents build on: its inputs' effective keys, the parts it reads by
            // content. A result stored under it (by a build whose inputs differed elsewhere) is
            // this op's too.
            let effective = if cacheable {
                effective_key(&context, &digest, &inputs, input_keys, &content_reads).await?
            } else {
                key
            };
            if effective != key
                && let Some((outputs, _)) = stored_result(&context, &effective)?
            {
                // Found under the plain key too next time, saying what its dependents build on.
                if let Some(snapshots) = snapshots_of(&outputs) {
                    store_result(&context, &key, &digest, &snapshots, Some(effective))?;
                }
                report_cached(&context, &digest);
                return Ok((outputs, Ran::Stored, effective));
            }
            let (outputs, ran) = run_step(&context, &semaphore, digest, &node, inputs, key, cacheable).await?;
            if effective != key
                && let Some(snapshots) = snapshots_of(&outputs)
            {
                store_result(&context, &effective, &digest, &snapshots, None)?;
                store_result(&context, &key, &digest, &snapshots, Some(effective))?;
            }
            if cacheable && ran == Ran::Here {
                share_step(&context, &key)?;
            }
            Ok((outputs, ran, effective))
        }
    }
}

/// The effective key of an op ([`graph`]): its digest with its inputs' effective keys, those it
/// reads in part keyed by the content of that part.
async fn effective_key(
    context: &Context,
    digest: &OpDigest,
    inputs: &[Value],
    input_keys: Vec<(CacheKey, u32)>,
    content_reads: &[Option<Vec<String>>],
) -> Result<CacheKey, SolveError> {
    let mut keys = input_keys;
    for (position, read) in content_reads.iter().enumerate() {
        let (Some(selectors), Some(value)) = (read, inputs.get(position)) else { continue };
        let snapshot = worker::to_snapshot(context, value.clone()).await?;
        keys[position].0 = crate::content::content_key(context, snapshot, selectors.clone()).await?;
    }
    Ok(cache_key(digest, &keys, None))
}

/// The snapshots `values` are, when each is one (what exec and file ops give).
fn snapshots_of(values: &[Value]) -> Option<Vec<Snapshot>> {
    values.iter().map(|value| if let Value::Snapshot(s) = value { Some(s.clone()) } else { None }).collect()
}

/// Runs one step when a slot is free, both this solve's and the root's. A cacheable step that a
/// concurrent solve is running already is not run twice: this solve waits for it (giving its
/// slots back meanwhile, so the waiting never holds up the step waited for) and takes its stored
/// result, or runs the step itself when the other solve failed or was cancelled.
async fn run_step(
    context: &Context,
    semaphore: &Arc<tokio::sync::Semaphore>,
    digest: OpDigest,
    node: &OpNode,
    inputs: Vec<Value>,
    key: CacheKey,
    shared: bool,
) -> Result<(Vec<Value>, Ran), SolveError> {
    // This build's own bound; the whole root's is taken by the worker around the step's work
    // proper (the command of an exec, the copying of a file op).
    let permit = || semaphore.clone().acquire_owned();
    if !shared {
        let _permit = permit().await;
        let outputs = worker::run_op(context, digest, node, inputs, key).await?;
        return Ok((outputs, Ran::Here));
    }
    // Found here, or (once this step has its slot, just before it would run) in the remote
    // cache: another machine may have made it since the plan asked, as a farm's builds overlap.
    let stored =
        || match stored_outputs(context, &key)? {
            Some(outputs) => Ok(Some(outputs)),
            None => Ok(ask_remote(context, &key, &digest)?
                .map(|found| found.outputs.into_iter().map(Value::Snapshot).collect())),
        };
    let run = || worker::run_op(context, digest, node, inputs, key);
    let (outputs, ran) = context
        .root
        .shared::<crate::steps::Steps>()
        .once(key, &context.options.cancel, permit, stored, run, || SolveError::Cancelled)
        .await?;
    if ran == Ran::ByAnother {
        report_cached(context, &digest);
    }
    Ok((outputs, ran))
}

/// The stored result of `key` while every layer it names is on disk.
fn stored_outputs(context: &Context, key: &CacheKey) -> Result<Option<Vec<Value>>, SolveError> {
    Ok(stored_result(context, key)?.map(|(outputs, _)| outputs))
}

/// A stored result's outputs, and the effective key it was stored with when that differs.
type StoredResult = (Vec<Value>, Option<CacheKey>);

/// [`stored_outputs`], with the effective key the result was stored with when it differs.
fn stored_result(context: &Context, key: &CacheKey) -> Result<Option<StoredResult>, SolveError> {
    let record = context.root.db.result(key).map_err(|e| SolveError::env("reading the cache", e))?;
    Ok(record
        .filter(|r| r.outputs.iter().all(|s| s.layers.iter().all(|l| context.root.snapshots.layer_path(l).is_dir())))
        .map(|r| (r.outputs.into_iter().map(Value::Snapshot).collect(), r.effective_key)))
}

/// The remote cache's result under `key` for the op `digest`, when there is a remote cache and
/// it has one; kept in the root (dated as the original), where the next build finds it.
fn ask_remote(context: &Context, key: &CacheKey, digest: &OpDigest) -> Result<Option<RemoteResult>, SolveError> {
    let Some(remote) = context.options.remote.as_ref() else { return Ok(None) };
    let handle = tokio::runtime::Handle::current();
    let found = tokio::task::block_in_place(|| handle.block_on(remote.lookup(key))).map_err(|e| match e.input {
        // What the cache holds for this step is wrong: the step fails, at its line.
        true => SolveError::OpFailed {
            description: context.description(digest),
            location: context.location(digest),
            message: e.message,
        },
        false => SolveError::env("asking the remote cache", e),
    })?;
    let Some(found) = found else { return Ok(None) };
    put_result(context, key, digest, &found.outputs, found.effective_key, found.created_unix)?;
    Ok(Some(found))
}

/// Hands a step's new result to the remote cache, which stores it now when it takes every
/// step's result.
fn share_step(context: &Context, key: &CacheKey) -> Result<(), SolveError> {
    let Some(remote) = context.options.remote.as_ref() else { return Ok(()) };
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| handle.block_on(remote.store_step(key)))
        .map_err(|e| SolveError::env("storing in the remote cache", e))
}

fn report_cached(context: &Context, digest: &OpDigest) {
    context.events.emit(Event::OpCached {
        op: digest.to_string(),
        description: context.description(digest),
        at_ms: context.now_ms(),
    });
}

/// Stores a ran op's result under `key`, with the effective key its dependents build on when
/// that differs (content-based keys).
pub(crate) fn store_result(
    context: &Context,
    key: &CacheKey,
    digest: &OpDigest,
    outputs: &[Snapshot],
    effective_key: Option<CacheKey>,
) -> Result<(), SolveError> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    put_result(context, key, digest, outputs, effective_key, now)
}

/// Stores a result of the op `digest` under `key`, made at `created_unix` (an image of it is
/// dated so).
fn put_result(
    context: &Context,
    key: &CacheKey,
    digest: &OpDigest,
    outputs: &[Snapshot],
    effective_key: Option<CacheKey>,
    created_unix: u64,
) -> Result<(), SolveError> {
    let record = ResultRecord {
        outputs: outputs.to_vec(),
        created_unix,
        description: context.description(digest),
        effective_key,
    };
    context.root.db.put_result(key, &record).map_err(|e| SolveError::env("writing the cache", e))
}
