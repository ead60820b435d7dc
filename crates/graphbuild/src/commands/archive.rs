//! `graphbuild save` and `graphbuild load`: images to and from docker-archive and OCI archives.

use gb_export::ImageRef;
use gb_ir::ImageReference;
use gb_store::StateRoot;

use crate::cli::{LoadArgs, SaveArgs};
use crate::exit::Failure;
use crate::stdout::outln;

/// The writers' view of the state root.
pub fn export_context(root: &StateRoot) -> gb_export::ExportContext<'_> {
    gb_engine::export_context(root)
}

/// `graphbuild save`.
pub fn save(args: SaveArgs, root: &StateRoot) -> Result<(), Failure> {
    let mut found: Vec<(gb_ir::Sha256Digest, Vec<String>)> = Vec::new();
    for name in &args.names {
        let (full_name, record) = super::images::find(root, name)?;
        let full_name = full_name.to_string();
        // A name given by id saves the image without a tag.
        let by_name = ImageReference::parse(name).map(|r| r.to_string()) == Ok(full_name.clone());
        match found.iter_mut().find(|(digest, _)| *digest == record.manifest_digest) {
            Some((_, names)) if by_name => names.push(full_name),
            Some(_) => {}
            None => found.push((record.manifest_digest, if by_name { vec![full_name] } else { Vec::new() })),
        }
    }
    let images: Vec<ImageRef<'_>> =
        found.iter().map(|(digest, names)| ImageRef { manifest_digest: *digest, names: names.as_slice() }).collect();
    let context = export_context(root);
    let result = match args.format.as_str() {
        "docker" | "docker-archive" => gb_export::write_docker_archive(&context, &images, &args.output),
        "oci" | "oci-archive" => gb_export::write_oci_layout(&context, &images, &args.output, true),
        other => return Err(Failure::Input(format!("--format {other}: expected docker or oci"))),
    };
    result.map_err(|e| write_failure(&args.output, e))
}

/// A failure to write an archive at `dest`: the user's (exit 1) when the path names something no
/// archive may replace, the machine's otherwise.
pub fn write_failure(dest: &std::path::Path, error: gb_export::ExportError) -> Failure {
    if let gb_export::ExportError::NotAFile { .. } = &error {
        // It names the path already.
        return Failure::Input(error.to_string());
    }
    match error.kind() {
        gb_export::ErrorKind::Input => Failure::Input(format!("writing {}: {error}", dest.display())),
        gb_export::ErrorKind::Environment | gb_export::ErrorKind::Bug => {
            Failure::os(format!("writing {}", dest.display()))(error)
        }
    }
}

/// `graphbuild load`.
pub fn load(args: LoadArgs, root: &StateRoot) -> Result<(), Failure> {
    let _building = root.building();
    if !args.input.exists() {
        return Err(Failure::Input(format!("{} does not exist", args.input.display())));
    }
    let loaded = gb_export::load_archive(&export_context(root), &args.input)
        .map_err(|e| Failure::Input(format!("loading {}: {e}", args.input.display())))?;
    for (names, record) in loaded {
        if names.is_empty() {
            outln!("Loaded image ID: {}", record.config_digest);
        }
        for name in names {
            let mut named = record.clone();
            named.reference = name.clone();
            let key = gb_cache::ImageName::parse(&name).map_err(|e| Failure::Input(format!("{name}: {e}")))?;
            root.db.put_image(&key, &named).map_err(Failure::os("writing the image store"))?;
            let familiar = ImageReference::parse(&name).map_or(name.clone(), |r| r.familiar());
            outln!("Loaded image: {familiar}");
        }
    }
    Ok(())
}
