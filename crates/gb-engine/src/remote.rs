//! The caches a build asks for steps' results beyond its state root, as the solve needs them
//! (`gb_solver::RemoteCache`): `--cache-from` documents (a registry tag, an OCI layout), whose
//! records are brought in one at a time, and a REAPI server (`gb-reapi`), asked after them.

use std::sync::Arc;

use gb_cache::CacheKey;
use gb_registry::Registry;
use gb_remote_cache::CacheDocument;
use gb_solver::{RemoteCache, RemoteError, RemoteFuture, RemoteResult};
use gb_store::StateRoot;

use crate::export_context;

/// A `--cache-from` document read at the build's start: a record is imported (its layers
/// fetched, verified and unpacked) only when the solve asks for its key.
pub(crate) struct DocumentCache {
    pub(crate) root: Arc<StateRoot>,
    pub(crate) registry: Option<Arc<Registry>>,
    pub(crate) document: CacheDocument,
    /// The location, as messages name it.
    pub(crate) name: String,
}

impl DocumentCache {
    fn failed(&self, message: String, input: bool) -> RemoteError {
        RemoteError { message: format!("--cache-from {}: {message}", self.name), input }
    }
}

impl RemoteCache for DocumentCache {
    fn lookup<'a>(&'a self, key: &'a CacheKey) -> RemoteFuture<'a, Result<Option<RemoteResult>, RemoteError>> {
        Box::pin(async move {
            if !self.document.has(key) {
                return Ok(None);
            }
            let ctx = export_context(&self.root);
            // A cache that fails its checks fails the build, as an eager import did: the user
            // named it.
            let keys = [*key];
            let brought = self.document.bring_in(&ctx, self.registry.as_deref(), Some(&keys)).await;
            brought.map_err(|e| self.failed(e.to_string(), e.kind() == gb_remote_cache::ErrorKind::Input))?;
            let record = self.root.db.result(key).map_err(|e| self.failed(e.to_string(), false))?;
            Ok(record.map(|record| RemoteResult {
                outputs: record.outputs,
                effective_key: record.effective_key,
                created_unix: record.created_unix,
            }))
        })
    }
}

/// Several caches, asked in order until one has the result.
pub(crate) struct Caches(pub(crate) Vec<Arc<dyn RemoteCache>>);

impl RemoteCache for Caches {
    fn store_step<'a>(&'a self, key: &'a CacheKey) -> RemoteFuture<'a, Result<(), RemoteError>> {
        Box::pin(async move {
            for cache in &self.0 {
                cache.store_step(key).await?;
            }
            Ok(())
        })
    }

    fn lookup<'a>(&'a self, key: &'a CacheKey) -> RemoteFuture<'a, Result<Option<RemoteResult>, RemoteError>> {
        Box::pin(async move {
            for cache in &self.0 {
                if let Some(found) = cache.lookup(key).await? {
                    return Ok(Some(found));
                }
            }
            Ok(None)
        })
    }
}
