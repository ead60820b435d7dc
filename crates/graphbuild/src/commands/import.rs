//! `graphbuild import`: a root file system tarball (a file, an http(s) URL or standard input,
//! compressed or not) becomes a one-layer image in the store, as `docker import`.

use std::io::Read;

use gb_ir::Platform;

use crate::cli::ImportArgs;
use crate::exit::Failure;
use crate::stdout::outln;

/// Imports and prints the image's id (`sha256:...`), which `run`, `tag` and `rmi` take.
pub fn run(args: ImportArgs, root: Option<&std::path::Path>) -> Result<(), Failure> {
    let platform = match &args.platform {
        Some(text) => Platform::parse(text).ok_or_else(|| Failure::Input(format!("invalid --platform {text:?}")))?,
        None => Platform::host(),
    };
    let is_url = args.source.starts_with("http://") || args.source.starts_with("https://");
    let path = std::path::Path::new(&args.source);
    if args.source != "-" && !is_url && !path.is_file() {
        return Err(Failure::Input(format!("{} is not a file", path.display())));
    }
    let state = super::engine::open_root(root)?;
    let _building = state.building();
    // The history names a file by its name, as before; a URL or `-` as given.
    let source = match (is_url, args.source.as_str()) {
        (false, "-") | (true, _) => args.source.clone(),
        (false, _) => path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    let options = gb_store::ImportOptions {
        source: &source,
        name: args.name.as_deref(),
        platform: &platform,
        changes: &args.changes,
        message: args.message.as_deref(),
    };
    let import = |reader: &mut dyn Read| gb_store::import_rootfs_from(&state, reader, &options);
    let record = if args.source == "-" {
        let session = crate::session::current();
        import(&mut session.stdin())?
    } else if is_url {
        if gb_engine::git_context(&args.source).is_some() {
            return Err(Failure::Input(format!("{} is a git repository, not a tarball", args.source)));
        }
        // Downloaded as a named build context is: into a private directory of the root, removed
        // with the guard.
        let fetched = gb_engine::UnpackedContext::named_from_url(&state.tmp_dir(), &args.source)
            .map_err(|e| super::engine::engine_failure(e, None))?;
        let file = fetched.path().join("context");
        import(&mut std::fs::File::open(&file).map_err(Failure::os(format!("reading {}", file.display())))?)?
    } else {
        import(&mut std::fs::File::open(path).map_err(Failure::os(format!("reading {}", path.display())))?)?
    };
    outln!("{}", record.config_digest);
    Ok(())
}
