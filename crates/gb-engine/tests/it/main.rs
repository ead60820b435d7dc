//! The engine as a library, driven the way a program other than the CLI would: a Definition
//! (here lowered from a Dockerfile), a `BuildRequest`, `Engine::build`, and the typed outcome or
//! error. These tests need root (overlay mounts), as the engine does.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use gb_engine::{BuildRequest, Engine, EngineError, ErrorKind, Export, TarDestination};
use gb_export::Compression;
use gb_solver::SolveOptions;

/// Events are not what these tests look at.
struct NoEvents;

impl gb_events::EventSink for NoEvents {
    fn emit(&self, _: gb_events::Event) {}
}

/// A context with one file and a Dockerfile that copies it into an empty image.
fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("context");
    gb_test_support::write(dir.path().join("hello.txt"), "hello\n");
    gb_test_support::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n");
    dir
}

fn request(context: &Path, exports: Vec<Export>, names: Vec<String>) -> BuildRequest {
    let text = std::fs::read_to_string(context.join("Dockerfile")).expect("Dockerfile");
    let options = gb_dockerfile::LowerOptions { dockerfile_name: "Dockerfile".to_owned(), ..Default::default() };
    let lowered = gb_dockerfile::lower(&text, &options, &gb_dockerfile::NoImages).expect("lowers");
    let mut local_dirs = BTreeMap::new();
    local_dirs.insert("context".to_owned(), context.to_owned());
    BuildRequest {
        definition: lowered.definition,
        solve: SolveOptions { local_dirs, ..SolveOptions::default() },
        exports: exports.into_iter().map(Into::into).collect(),
        names,
        cache_from: Vec::new(),
        cache_to: Vec::new(),
        registry: gb_registry::RegistryConfig::default(),
        source_date_epoch: Some(1_700_000_000),
        describe_image: false,
        annotations: gb_engine::Annotations::default(),
        info: gb_engine::BuildInfo { target: Some("app".to_owned()), ..Default::default() },
        keep_records: gb_engine::DEFAULT_KEEP,
        explain: false,
    }
}

fn build(engine: &Engine, request: BuildRequest) -> Result<gb_engine::BuildOutcome, EngineError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(engine.build(request, Arc::new(NoEvents)))
}

fn engine() -> (tempfile::TempDir, Engine) {
    gb_test_support::require_root();
    let dir = tempfile::tempdir().expect("root");
    let engine = Engine::open(dir.path()).expect("opens");
    (dir, engine)
}

#[test]
fn a_build_exports_its_files_and_a_rebuild_comes_from_the_cache() {
    let (_dir, engine) = engine();
    let context = context();
    let out = tempfile::tempdir().expect("out");
    let first = build(&engine, request(context.path(), vec![Export::Local(out.path().to_owned())], Vec::new()))
        .expect("builds");
    assert_eq!((first.solve.ran, first.solve.cached), (1, 0));
    assert_eq!(std::fs::read_to_string(out.path().join("hello.txt")).expect("exported"), "hello\n");

    let tar = tempfile::NamedTempFile::new().expect("tar");
    let exports = vec![Export::Tar(TarDestination::File(tar.path().to_owned()))];
    let second = build(&engine, request(context.path(), exports, Vec::new())).expect("rebuilds");
    assert_eq!((second.solve.ran, second.solve.cached), (0, 1), "the COPY comes from the cache");
    assert!(std::fs::metadata(tar.path()).expect("tar").len() > 512, "the tar holds the file");
}

#[test]
fn an_image_is_named_once_and_a_no_op_rebuild_leaves_its_record_alone() {
    let (_dir, engine) = engine();
    let context = context();
    let name = "docker.io/library/engine-test:1".to_owned();
    let image = || Export::Image { names: vec![name.clone()], compression: Compression::Gzip, push: false };
    build(&engine, request(context.path(), vec![image()], Vec::new())).expect("builds");
    let key = gb_cache::ImageName::parse(&name).expect("name");
    let stored = engine.root().db.image(&key).expect("reads").expect("the image is named");
    // A record written again would carry a later time.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    build(&engine, request(context.path(), vec![image()], Vec::new())).expect("rebuilds");
    let again = engine.root().db.image(&key).expect("reads").expect("still named");
    assert_eq!(again, stored, "the unchanged image's record is not rewritten");
}

#[test]
fn an_archive_over_a_directory_is_the_users_error() {
    let (_dir, engine) = engine();
    let context = context();
    let not_a_file = tempfile::tempdir().expect("a directory");
    let exports =
        vec![Export::Docker { dest: not_a_file.path().to_owned(), compression: Compression::Gzip, names: Vec::new() }];
    let error = build(&engine, request(context.path(), exports, Vec::new())).err().expect("refused");
    assert!(matches!(error, EngineError::Archive { .. }), "{error:?}");
    assert_eq!(error.kind(), ErrorKind::Input, "{error}");
    // The failed build is recorded with its error, its step having run.
    let records = gb_engine::records::list(&engine.root().builds_dir()).expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status, gb_engine::BuildStatus::Failed);
    assert!(records[0].error.is_some());
    assert_eq!(records[0].info.target.as_deref(), Some("app"));
    assert_eq!(records[0].ran_and_cached(), (1, 0));
}

#[test]
fn base_images_resolve_from_the_store_and_an_unreachable_registry_is_the_environments_failure() {
    let (_dir, engine) = engine();
    let record = gb_store::import_rootfs(
        engine.root(),
        &gb_test_support::busybox_tar(),
        "busybox:latest",
        &gb_ir::Platform::host(),
    )
    .expect("imports busybox");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let resolve = |name: &str, always_pull: bool| {
        let reference = gb_ir::ImageReference::parse(name).expect("a reference");
        let registry = gb_registry::RegistryConfig::default();
        runtime.block_on(engine.resolve_image(&reference, &gb_ir::Platform::host(), &registry, always_pull))
    };

    let Ok(gb_engine::Resolution::Found(found)) = resolve("busybox", false) else { panic!("busybox is stored") };
    assert_eq!(found.manifest, record.manifest_digest);

    // Nothing listens on port 9 of the loopback.
    let error = resolve("127.0.0.1:9/base/nowhere:1", false).expect_err("unreachable");
    assert_eq!(error.kind(), ErrorKind::Environment, "{error}");

    // Stored under that registry's name, `--pull` falls back to the stored image and says why.
    let mut tagged = record.clone();
    tagged.reference = "127.0.0.1:9/base/busybox:1".to_owned();
    engine.root().db.put_image(&gb_cache::ImageName::parse(&tagged.reference).expect("name"), &tagged).expect("tags");
    match resolve("127.0.0.1:9/base/busybox:1", true) {
        Ok(gb_engine::Resolution::Stored(image, why)) => {
            assert_eq!(image.manifest, record.manifest_digest);
            assert_eq!(why.kind(), ErrorKind::Environment, "{why}");
        }
        other => panic!("the stored image with the registry's reason: {other:?}"),
    }
}
