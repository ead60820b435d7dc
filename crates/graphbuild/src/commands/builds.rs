//! `graphbuild builds ls|show`: the builds recorded in the root, as `docker buildx history
//! ls|inspect` lists them.

use gb_engine::{BuildRecord, StepStatus};
use gb_store::StateRoot;

use super::images::{ago, print_table};
use crate::cli::{BuildsExplainArgs, BuildsLsArgs, BuildsShowArgs};
use crate::exit::Failure;
use crate::progress::seconds;
use crate::stdout::outln;

/// `builds ls`: one row per build, newest first.
pub fn ls(args: BuildsLsArgs, root: &StateRoot) -> Result<(), Failure> {
    let records = gb_engine::records::list(&root.builds_dir()).map_err(|e| Failure::Engine(Box::new(e)))?;
    if args.quiet {
        for record in &records {
            outln!("{}", record.id);
        }
        return Ok(());
    }
    let rows: Vec<[String; 6]> = records
        .iter()
        .map(|record| {
            let (ran, cached) = record.ran_and_cached();
            [
                record.id.clone(),
                ago(record.started_unix_ms / 1000),
                seconds(record.duration_ms),
                format!("{ran} ran, {cached} cached"),
                record.status.label().to_owned(),
                record.info.target.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&["BUILD ID", "STARTED", "DURATION", "STEPS", "STATUS", "TARGET"], &rows);
    Ok(())
}

/// `builds show BUILD`: the build's options and result, then one line per step.
pub fn show(args: BuildsShowArgs, root: &StateRoot) -> Result<(), Failure> {
    let record = gb_engine::records::find(&root.builds_dir(), &args.build).map_err(|e| Failure::Engine(Box::new(e)))?;
    if args.format == "json" {
        let json =
            serde_json::to_string_pretty(&record).map_err(|e| Failure::Input(format!("build {}: {e}", record.id)))?;
        outln!("{json}");
        return Ok(());
    }
    if args.format == "html" {
        crate::stdout::out!("{}", super::report::html(&record));
        return Ok(());
    }
    if args.format == "dot" {
        crate::stdout::out!("{}", super::report::dot(&record));
        return Ok(());
    }
    print_summary(&record);
    outln!();
    for (index, step) in record.steps.iter().enumerate() {
        let location = step.location.as_ref().map(|l| format!(" ({l})")).unwrap_or_default();
        let waited =
            step.queued_ms.filter(|&ms| ms >= 100).map(|ms| format!(", {} of it waiting for a slot", seconds(ms)));
        let outcome = match (step.status, step.duration_ms) {
            (StepStatus::Ran, Some(ms)) => format!("ran {}{}", seconds(ms), waited.unwrap_or_default()),
            (StepStatus::Failed, Some(ms)) => format!("failed after {}", seconds(ms)),
            (status, _) => status.name().to_owned(),
        };
        outln!("#{} {}{location}: {outcome}", index + 1, step.description);
        if let Some(reason) = &step.reason {
            outln!("   why: {reason}");
        }
        if let Some(error) = &step.error {
            outln!("   {error}");
        }
    }
    Ok(())
}

/// `builds explain BUILD [--against BUILD]`.
pub fn explain(args: BuildsExplainArgs, root: &StateRoot) -> Result<(), Failure> {
    let dir = root.builds_dir();
    let engine = |e| Failure::Engine(Box::new(e));
    let later = gb_engine::records::find(&dir, &args.build).map_err(engine)?;
    let earlier = match &args.against {
        Some(name) => gb_engine::records::find(&dir, name).map_err(engine)?,
        None => gb_engine::records::previous(&dir, &later).map_err(engine)?.ok_or_else(|| {
            Failure::Input(format!("no build of the same Dockerfile and target was recorded before {}", later.id))
        })?,
    };
    for explanation in gb_engine::explain(&earlier, &later) {
        outln!("{explanation}");
    }
    Ok(())
}

/// After `build --explain`: the explanation of the build just recorded, on standard error (one
/// `op_explained` JSON event per step with `--progress json`).
pub fn explain_build(root: &StateRoot, later: &BuildRecord, json: bool) -> Result<(), Failure> {
    let dir = root.builds_dir();
    let engine = |e| Failure::Engine(Box::new(e));
    match gb_engine::records::previous(&dir, later).map_err(engine)? {
        Some(earlier) => {
            for explanation in gb_engine::explain(&earlier, later) {
                if json {
                    let mut event = serde_json::to_value(&explanation).unwrap_or_default();
                    if let Some(object) = event.as_object_mut() {
                        object.insert("event".to_owned(), "op_explained".into());
                    }
                    crate::session::errln!("{event}");
                } else {
                    crate::session::errln!("{explanation}");
                }
            }
        }
        None => crate::session::errln!("explain: no earlier build of the same Dockerfile and target is recorded"),
    }
    Ok(())
}

fn print_summary(record: &BuildRecord) {
    let (ran, cached) = record.ran_and_cached();
    let started = gb_export::rfc3339(i64::try_from(record.started_unix_ms / 1000).unwrap_or(i64::MAX));
    outln!("Build:       {}", record.id);
    outln!("Started:     {started}");
    outln!("Duration:    {}", seconds(record.duration_ms));
    if let Some(ms) = record.export_ms {
        outln!("Exporting:   {}", seconds(ms));
    }
    outln!("Status:      {}", record.status.label());
    if let Some(error) = &record.error {
        outln!("Error:       {error}");
    }
    outln!("Steps:       {ran} ran, {cached} cached, {} in all", record.steps.len());
    outln!(
        "Bytes:       {} of context files hashed, {} of layers written",
        super::images::human_size(record.bytes_hashed()),
        super::images::human_size(record.bytes_written())
    );
    if let Some(line) = critical_path_line(record) {
        outln!("Critical:    {line}");
    }
    let info = &record.info;
    for (label, value) in [
        ("Dockerfile:", info.dockerfile.clone()),
        ("Target:", info.target.clone()),
        ("Platform:", info.platform.clone()),
        (
            "Build args:",
            (!info.build_args.is_empty())
                .then(|| info.build_args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")),
        ),
        ("Names:", (!info.names.is_empty()).then(|| info.names.join(", "))),
        ("Image:", record.image.as_ref().map(|image| format!("{} (manifest {})", image.id, image.manifest))),
    ] {
        if let Some(value) = value {
            outln!("{label:<12} {value}");
        }
    }
}

/// The critical path in one line: its length, its steps, its longest step.
pub fn critical_path_line(record: &BuildRecord) -> Option<String> {
    let path = record.critical_path();
    let longest = path.steps.iter().copied().max_by_key(|&i| record.steps[i].duration_ms.unwrap_or(0))?;
    let step = &record.steps[longest];
    if path.duration_ms == 0 {
        return None;
    }
    Some(format!(
        "{} over {} steps; longest #{} {} ({})",
        seconds(path.duration_ms),
        path.steps.len(),
        longest + 1,
        step.description,
        seconds(step.duration_ms.unwrap_or(0))
    ))
}
