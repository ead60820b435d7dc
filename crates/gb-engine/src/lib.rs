//! The engine as a library: what a build does on an opened state root once its Definition is
//! known (solve, exports, cache import and export, lazy base image pulls, pushes), for the
//! graphbuild CLI, its server, and any other program that wants the engine without a command
//! line.
//!
//! The image store's operations (list, inspect, history, tag, remove, disk usage, prune,
//! garbage collection) are gb-store's, re-exported here so the engine is one API.
//!
//! An [`Engine`] wraps one [`StateRoot`]; any number of builds may run on it at once (the
//! solver shares work between them). Nothing here prints: results, warnings and push reports are
//! returned, progress goes to the caller's event sink, and every failure is an [`EngineError`]
//! whose [`ErrorKind`] says whose failure it is.

mod build;
mod contexts;
mod error;
mod explain;
mod outputs;
mod platforms;
mod provenance;
pub mod records;
mod registry;
mod remote;
mod resolve;
mod ssh_agent;
mod transfer;

use std::sync::Arc;

use gb_store::StateRoot;

pub use build::{
    Annotations, BuildOutcome, BuildRequest, Export, ExportEpoch, ExportTo, ImageDigests, TarDestination, normalized,
};
pub use contexts::{UnpackedContext, git_context, git_source_time, http_source_time, is_archive};
pub use error::{EngineError, ErrorKind};
pub use explain::{Explanation, explain};
pub use gb_store::{
    CacheUsage, DiskUsage, Freed, HistoryEntry, ImageFilter, ImageSummary, Pruned, PrunedImages, Removal,
    collect_garbage, disk_usage, find_image, image_history, images, images_in_use, inspect_image, list_images,
    parse_created, process_runs, prune, prune_images, remove_image, repository_and_tag, tag_image,
};
pub use platforms::{IndexExport, PlatformBuild, PlatformsOutcome, PlatformsRequest, platform_dir};
pub use provenance::{Provenance, ProvenanceMode, SLSA_V1};
pub use records::{
    BuildInfo, BuildRecord, BuildStatus, CriticalPath, DEFAULT_KEEP, RecordedGraph, RecordedImage, StepRecord,
    StepStatus,
};
pub use registry::{RegistryPuller, push};
pub use resolve::{BaseImage, Resolution};
pub use ssh_agent::KeyAgent;
pub use transfer::{ArchiveFormat, Loaded};

/// The engine over one opened state root.
#[derive(Clone)]
pub struct Engine {
    root: Arc<StateRoot>,
}

impl Engine {
    /// An engine over an opened root.
    pub fn new(root: Arc<StateRoot>) -> Self {
        Self { root }
    }

    /// Opens (creating) the state root at `path`, taking it for this process, and an engine
    /// over it: what a program that embeds the engine calls (the server holds one root open and
    /// makes an engine over it per command with [`Engine::new`]).
    pub fn open(path: &std::path::Path) -> Result<Self, EngineError> {
        Ok(Self::new(Arc::new(StateRoot::open(path)?)))
    }

    /// The state root.
    pub fn root(&self) -> &Arc<StateRoot> {
        &self.root
    }

    /// The exporters' view of the root.
    pub fn export_context(&self) -> gb_export::ExportContext<'_> {
        export_context(&self.root)
    }
}

/// The exporters' view of a state root.
pub fn export_context(root: &StateRoot) -> gb_export::ExportContext<'_> {
    root.export_context()
}
