//! BuildKit v0.32.2's Dockerfile integration tests (`frontend/dockerfile/*_test.go`) that need
//! only a busybox base, ported as data: each `tests/data/buildkit/GROUP/NAME.case` is one test
//! (or sub-case), built end to end by the `graphbuild` binary and checked as BuildKit checks it.
//!
//! # The case format
//!
//! A case file is a list of sections. A section starts with a header line `=== KIND` or
//! `=== KIND: ARGUMENT`; its body is the text up to the next header, less the line break that
//! ends its last line (so a body that must end in a line break ends with an empty line). Lines
//! before the first header are comments.
//!
//! Input sections:
//! - `=== test: NAME` (required): the Go test function ported, plus the file it is in; the body
//!   may say what was adapted (an alpine command done with busybox, say).
//! - `=== Dockerfile`: the context's `Dockerfile`.
//! - `=== file: PATH`: a file of the context.
//! - `=== prebuild: TAG`: a Dockerfile built, in an empty context of its own and the group's
//!   state root, and named `TAG` before the case's own build: the base image of a test that
//!   builds an image and then one `FROM` it (pushed to a registry in BuildKit's test). Several
//!   are built in the order given, before the setup. The group's cases share the root, so `TAG`
//!   is the case's own.
//! - `=== setup`: a `sh -e` script run in the context before the build (archives, symlinks,
//!   modes: what plain files cannot say; builds of their own: see the variables below).
//! - `=== args`: build flags, one argument a line (`--build-arg` then `A=1` on the next line).
//!   The build runs in the context directory, so relative paths (`-f`, `--secret src=`) work;
//!   `$SCRATCH` in an argument is the case's scratch directory (below).
//! - `=== env: KEY=VALUE`: an environment variable of the build command.
//! - `=== root file: PATH`: a file of the state root (`config.toml`, say) for this build only.
//!
//! Expectations (about the root file system exported with `-o type=local`, unless said):
//! - `=== expect file: PATH`: the file's content is exactly the body.
//! - `=== expect contains: PATH`: each line of the body occurs in the file.
//! - `=== expect lacks: PATH`: no line of the body occurs in the file.
//! - `=== expect absent: PATH` / `=== expect exists: PATH`: the path is missing / is there.
//! - `=== expect mode: PATH`: the permission bits, in octal (`0755`).
//! - `=== expect owner: PATH`: `UID:GID`.
//! - `=== expect mtime: PATH`: the modification time, in seconds since the epoch.
//! - `=== expect symlink: PATH`: the link's target.
//! - `=== expect dir: PATH`: the directory's entries, sorted, one a line.
//! - `=== expect image: POINTER`: the JSON value at a JSON pointer into `graphbuild image
//!   inspect`'s object for the image (built with `-t`), e.g. `/Config/Env`; an array index may
//!   be negative, counting from the end (`/History/-1/created_by`). `null` also matches a
//!   missing value (BuildKit's config leaves empty fields out).
//! - `=== expect image count: POINTER`: the number of items of the array (or object) there; a
//!   missing value counts none.
//! - `=== expect oci: POINTER` / `=== expect oci count: POINTER`: the same, into the OCI image
//!   layout the case's `args` export to `$SCRATCH/oci` (`-o type=oci,dest=$SCRATCH/oci,tar=false`,
//!   with the exporter options the test gives): an object of its `index` (index.json), its first
//!   `manifest` and that manifest's `config` (`/manifest/layers/0/annotations`, say).
//! - `=== expect stderr`: each line of the body occurs in the (successful) build's output.
//! - `=== expect error`: the build fails, and each line of the body occurs in its output.
//! - `=== check`: a `sh -e` script run in the context after the (successful) build, for what
//!   the others cannot say (a comparison with an earlier build's output, say); the case fails
//!   when it exits non-zero, and shows its output.
//!
//! The `setup` and `check` scripts get `GRAPHBUILD` (the binary; `GRAPHBUILD_ROOT` names the
//! group's state root, so `"$GRAPHBUILD" build ...` builds there, as the case's build does),
//! `SCRATCH` (an empty directory of the case's, outside the context: other builds' outputs go
//! there) and, in `check`, `OUT` (the directory the build exported to).
//!
//! `=== differs: WHY` marks a case graphbuild gets wrong on purpose or for now, saying what
//! BuildKit does and what graphbuild does. Such a case must still fail one of its
//! expectations: when it starts passing, the runner fails so the mark is removed.
//!
//! Set `BUILDKIT_CASE=SUBSTRING` to run only the cases whose name contains it.

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::case_file::{self, Section};
use crate::engine::{Env, write};
use crate::repo_root;

/// A parsed case file.
struct Case {
    name: String,
    sections: Vec<Section>,
}

impl Case {
    fn parse(name: String, text: &str) -> Result<Self, String> {
        let sections = case_file::sections(text);
        let case = Self { name, sections };
        if !case.sections.iter().any(|s| s.kind == "test") {
            return Err("no `=== test:` section".to_owned());
        }
        Ok(case)
    }

    fn all<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.kind == kind)
    }

    fn one(&self, kind: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.kind == kind)
    }
}

/// Runs every case of one group (a directory under `tests/data/buildkit`) and fails with the
/// name and the findings of each case that did not do what it says.
fn run_group(group: &str) {
    let dir = repo_root().join("crates/graphbuild/tests/data/buildkit").join(group);
    let paths = case_file::case_paths(&dir, "BUILDKIT_CASE");
    if paths.is_empty() {
        return;
    }
    let env = Env::new();
    let mut report = String::new();
    let (mut passed, mut differ) = (0, 0);
    for path in &paths {
        let name = format!("{group}/{}", path.file_stem().expect("a case name").to_string_lossy());
        let text = std::fs::read_to_string(path).expect("case file");
        let case = match Case::parse(name.clone(), &text) {
            Ok(case) => case,
            Err(e) => {
                let _ = writeln!(report, "{name}: bad case file: {e}");
                continue;
            }
        };
        let problems = run_case(&env, &case);
        match (case.one("differs"), problems.is_empty()) {
            (None, true) => passed += 1,
            (Some(_), false) => differ += 1,
            (None, false) => {
                let _ = writeln!(report, "{name}: FAILED\n  {}", problems.join("\n  "));
            }
            (Some(why), true) => {
                let _ = writeln!(
                    report,
                    "{name}: marked `differs` ({}) but now does what BuildKit does: remove the mark",
                    why.argument
                );
            }
        }
    }
    eprintln!("buildkit cases {group}: {} run, {passed} pass, {differ} differ as marked", paths.len());
    assert!(report.is_empty(), "buildkit cases of {group} that failed:\n{report}");
}

/// Builds one case and returns what it found wrong (nothing when it did what it expects).
fn run_case(env: &Env, case: &Case) -> Vec<String> {
    let context = tempfile::tempdir().expect("context");
    if let Some(dockerfile) = case.one("Dockerfile") {
        write(context.path(), "Dockerfile", &format!("{}\n", dockerfile.body));
    }
    for file in case.all("file") {
        write(context.path(), &file.argument, &file.body);
    }
    let scratch = tempfile::tempdir().expect("scratch");
    for prebuild in case.all("prebuild") {
        let base = tempfile::tempdir().expect("prebuild context");
        write(base.path(), "Dockerfile", &format!("{}\n", prebuild.body));
        let output = env
            .cmd(&["build", "--progress", "plain", "-t", &prebuild.argument])
            .arg(base.path())
            .output()
            .expect("graphbuild runs");
        if !output.status.success() {
            let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            return vec![format!("the prebuild of {} failed:\n{}", prebuild.argument, indent(&log))];
        }
    }
    let out = tempfile::tempdir().expect("output");
    if let Some(setup) = case.one("setup") {
        let output = script(env, &setup.body, context.path(), scratch.path(), out.path());
        if !output.status.success() {
            return vec![format!("setup failed: {}:\n{}", output.status, indent(&script_log(&output)))];
        }
    }
    let expects_error = case.one("expect error").is_some();
    let wants_image = case.sections.iter().any(|s| s.kind.starts_with("expect image"));
    let tag = format!("buildkit-case/{}", case.name.replace(['/', '_'], "-").to_lowercase());
    let mut command = env.cmd(&["build", "--progress", "plain"]);
    command.current_dir(context.path());
    let scratch_path = scratch.path().to_string_lossy().into_owned();
    for arg in case.all("args").flat_map(|s| s.body.lines()) {
        command.arg(arg.replace("$SCRATCH", &scratch_path));
    }
    for var in case.all("env") {
        let (key, value) = var.argument.split_once('=').unwrap_or((&var.argument, ""));
        command.env(key, value);
    }
    if !expects_error {
        command.arg("-o").arg(format!("type=local,dest={}", out.path().display()));
        if wants_image {
            command.args(["-t", &tag]);
        }
    }
    for file in case.all("root file") {
        write(env.root.path(), &file.argument, &file.body);
    }
    let output = command.arg(".").output().expect("graphbuild runs");
    for file in case.all("root file") {
        std::fs::remove_file(env.root.path().join(&file.argument)).expect("root file removed");
    }
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let mut problems = Vec::new();
    if expects_error {
        if output.status.success() {
            problems.push("the build succeeded but BuildKit's fails".to_owned());
        }
        for wanted in case.all("expect error").flat_map(|s| s.body.lines()) {
            if !log.contains(wanted) {
                problems.push(format!("the output lacks {wanted:?}:\n{}", indent(&log)));
            }
        }
        return problems;
    }
    if !output.status.success() {
        return vec![format!("the build failed:\n{}", indent(&log))];
    }
    for wanted in case.all("expect stderr").flat_map(|s| s.body.lines()) {
        if !log.contains(wanted) {
            problems.push(format!("the output lacks {wanted:?}"));
        }
    }
    let image = if wants_image { inspect(env, &tag) } else { Value::Null };
    let oci = oci_layout(&scratch.path().join("oci"));
    for section in case.sections.iter().filter(|s| s.kind.starts_with("expect ")) {
        if let Err(problem) = check(out.path(), &image, &oci, section) {
            problems.push(format!("{} {}: {problem}", section.kind, section.argument));
        }
    }
    for section in case.all("check") {
        let output = script(env, &section.body, context.path(), scratch.path(), out.path());
        if !output.status.success() {
            problems.push(format!("check failed: {}:\n{}", output.status, indent(&script_log(&output))));
        }
    }
    problems
}

/// Runs a `setup` or `check` script with `sh -e` in `context`, with the variables the format
/// gives it.
fn script(env: &Env, body: &str, context: &Path, scratch: &Path, out: &Path) -> std::process::Output {
    std::process::Command::new("sh")
        .args(["-ec", body])
        .current_dir(context)
        .env("GRAPHBUILD", env!("CARGO_BIN_EXE_graphbuild"))
        .env("GRAPHBUILD_ROOT", env.root.path())
        .env("SCRATCH", scratch)
        .env("OUT", out)
        .output()
        .expect("sh runs")
}

fn script_log(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Checks one expectation about the exported root file system `rootfs`, the `image` or the
/// `oci` layout.
fn check(rootfs: &Path, image: &Value, oci: &Value, section: &Section) -> Result<(), String> {
    let path = rootfs.join(section.argument.trim_start_matches('/'));
    let body = section.body.as_str();
    match section.kind.as_str() {
        "expect file" => {
            let content = std::fs::read(&path).map_err(|e| e.to_string())?;
            let content = String::from_utf8_lossy(&content);
            if content != body {
                return Err(format!("is {content:?}, not {body:?}"));
            }
        }
        "expect contains" => {
            let content = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            if let Some(line) = body.lines().find(|line| !content.contains(line)) {
                return Err(format!("lacks {line:?} in {content:?}"));
            }
        }
        "expect lacks" => {
            let content = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            if let Some(line) = body.lines().find(|line| content.contains(line)) {
                return Err(format!("has {line:?} in {content:?}"));
            }
        }
        "expect absent" => {
            if path.symlink_metadata().is_ok() {
                return Err("is there".to_owned());
            }
        }
        "expect exists" => {
            path.symlink_metadata().map_err(|e| e.to_string())?;
        }
        "expect mode" => {
            let mode = path.symlink_metadata().map_err(|e| e.to_string())?.permissions().mode() & 0o7777;
            if format!("{mode:04o}") != body.trim() {
                return Err(format!("is {mode:04o}"));
            }
        }
        "expect owner" => {
            let meta = path.symlink_metadata().map_err(|e| e.to_string())?;
            let owner = format!("{}:{}", meta.uid(), meta.gid());
            if owner != body.trim() {
                return Err(format!("is {owner}"));
            }
        }
        "expect mtime" => {
            let mtime = path.symlink_metadata().map_err(|e| e.to_string())?.mtime();
            if mtime.to_string() != body.trim() {
                return Err(format!("is {mtime}"));
            }
        }
        "expect symlink" => {
            let target = std::fs::read_link(&path).map_err(|e| e.to_string())?;
            if target.to_string_lossy() != body.trim() {
                return Err(format!("points to {}", target.display()));
            }
        }
        "expect dir" => {
            let mut names: Vec<String> = std::fs::read_dir(&path)
                .map_err(|e| e.to_string())?
                .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?;
            names.sort();
            let wanted: Vec<&str> = body.lines().collect();
            if names != wanted {
                return Err(format!("holds {names:?}, not {wanted:?}"));
            }
        }
        "expect image" | "expect oci" => {
            let document = if section.kind == "expect image" { image } else { oci };
            let wanted: Value = serde_json::from_str(body).map_err(|e| format!("bad JSON in the case: {e}"))?;
            let found = pointer(document, &section.argument);
            if found.unwrap_or(&Value::Null) != &wanted {
                return Err(format!("is {}, not {wanted}", found.map_or("missing".to_owned(), Value::to_string)));
            }
        }
        "expect image count" | "expect oci count" => {
            let document = if section.kind == "expect image count" { image } else { oci };
            let wanted: usize = body.trim().parse().map_err(|e| format!("bad count in the case: {e}"))?;
            let found = match pointer(document, &section.argument) {
                Some(Value::Array(items)) => items.len(),
                Some(Value::Object(map)) => map.len(),
                None | Some(Value::Null) => 0,
                Some(other) => return Err(format!("is {other}, which has no items")),
            };
            if found != wanted {
                return Err(format!("has {found} items, not {wanted}"));
            }
        }
        "expect error" | "expect stderr" => {}
        other => return Err(format!("unknown expectation `{other}`")),
    }
    Ok(())
}

/// The value at a JSON pointer, where an array index may be negative (from the end).
fn pointer<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    pointer.split('/').skip(1).try_fold(value, |value, token| match value {
        Value::Array(items) => {
            let index: i64 = token.parse().ok()?;
            let index =
                if index < 0 { items.len().checked_sub(index.unsigned_abs() as usize)? } else { index as usize };
            items.get(index)
        }
        Value::Object(map) => map.get(&token.replace("~1", "/").replace("~0", "~")),
        _ => None,
    })
}

/// The OCI image layout directory `dir` as `{"index", "manifest", "config"}` (its first
/// manifest); null where a part is missing.
fn oci_layout(dir: &Path) -> Value {
    let read = |path: PathBuf| -> Value {
        std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or(Value::Null)
    };
    let blob = |digest: &Value| {
        digest
            .as_str()
            .and_then(|digest| digest.strip_prefix("sha256:"))
            .map_or(Value::Null, |hex| read(dir.join("blobs/sha256").join(hex)))
    };
    let index = read(dir.join("index.json"));
    let manifest = blob(&index["manifests"][0]["digest"]);
    let config = blob(&manifest["config"]["digest"]);
    serde_json::json!({ "index": index, "manifest": manifest, "config": config })
}

/// `graphbuild image inspect`'s object for `name`.
fn inspect(env: &Env, name: &str) -> Value {
    let output = env.cmd(&["image", "inspect", name]).output().expect("inspect runs");
    let all: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    all[0].clone()
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}")).collect::<Vec<_>>().join("\n")
}

/// One test per group of cases, so nextest runs groups side by side and each stays short.
macro_rules! groups {
    ($($group:ident),* $(,)?) => {
        $(
            #[test]
            fn $group() {
                run_group(stringify!($group));
            }
        )*
    };
}

groups!(
    add,
    args,
    cache,
    checks,
    cmd,
    copy,
    core,
    dockerignore,
    errors,
    export,
    heredoc,
    history,
    image,
    mount,
    multistage,
    namedcontext,
    network,
    onbuild,
    parents,
    platform,
    resources,
    secrets,
    sourcedateepoch,
    workdir,
);

/// Every directory of cases has its test above, so no case is left unrun.
#[test]
fn every_group_has_a_test() {
    let dir = repo_root().join("crates/graphbuild/tests/data/buildkit");
    let known = [
        "add",
        "args",
        "cache",
        "checks",
        "cmd",
        "copy",
        "core",
        "dockerignore",
        "errors",
        "export",
        "heredoc",
        "history",
        "image",
        "mount",
        "multistage",
        "namedcontext",
        "network",
        "onbuild",
        "parents",
        "platform",
        "resources",
        "secrets",
        "sourcedateepoch",
        "workdir",
    ];
    for entry in std::fs::read_dir(&dir).expect("cases directory") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(known.contains(&name.as_str()), "tests/data/buildkit/{name} has no test in buildkit_cases.rs");
    }
}
