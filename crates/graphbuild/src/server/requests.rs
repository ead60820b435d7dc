//! The server's typed requests, for programs that drive the engine without a command line:
//! the image store's operations and solving a Definition, answered as JSON data
//! (`docs/server-protocol.md`), never rendered text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gb_client::protocol::{Connection, Reply, Request, SolveRequest};
use gb_engine::{BuildRequest, Engine, EngineError};
use gb_solver::SolveOptions;
use gb_store::StateRoot;
use serde::Serialize;

use crate::exit::Failure;
use crate::session::Session;

/// Answers a typed request on the connection.
pub(super) fn answer(root: &Arc<StateRoot>, connection: &Connection, session: &Arc<Session>, request: Request) {
    let reply = match request {
        Request::Images => data(gb_engine::list_images(root)),
        Request::Inspect { name } => data(gb_engine::inspect_image(root, &name)),
        Request::History { name } => data(
            gb_engine::image_history(root, &name)
                .map(|(id, history)| serde_json::json!({ "id": id, "history": history })),
        ),
        Request::Tag { source, target } => {
            data(gb_engine::tag_image(root, &source, &target).map(|name| serde_json::json!({ "name": name })))
        }
        Request::Remove { name, force } => data(gb_engine::remove_image(root, &name, force).and_then(|removal| {
            gb_engine::collect_garbage(root, false)?;
            Ok(removal)
        })),
        Request::DiskUsage => data(gb_engine::disk_usage(root)),
        Request::Solve(request) => solve(root, connection, session, *request),
        Request::Command { .. } | Request::Status | Request::Stop { .. } => {
            Reply::Failed { message: "not a typed request".to_owned(), exit_code: crate::exit::USER_INPUT }
        }
    };
    let _ = connection.send(&reply, &[]);
}

/// A result as the `result` reply, or the failure as `failed`.
fn data<T: Serialize, E: Into<EngineError>>(result: Result<T, E>) -> Reply {
    match result {
        Ok(value) => Reply::Result(serde_json::to_value(value).unwrap_or_default()),
        Err(error) => failed(&crate::commands::engine::engine_failure(error.into(), None)),
    }
}

fn failed(failure: &Failure) -> Reply {
    Reply::Failed { message: failure.to_string(), exit_code: failure.exit_code() }
}

/// Solves the request's Definition, streaming its events as `event` replies; the answer is the
/// solve's outcome.
fn solve(root: &Arc<StateRoot>, connection: &Connection, session: &Arc<Session>, request: SolveRequest) -> Reply {
    let build = match build_request(root, request) {
        Ok(build) => build,
        Err(failure) => return failed(&failure),
    };
    let runtime = match crate::session::shared_runtime() {
        Ok(runtime) => runtime,
        Err(e) => return failed(&Failure::os("starting the async runtime")(e)),
    };
    let cancel = build.solve.cancel.clone();
    let events = match connection.stream().try_clone() {
        Ok(stream) => EventLines { connection: Mutex::new(Connection::new(stream)) },
        Err(e) => return failed(&Failure::os("cloning the connection")(e)),
    };
    let sink: Arc<dyn gb_events::EventSink> = Arc::new(events);
    let engine = Engine::new(root.clone());
    let outcome = runtime.block_on(async {
        let on_close = {
            let cancel = cancel.clone();
            let interrupted = session.interrupted();
            tokio::spawn(async move {
                if let Ok(interrupted) = interrupted {
                    interrupted.await;
                    cancel.cancel();
                }
            })
        };
        let outcome = engine.build(build, sink).await;
        on_close.abort();
        outcome
    });
    data(outcome.map(|outcome| {
        serde_json::json!({
            "ran": outcome.solve.ran,
            "cached": outcome.solve.cached,
            "output_key": outcome.solve.output_key.map(|key| key.to_string()),
            "image": outcome.image.map(|image| serde_json::json!({
                "id": image.config.to_string(),
                "manifest_digest": image.manifest.to_string(),
            })),
            "warnings": outcome.warnings,
        })
    }))
}

/// A solve request's Definition, options and outputs as the engine takes them.
fn build_request(root: &StateRoot, request: SolveRequest) -> Result<BuildRequest, Failure> {
    let text = serde_json::to_string(&request.definition).unwrap_or_default();
    let definition =
        gb_ir::Definition::from_json(&text).map_err(|e| Failure::Input(format!("the request's definition: {e}")))?;
    for (name, dir) in &request.locals {
        absolute(&format!("local {name}"), dir)?;
    }
    for output in &request.outputs {
        let dest = output.split(',').find_map(|field| field.strip_prefix("dest="));
        if let Some(dest) = dest.or_else(|| (!output.contains('=')).then_some(output.as_str())) {
            absolute(&format!("output {output}"), Path::new(dest))?;
        }
    }
    let exports = crate::commands::engine::parse_outputs(&request.outputs)?;
    let solve = SolveOptions {
        no_cache: request.no_cache,
        local_dirs: request.locals.into_iter().collect::<BTreeMap<String, PathBuf>>(),
        ..SolveOptions::default()
    };
    Ok(BuildRequest {
        definition,
        solve,
        exports,
        names: Vec::new(),
        cache_from: Vec::new(),
        cache_to: Vec::new(),
        registry: crate::commands::registry::registry_config(root.path(), &[])?,
        source_date_epoch: None,
        describe_image: true,
        annotations: gb_engine::Annotations::default(),
        info: gb_engine::BuildInfo::default(),
        keep_records: crate::commands::registry::records_kept(root.path())?,
        explain: false,
    })
}

/// A typed request has no working directory: its paths must be absolute.
fn absolute(what: &str, path: &Path) -> Result<(), Failure> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(Failure::Input(format!("{what}: {} is not an absolute path", path.display())))
    }
}

/// Sends each event of a solve as an `event` line.
struct EventLines {
    connection: Mutex<Connection>,
}

impl gb_events::EventSink for EventLines {
    fn emit(&self, event: gb_events::Event) {
        let Ok(value) = serde_json::to_value(&event) else { return };
        // One line at a time: events come from the solve's tasks on several threads.
        if let Ok(connection) = self.connection.lock() {
            let _ = connection.send(&Reply::Event(value), &[]);
        }
    }
}
