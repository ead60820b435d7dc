//! The cache itself: looking a step's result up (for the solver, `RemoteCache`) and storing the
//! build's results (`--cache-to`), with the mapping of `docs/reapi-cache.md`.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use gb_cache::{CacheKey, LayerId, Snapshot};
use gb_export::{Compression, ExportContext, LayerReuse};
use gb_ir::Sha256Digest;
use gb_solver::{RemoteCache, RemoteError, RemoteFuture, RemoteResult};
use gb_store::StateRoot;
use serde::{Deserialize, Serialize};

use crate::client::{Client, Endpoint, Upload, digest_of};
use crate::error::ReapiError;

/// The path of the result's description among the action result's output files.
pub const RESULT_FILE: &str = "graphbuild/result.json";

/// The Command every step's Action names: what graphbuild's cache keys mean is versioned here.
const COMMAND_NAME: &str = "graphbuild-step";

/// How many times a failed first connection is tried again.
const CONNECT_RETRIES: u32 = 2;

/// How long a lookup may take before the cache counts as slow (and is left for this build).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A step's result as `graphbuild/result.json` describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ResultFile {
    /// The cache key the result is stored under.
    key: CacheKey,
    /// The key its dependents build on, when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    effective_key: Option<CacheKey>,
    /// The step's description (for people reading the cache).
    description: String,
    /// When the result was made (seconds since the Unix epoch): images of it are that old.
    created_unix: u64,
    /// Each output's layers, bottom first.
    outputs: Vec<Vec<LayerFile>>,
}

/// One layer of a result: the blob in the CAS (also an output file of the action result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LayerFile {
    blob: Sha256Digest,
    size: u64,
    diff_id: Sha256Digest,
    media_type: String,
}

/// The Action (and the Command and input root it names) a cache key maps to, serialized.
struct ActionBlobs {
    action: (re::Digest, Vec<u8>),
    command: (re::Digest, Vec<u8>),
    input_root: (re::Digest, Vec<u8>),
}

/// A serialized message and its digest.
fn blob(message: &impl prost::Message) -> (re::Digest, Vec<u8>) {
    let bytes = message.encode_to_vec();
    (digest_of(&Sha256Digest::of(&bytes), bytes.len() as u64), bytes)
}

/// The Action for a step keyed `key`: a Command `graphbuild-step sha256:KEY` with the outputs
/// it declares, and an empty input root: the key already covers every input (the op, its
/// inputs' keys, the content it reads), so the Action's digest is a function of the key alone.
fn action_for(key: &CacheKey) -> ActionBlobs {
    let command = re::Command {
        arguments: vec![COMMAND_NAME.to_owned(), key.to_string()],
        output_paths: vec![RESULT_FILE.to_owned()],
        ..Default::default()
    };
    let (command_digest, command_bytes) = blob(&command);
    let input_root = blob(&re::Directory::default());
    let action = re::Action {
        command_digest: Some(command_digest.clone()),
        input_root_digest: Some(input_root.0.clone()),
        ..Default::default()
    };
    ActionBlobs { action: blob(&action), command: (command_digest, command_bytes), input_root }
}

/// What a build did with the cache, for its report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReapiReport {
    /// Results found.
    pub hits: u64,
    /// Results asked for and not found.
    pub misses: u64,
    /// Results stored.
    pub stored: u64,
    /// Bytes of blobs downloaded.
    pub downloaded: u64,
    /// Bytes of blobs uploaded.
    pub uploaded: u64,
}

/// What the cache did so far, counted as it goes ([`ReapiReport`]'s fields).
#[derive(Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
    stored: AtomicU64,
    downloaded: AtomicU64,
    uploaded: AtomicU64,
}

fn add(count: &AtomicU64, by: u64) {
    count.fetch_add(by, Ordering::Relaxed);
}

/// A REAPI server as the build cache of one state root.
pub struct ReapiCache {
    endpoint: Endpoint,
    root: Arc<StateRoot>,
    /// Failures are the build's (`ignore-error=false`) rather than warnings.
    fatal: bool,
    client: tokio::sync::OnceCell<Client>,
    /// Set after a failure that would make every later call fail or wait (unreachable, slow).
    given_up: AtomicBool,
    warnings: Mutex<Vec<String>>,
    counts: Counts,
    /// Whether each step's result is stored as soon as it is made (`mode=max`).
    every_step: bool,
    /// The keys stored so far this build.
    stored: Mutex<HashSet<CacheKey>>,
}

impl ReapiCache {
    /// A cache at `endpoint` for the state root `root`; `fatal` makes its failures the build's.
    pub fn new(endpoint: Endpoint, root: Arc<StateRoot>, fatal: bool) -> Self {
        Self {
            endpoint,
            root,
            fatal,
            client: tokio::sync::OnceCell::new(),
            given_up: AtomicBool::new(false),
            warnings: Mutex::new(Vec::new()),
            counts: Counts::default(),
            every_step: false,
            stored: Mutex::new(HashSet::new()),
        }
    }

    /// Stores each step's result as soon as the step made it (`--cache-to ...,mode=max`), so
    /// the other machines of a farm find it while this build goes on.
    pub fn storing_every_step(mut self) -> Self {
        self.every_step = true;
        self
    }

    /// The warnings of the build so far (each failure once), taken.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|mut warnings| std::mem::take(&mut *warnings)).unwrap_or_default()
    }

    /// What the cache did so far.
    pub fn report(&self) -> ReapiReport {
        let Counts { hits, misses, stored, downloaded, uploaded } = &self.counts;
        let [hits, misses, stored, downloaded, uploaded] =
            [hits, misses, stored, downloaded, uploaded].map(|count| count.load(Ordering::Relaxed));
        ReapiReport { hits, misses, stored, downloaded, uploaded }
    }

    /// The connected client, or `None` once the cache has been given up.
    async fn client(&self) -> Result<Option<Client>, ReapiError> {
        if self.given_up.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match self.client.get_or_try_init(|| connect_patiently(&self.endpoint)).await {
            Ok(client) => Ok(Some(client.clone())),
            Err(error) => {
                self.given_up.store(true, Ordering::Relaxed);
                Err(error)
            }
        }
    }

    /// A failure: the build's when fatal, else one warning (the first of its kind) and, for an
    /// unreachable or slow cache, no more calls this build.
    fn failed(&self, error: ReapiError, give_up: bool) -> Result<(), RemoteError> {
        // Most errors name the endpoint first; it is said once.
        let text = chain(&error);
        let url = &self.endpoint.url;
        let what = text.strip_prefix(url.as_str()).map_or(format!(": {text}"), str::to_owned);
        if self.fatal {
            let input = matches!(error, ReapiError::Corrupt { .. });
            return Err(RemoteError { message: format!("remote cache {url}{what}"), input });
        }
        if give_up {
            self.given_up.store(true, Ordering::Relaxed);
        }
        let message = format!("remote cache {url}{what}; building locally");
        if let Ok(mut warnings) = self.warnings.lock()
            && !warnings.contains(&message)
        {
            warnings.push(message);
        }
        Ok(())
    }

    async fn try_lookup(&self, key: &CacheKey) -> Result<Option<RemoteResult>, ReapiError> {
        let Some(client) = self.client().await? else { return Ok(None) };
        let action = action_for(key).action.0;
        let Some(result) = client.action_result(&action).await? else {
            add(&self.counts.misses, 1);
            return Ok(None);
        };
        let file = result.output_files.iter().find(|file| file.path == RESULT_FILE).and_then(|f| f.digest.clone());
        let Some(file) = file else {
            return Err(self.corrupt(format!("the action result of {key} has no {RESULT_FILE}")));
        };
        let mut bytes = Vec::new();
        let read = client.read(&file, &mut bytes).await?;
        add(&self.counts.downloaded, read);
        if Sha256Digest::of(&bytes).hex() != file.hash {
            return Err(self.corrupt(format!("{RESULT_FILE} of {key} does not match its digest")));
        }
        let described: ResultFile = serde_json::from_slice(&bytes)
            .map_err(|e| self.corrupt(format!("{RESULT_FILE} of {key} is not a result: {e}")))?;
        if described.key != *key {
            return Err(self.corrupt(format!("{RESULT_FILE} under {key} describes {}", described.key)));
        }
        let outputs = self.bring_in(&client, &described).await?;
        add(&self.counts.hits, 1);
        Ok(Some(RemoteResult { outputs, effective_key: described.effective_key, created_unix: described.created_unix }))
    }

    fn corrupt(&self, what: String) -> ReapiError {
        ReapiError::Corrupt { endpoint: self.endpoint.url.clone(), what }
    }

    /// The result's layers as layers of the root: one it has already (by content), else its
    /// blob downloaded, checked against its digest, and unpacked.
    async fn bring_in(&self, client: &Client, described: &ResultFile) -> Result<Vec<Snapshot>, ReapiError> {
        let ctx = self.root.export_context();
        let mut reuse = LayerReuse::new(&ctx).map_err(ReapiError::store("listing the root's layers"))?;
        let mut outputs = Vec::with_capacity(described.outputs.len());
        for layers in &described.outputs {
            let mut snapshot = Snapshot::default();
            for layer in layers {
                let id = match reuse
                    .find(&ctx, &layer.diff_id)
                    .map_err(ReapiError::store(format!("finding layer {}", layer.diff_id)))?
                {
                    Some(id) => id,
                    None => self.download_layer(client, &ctx, layer).await?,
                };
                reuse.remember(&layer.diff_id, &id);
                snapshot.layers.push(id);
            }
            outputs.push(snapshot);
        }
        Ok(outputs)
    }

    async fn download_layer(
        &self,
        client: &Client,
        ctx: &ExportContext<'_>,
        layer: &LayerFile,
    ) -> Result<LayerId, ReapiError> {
        let compression = Compression::from_media_type(&layer.media_type)
            .ok_or_else(|| self.corrupt(format!("layer {} has media type {}", layer.blob, layer.media_type)))?;
        if !ctx.content.contains(&layer.blob) {
            let mut writer = ctx.content.writer().map_err(ReapiError::store("storing a blob"))?;
            let read = client.read(&digest_of(&layer.blob, layer.size), &mut writer).await?;
            add(&self.counts.downloaded, read);
            writer.flush().map_err(|source| ReapiError::Local { action: "writing a blob", source })?;
            writer.commit(Some(&layer.blob)).map_err(|e| match e {
                gb_cache::CacheError::DigestMismatch { actual, .. } => {
                    self.corrupt(format!("blob {} read as {actual}: it does not match its digest", layer.blob))
                }
                e => ReapiError::store(format!("storing blob {}", layer.blob))(e),
            })?;
        }
        let size = ctx.content.size(&layer.blob).map_err(ReapiError::store(format!("reading blob {}", layer.blob)))?;
        gb_export::import_layer_blob(ctx, &layer.blob, size, compression, &layer.diff_id, &self.endpoint.url)
            .map_err(|e| self.corrupt(e.to_string()))
    }

    /// Stores the results under `keys` (those the root holds) in the cache: every blob the CAS
    /// lacks first (FindMissingBlobs, then a batch or ByteStream), then each action result.
    /// Failures are warnings unless fatal.
    pub async fn store(&self, keys: &[CacheKey]) -> Result<(), RemoteError> {
        match self.try_store(keys).await {
            Ok(()) => Ok(()),
            Err(error) => {
                let give_up = !matches!(error, ReapiError::Corrupt { .. } | ReapiError::Refused { .. });
                self.failed(error, give_up)
            }
        }
    }

    async fn try_store(&self, keys: &[CacheKey]) -> Result<(), ReapiError> {
        let Some(client) = self.client().await? else { return Ok(()) };
        // Each key once a build: a step's result stored as it was made is not sent again.
        let keys: Vec<CacheKey> = match self.stored.lock() {
            Ok(mut stored) => keys.iter().copied().filter(|key| stored.insert(*key)).collect(),
            Err(_) => keys.to_vec(),
        };
        let keys = keys.as_slice();
        let ctx = self.root.export_context();
        let mut blobs: BTreeMap<String, (re::Digest, Upload)> = BTreeMap::new();
        let mut results = Vec::new();
        for key in keys {
            let Some(record) =
                self.root.db.result(key).map_err(ReapiError::store(format!("reading the result {key}")))?
            else {
                continue;
            };
            let layers: Vec<LayerId> = record.outputs.iter().flat_map(|o| o.layers.iter().cloned()).collect();
            let records =
                gb_remote_cache::layer_blob_records(&ctx, &layers).map_err(ReapiError::store("exporting layers"))?;
            let mut outputs = Vec::new();
            for output in &record.outputs {
                let mut files = Vec::new();
                for layer in &output.layers {
                    let Some(found) = records.get(layer) else { continue };
                    let file = LayerFile {
                        blob: found.digest,
                        size: found.size,
                        diff_id: found.diff_id,
                        media_type: found.media_type.clone(),
                    };
                    blobs.insert(
                        file.blob.hex(),
                        (digest_of(&file.blob, file.size), Upload::File(ctx.content.path(&file.blob))),
                    );
                    files.push(file);
                }
                outputs.push(files);
            }
            let described = ResultFile {
                key: *key,
                effective_key: record.effective_key,
                description: record.description.clone(),
                created_unix: record.created_unix,
                outputs,
            };
            let bytes = serde_json::to_vec(&described).map_err(ReapiError::store("describing a result"))?;
            let file_digest = digest_of(&Sha256Digest::of(&bytes), bytes.len() as u64);
            blobs.insert(file_digest.hash.clone(), (file_digest.clone(), Upload::Bytes(bytes)));
            let action = action_for(key);
            for (digest, bytes) in [action.action.clone(), action.command, action.input_root] {
                blobs.insert(digest.hash.clone(), (digest, Upload::Bytes(bytes)));
            }
            results.push((action.action.0, described, file_digest));
        }
        let uploads = blobs.into_values().collect();
        let uploaded = client.upload_missing(uploads).await?;
        add(&self.counts.uploaded, uploaded);
        // Only now that every blob it names is in the CAS: servers check (BuildGrid answers a
        // result whose blobs are missing with NOT_FOUND).
        for (action, described, file_digest) in results {
            let mut output_files =
                vec![re::OutputFile { path: RESULT_FILE.to_owned(), digest: Some(file_digest), ..Default::default() }];
            let mut named = HashSet::new();
            for layer in described.outputs.iter().flatten() {
                if named.insert(layer.blob) {
                    output_files.push(re::OutputFile {
                        path: format!("graphbuild/layers/{}", layer.blob.hex()),
                        digest: Some(digest_of(&layer.blob, layer.size)),
                        ..Default::default()
                    });
                }
            }
            let result = re::ActionResult {
                output_files,
                exit_code: 0,
                execution_metadata: Some(re::ExecutedActionMetadata {
                    worker: "graphbuild".to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            client.update_action_result(&action, result).await?;
            add(&self.counts.stored, 1);
        }
        Ok(())
    }
}

impl RemoteCache for ReapiCache {
    fn store_step<'a>(&'a self, key: &'a CacheKey) -> RemoteFuture<'a, Result<(), RemoteError>> {
        Box::pin(async move { if self.every_step { self.store(std::slice::from_ref(key)).await } else { Ok(()) } })
    }

    fn lookup<'a>(&'a self, key: &'a CacheKey) -> RemoteFuture<'a, Result<Option<RemoteResult>, RemoteError>> {
        Box::pin(async move {
            match tokio::time::timeout(LOOKUP_TIMEOUT, self.try_lookup(key)).await {
                Ok(Ok(found)) => Ok(found),
                Ok(Err(error)) => {
                    // A bad record is that record's; an unreachable or failing server is every call's.
                    let give_up = !matches!(error, ReapiError::Corrupt { .. });
                    self.failed(error, give_up).map(|()| None)
                }
                Err(_) => {
                    let error = ReapiError::Call {
                        endpoint: self.endpoint.url.clone(),
                        call: "a lookup",
                        message: format!("no answer in {} s", LOOKUP_TIMEOUT.as_secs()),
                    };
                    self.failed(error, true).map(|()| None)
                }
            }
        })
    }
}

/// Connects, trying again a moment later when the first attempts fail: a server just started
/// may take its first call a moment after it listens.
async fn connect_patiently(endpoint: &Endpoint) -> Result<Client, ReapiError> {
    let mut attempt = 0;
    loop {
        match Client::connect(endpoint.clone()).await {
            Err(_) if attempt < CONNECT_RETRIES => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            connected => return connected,
        }
    }
}

/// An error and its sources, as one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}
