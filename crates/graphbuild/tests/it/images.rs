//! Images end to end: `build -t` into the store, the image commands on real builds, OCI and
//! docker-archive exports checked with Debian's skopeo and umoci, reproducibility.

use std::path::Path;

use crate::engine::{Env, assert_ok, write};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn run_ok(env: &Env, args: &[&str]) -> String {
    let output = env.cmd(args).output().expect("runs");
    assert_ok(&output);
    stdout(&output)
}

const APP: &str = "FROM busybox\nLABEL purpose=test\nENV GREETING=hello\nWORKDIR /app\nCOPY hello.txt ./\nRUN echo built > built.txt && rm -rf /tmp\nCMD [\"cat\", \"/app/hello.txt\"]\n";

fn app_context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("context");
    write(dir.path(), "Dockerfile", APP);
    write(dir.path(), "hello.txt", "hello from the image\n");
    dir
}

#[test]
fn build_tags_an_image_that_the_image_commands_show() {
    let env = Env::new();
    let context = app_context();
    assert_ok(&env.build(context.path(), &["-t", "app:1", "-t", "web:latest"]).0);

    let images = run_ok(&env, &["images"]);
    let header = images.lines().next().unwrap_or_default();
    for column in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(column), "{images}");
    }
    assert!(images.lines().any(|l| l.starts_with("app ") && l.contains(" 1 ")), "{images}");
    assert!(images.lines().any(|l| l.starts_with("busybox ")), "{images}");
    let filtered = run_ok(&env, &["images", "w*"]);
    assert!(filtered.contains("web") && !filtered.contains("app ") && !filtered.contains("busybox"), "{filtered}");

    let inspect: serde_json::Value = serde_json::from_str(&run_ok(&env, &["image", "inspect", "app:1"])).expect("json");
    let image = &inspect[0];
    assert_eq!(image["Config"]["Cmd"], serde_json::json!(["cat", "/app/hello.txt"]));
    assert_eq!(image["Config"]["WorkingDir"], "/app");
    assert_eq!(image["Config"]["Labels"]["purpose"], "test");
    assert!(image["Config"]["Env"].as_array().is_some_and(|e| e.iter().any(|v| v == "GREETING=hello")), "{image}");
    assert!(
        image["Config"]["Env"]
            .as_array()
            .is_some_and(|e| e.iter().any(|v| v.as_str().is_some_and(|s| s.starts_with("PATH="))))
    );
    let layers = image["RootFS"]["Layers"].as_array().map_or(0, Vec::len);
    assert_eq!(layers, 4, "busybox + WORKDIR + COPY + RUN: {image}");

    let history = run_ok(&env, &["history", "--no-trunc", "app:1"]);
    let lines: Vec<&str> = history.lines().collect();
    assert!(lines[0].contains("CREATED BY") && lines[0].contains("SIZE"), "{history}");
    assert!(lines[1].contains("CMD [\"cat\" \"/app/hello.txt\"]") && !lines[1].starts_with("<missing>"), "{history}");
    assert!(
        lines.iter().any(|l| l.starts_with("<missing>") && l.contains("COPY hello.txt ./ # buildkit")),
        "{history}"
    );
    assert!(lines.iter().any(|l| l.contains("graphbuild import")), "the base image's history is kept: {history}");

    // Removing one name keeps the other working; removing by id needs -f while two names remain.
    let id = image["Id"].as_str().unwrap_or_default().trim_start_matches("sha256:")[..12].to_owned();
    let refused = env.cmd(&["rmi", &id]).output().expect("runs");
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(stdout(&env.cmd(&["rmi", "web"]).output().expect("runs")).contains("Untagged: web:latest"));
    run_ok(&env, &["image", "inspect", "app:1"]);
    run_ok(&env, &["tag", "app:1", "again:2"]);
    assert!(run_ok(&env, &["images"]).contains("again"));
}

#[test]
fn shared_layers_are_counted_once_and_survive_rmi_and_prune() {
    let env = Env::new();
    let one = app_context();
    let two = tempfile::tempdir().expect("second context");
    write(two.path(), "Dockerfile", "FROM busybox\nRUN echo two > /two.txt\n");
    assert_ok(&env.build(one.path(), &["-t", "one"]).0);
    assert_ok(&env.build(two.path(), &["-t", "two"]).0);

    let df = run_ok(&env, &["df"]);
    let images_row: Vec<&str> =
        df.lines().find(|l| l.starts_with("Images")).unwrap_or_default().split_whitespace().collect();
    assert!(images_row.len() >= 5, "{df}");
    let parse = |text: &str| -> f64 {
        let digits: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let scale = if text.ends_with("GB") {
            1e9
        } else if text.ends_with("MB") {
            1e6
        } else if text.ends_with("kB") {
            1e3
        } else {
            1.0
        };
        digits.parse::<f64>().unwrap_or_default() * scale
    };
    let (logical, on_disk) = (parse(images_row[3]), parse(images_row[4]));
    assert!(on_disk < logical, "busybox is shared by three images, so on disk < logical: {df}");

    // Removing busybox and `one` leaves `two` (which shares busybox's layer) buildable and exportable.
    run_ok(&env, &["rmi", "busybox", "one"]);
    let prune = run_ok(&env, &["prune"]);
    assert!(prune.contains("Total reclaimed space"), "{prune}");
    let out = tempfile::tempdir().expect("out");
    let dest = format!("type=docker,dest={}", out.path().join("two.tar").display());
    let third = tempfile::tempdir().expect("third");
    write(third.path(), "Dockerfile", "FROM two\nRUN cat /two.txt /bin/busybox > /dev/null\n");
    assert_ok(&env.build(third.path(), &["-o", &dest]).0);
}

#[test]
fn oci_and_docker_exports_pass_skopeo_and_umoci_unpacks_the_same_tree() {
    gb_test_support::require_tool("skopeo", "skopeo");
    gb_test_support::require_tool("umoci", "umoci");
    let env = Env::new();
    let context = app_context();
    let out = tempfile::tempdir().expect("out");
    let oci_tar = out.path().join("app.oci.tar");
    let oci_dir = out.path().join("app-oci");
    let docker_tar = out.path().join("app.docker.tar");
    let rootfs = out.path().join("rootfs");
    let (output, _) = env.build(
        context.path(),
        &[
            "-t",
            "app:1",
            "-o",
            &format!("type=oci,dest={},compression=zstd", oci_tar.display()),
            "-o",
            &format!("type=oci,dest={},tar=false", oci_dir.display()),
            "-o",
            &format!("type=docker,dest={}", docker_tar.display()),
            "-o",
            &format!("type=local,dest={}", rootfs.display()),
        ],
    );
    assert_ok(&output);
    for target in [
        format!("oci-archive:{}", oci_tar.display()),
        format!("oci:{}:1", oci_dir.display()),
        format!("docker-archive:{}", docker_tar.display()),
    ] {
        let inspect =
            std::process::Command::new("skopeo").args(["inspect", "--raw"]).arg(&target).output().expect("skopeo");
        assert!(inspect.status.success(), "skopeo inspect {target}: {}", String::from_utf8_lossy(&inspect.stderr));
        let copy_dir = out.path().join(format!("copy-{}", target.len()));
        let copy = std::process::Command::new("skopeo")
            .arg("copy")
            .arg(&target)
            .arg(format!("oci:{}:copied", copy_dir.display()))
            .output()
            .expect("skopeo copy");
        assert!(copy.status.success(), "skopeo copy {target}: {}", String::from_utf8_lossy(&copy.stderr));
    }
    let bundle = out.path().join("bundle");
    let unpack = std::process::Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:1", oci_dir.display()))
        .arg(&bundle)
        .output()
        .expect("umoci");
    assert!(unpack.status.success(), "{}", String::from_utf8_lossy(&unpack.stderr));
    let diff = std::process::Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(bundle.join("rootfs"))
        .arg(&rootfs)
        .output()
        .expect("diff");
    assert!(diff.status.success(), "umoci's rootfs differs from -o type=local:\n{}", stdout(&diff));
    assert!(!bundle.join("rootfs/tmp").exists(), "the RUN deleted /tmp, a whiteout must hide it");

    // save / load round trip into another root keeps the manifest.
    let saved = out.path().join("saved.tar");
    run_ok(&env, &["save", "-o", saved.to_str().unwrap_or_default(), "app:1"]);
    let other = Env::new();
    let loaded = run_ok(&other, &["load", "-i", saved.to_str().unwrap_or_default()]);
    assert!(loaded.contains("Loaded image: app:1"), "{loaded}");
    let config = |env: &Env| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&run_ok(env, &["image", "inspect", "app:1"])).expect("json")[0]["Id"]
            .clone()
    };
    assert_eq!(config(&env), config(&other), "the image id survives save and load");
}

fn manifest_digest(env: &Env, name: &str) -> String {
    let inspect: serde_json::Value = serde_json::from_str(&run_ok(env, &["image", "inspect", name])).expect("json");
    inspect[0]["ManifestDigest"].as_str().unwrap_or_default().to_owned()
}

fn build_in(env: &Env, checkout: &Path) {
    let context = checkout.join("project");
    std::fs::create_dir_all(&context).expect("mkdir");
    write(&context, "Dockerfile", APP);
    write(&context, "hello.txt", "hello from the image\n");
    // As BuildKit, layers keep their files' times unless `rewrite-timestamp=true` clamps them.
    let output = env
        .cmd(&["build", "--progress", "plain", "-o", "type=image,name=repro:1,rewrite-timestamp=true"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg(&context)
        .output()
        .expect("build");
    assert_ok(&output);
}

#[test]
fn two_roots_and_two_checkouts_give_the_same_manifest_digest() {
    let (first, second) = (Env::new(), Env::new());
    let (a, b) = (tempfile::tempdir().expect("a"), tempfile::tempdir().expect("b"));
    build_in(&first, a.path());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    build_in(&second, b.path());
    assert_eq!(manifest_digest(&first, "repro:1"), manifest_digest(&second, "repro:1"));
}

/// Splits Docker-style table output into columns (separated by three or more spaces).
fn columns(line: &str) -> Vec<String> {
    line.split("   ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
}

#[test]
fn history_and_images_output_snapshots() {
    let env = Env::new();
    let context = app_context();
    let output = env
        .cmd(&["build", "--progress", "plain", "-t", "app:1"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    // The image id depends on the busybox-static version and times on today's date: redact them.
    let history: Vec<String> = run_ok(&env, &["history", "--no-trunc", "app:1"])
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut cells = columns(line);
            if i > 0 {
                if cells[0] != "<missing>" {
                    cells[0] = "<image id>".to_owned();
                }
                cells[1] = "<created>".to_owned();
                if cells.len() > 3 && cells[3] != "0B" {
                    cells[3] = "<size>".to_owned();
                }
            }
            cells.join(" | ")
        })
        .collect();
    insta::assert_snapshot!("history", history.join("\n"));
    let images: Vec<String> = run_ok(&env, &["images"])
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut cells = columns(line);
            if i > 0 {
                cells[2] = "<image id>".to_owned();
                cells[3] = "<created>".to_owned();
                cells[4] = "<size>".to_owned();
            }
            cells.join(" | ")
        })
        .collect();
    insta::assert_snapshot!("images", images.join("\n"));
}

#[test]
fn a_no_op_rebuild_gives_the_same_image_and_leaves_the_export_alone() {
    let env = Env::new();
    let context = app_context();
    let out = tempfile::tempdir().expect("out");
    let oci = out.path().join("app.oci.tar");
    let dest = format!("type=oci,dest={}", oci.display());
    assert_ok(&env.build(context.path(), &["-t", "app:1", "-o", &dest]).0);
    let first = manifest_digest(&env, "app:1");
    let modified = || std::fs::metadata(&oci).and_then(|m| m.modified()).expect("mtime");
    let before = modified();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_ok(&env.build(context.path(), &["-t", "app:1", "-o", &dest]).0);
    assert_eq!(manifest_digest(&env, "app:1"), first, "a no-op rebuild made a different image");
    assert_eq!(modified(), before, "the unchanged OCI tarball was rewritten");
}

#[test]
fn an_export_with_other_names_is_written_again() {
    let env = Env::new();
    let context = app_context();
    let out = tempfile::tempdir().expect("out");
    let archive = out.path().join("app.tar");
    for name in ["app:v1", "app:v2"] {
        let dest = format!("type=docker,dest={},name={name}", archive.display());
        assert_ok(&env.build(context.path(), &["-o", &dest]).0);
        let listing =
            std::process::Command::new("tar").arg("-xOf").arg(&archive).arg("manifest.json").output().expect("tar");
        let manifest = String::from_utf8_lossy(&listing.stdout);
        assert!(manifest.contains(name), "{name} is not in {manifest}");
    }
}

#[test]
fn images_format_json_prints_one_docker_object_per_image() {
    let env = Env::new();
    let output = env.cmd(&["images", "--format", "json"]).output().expect("images");
    assert_ok(&output);
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    let busybox = &lines[0];
    assert_eq!(busybox["Repository"], "busybox");
    assert_eq!(busybox["Tag"], "latest");
    assert_eq!(busybox["ID"].as_str().map(str::len), Some(12));
    assert!(busybox["CreatedAt"].as_str().is_some_and(|t| t.ends_with(" +0000 UTC")), "{busybox}");
    assert!(busybox["Size"].as_str().is_some_and(|s| s.ends_with('B')), "{busybox}");
    // Anything else is a template, as docker: literal text is printed once per image.
    assert_eq!(run_ok(&env, &["images", "--format", "yaml"]), "yaml\n");
}

/// Builds `tag` from a one-RUN Dockerfile with a label, dated `epoch`; returns the image id.
fn build_labelled(env: &Env, tag: &str, label: &str, epoch: &str) -> String {
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", &format!("FROM busybox\nLABEL tier={label}\nRUN echo {label} > /v\n"));
    let output = env
        .cmd(&["build", "-q", "-t", tag])
        .env("SOURCE_DATE_EPOCH", epoch)
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    stdout(&output).trim().to_owned()
}

/// `images` flags as docker's: templates, table templates with docker's alignment, --no-trunc,
/// --digests, -q, and every --filter kind, with docker's errors for bad filters and fields.
#[test]
fn images_formats_and_filters_as_docker() {
    let env = Env::new();
    let one = build_labelled(&env, "basic:1", "one", "1000000000");
    let two = build_labelled(&env, "basic:2", "two", "1100000000");
    let names = |args: &[&str]| {
        let mut lines: Vec<String> =
            run_ok(&env, &[&["images", "--format", "{{.Repository}}:{{.Tag}}"], args].concat())
                .lines()
                .map(str::to_owned)
                .collect();
        lines.sort();
        lines.join(" ")
    };
    assert_eq!(names(&[]), "basic:1 basic:2 busybox:latest");
    assert_eq!(names(&["-f", "reference=basic:1"]), "basic:1");
    assert_eq!(names(&["-f", "reference=b*"]), "basic:1 basic:2 busybox:latest");
    assert_eq!(names(&["-f", "reference=basic", "-f", "label=tier=two"]), "basic:2");
    assert_eq!(names(&["--filter", "label=tier"]), "basic:1 basic:2");
    assert_eq!(names(&["-f", "before=basic:2"]), "basic:1");
    assert_eq!(names(&["-f", "since=basic:1", "-f", "reference=basic"]), "basic:2");
    assert_eq!(names(&["-f", "dangling=true"]), "");
    assert_eq!(names(&["-a", "-f", "dangling=false"]), "basic:1 basic:2 busybox:latest");

    // A table template: docker's headers, columns padded to the widest cell plus 3 (10 at least).
    let table = run_ok(&env, &["images", "--format", "table {{.Tag}}\\t{{.ID}}", "basic:1"]);
    assert_eq!(table, format!("TAG       IMAGE ID\n1         {}\n", &one.trim_start_matches("sha256:")[..12]));
    let full = run_ok(&env, &["images", "-q", "--no-trunc", "basic:2"]);
    assert_eq!(full.trim(), two);
    let json = run_ok(&env, &["images", "--no-trunc", "--format", "{{json .}}", "basic:2"]);
    let row: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    assert_eq!((row["ID"].as_str(), row["Tag"].as_str()), (Some(two.as_str()), Some("2")));
    let digests = run_ok(&env, &["images", "--digests"]);
    assert!(digests.starts_with("REPOSITORY   TAG       DIGEST    IMAGE ID"), "{digests}");

    let bad_field = env.cmd(&["images", "--format", "{{.Nope}}"]).output().expect("images");
    assert_eq!(bad_field.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_field.stderr).contains("can't evaluate field Nope"), "{bad_field:?}");
    for (filter, message) in
        [("bogus=1", "invalid filter 'bogus'"), ("dangling=maybe", "invalid filter 'dangling=maybe'")]
    {
        let refused = env.cmd(&["images", "-f", filter]).output().expect("images");
        assert_eq!(refused.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&refused.stderr).contains(message), "{refused:?}");
    }
}

/// A name built again leaves its old image dangling (`<none>:<none>`, its layers kept, usable
/// by id) until `rmi` or `image prune` removes it; an image another name holds is not dangling.
#[test]
fn a_rebuilt_name_leaves_a_dangling_image_until_pruned() {
    let env = Env::new();
    let old = build_labelled(&env, "app", "old", "1000000000");
    let new = build_labelled(&env, "app", "new", "1100000000");
    assert_ne!(old, new);
    let dangling =
        run_ok(&env, &["images", "--filter", "dangling=true", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"]);
    assert_eq!(dangling, format!("{} <none>:<none>\n", &old.trim_start_matches("sha256:")[..12]));
    assert!(run_ok(&env, &["images"]).lines().any(|l| l.starts_with("<none>       <none>    ")));
    let inspect: serde_json::Value = serde_json::from_str(&run_ok(&env, &["image", "inspect", &old])).expect("json");
    assert_eq!(inspect[0]["RepoTags"], serde_json::json!([]));
    // Its layers are still there: it runs.
    assert_eq!(run_ok(&env, &["run", "--rm", &old, "cat", "/v"]), "old\n");

    // Tagging a dangling image names it again; a name moving off an image another name holds
    // leaves nothing dangling.
    run_ok(&env, &["tag", &old, "keep:1"]);
    assert_eq!(run_ok(&env, &["images", "-q", "-f", "dangling=true"]), "");
    run_ok(&env, &["tag", "app", "keep:2"]);
    build_labelled(&env, "app", "newest", "1200000000");
    assert_eq!(run_ok(&env, &["images", "-q", "-f", "dangling=true"]), "");

    // `rmi ID` removes a dangling image; `image prune` the rest, after asking.
    run_ok(&env, &["tag", "busybox", "keep:1"]);
    let removed = run_ok(&env, &["rmi", &old]);
    assert_eq!(removed, format!("Deleted: {old}\n"));
    run_ok(&env, &["tag", "busybox", "keep:2"]);
    let asked = env.cmd(&["image", "prune"]).write_stdin("n\n").output().expect("prune");
    assert_ok(&asked);
    assert_eq!(
        stdout(&asked),
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] Total reclaimed space: 0B\n"
    );
    assert_eq!(
        run_ok(&env, &["images", "-q", "-f", "dangling=true"]),
        format!("{}\n", &new.trim_start_matches("sha256:")[..12])
    );
    let pruned = run_ok(&env, &["image", "prune", "-f"]);
    assert!(pruned.starts_with(&format!("Deleted Images:\ndeleted: {new}\n\nTotal reclaimed space: ")), "{pruned}");
    assert!(!pruned.ends_with(" 0B\n"), "its manifest and config were freed: {pruned}");
    assert_eq!(run_ok(&env, &["images", "-q", "-f", "dangling=true"]), "");
    assert!(env.cmd(&["image", "inspect", &new]).output().expect("inspect").status.code() == Some(1));
    // What is left still runs.
    assert_eq!(run_ok(&env, &["run", "--rm", "app", "cat", "/v"]), "newest\n");
}

/// `images NAME:TAG` shows that tag only, as docker does, so `rmi $(images -q basic:1)` removes
/// basic:1's image and leaves basic:2's; `rmi` of several names removes each it can (issue 14).
#[test]
fn images_with_a_tag_shows_that_tag_only() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    for version in ["1", "2"] {
        write(context.path(), "Dockerfile", &format!("FROM busybox\nRUN echo {version} > /version\n"));
        run_ok(&env, &["build", "-q", "-t", &format!("basic:{version}"), &context.path().display().to_string()]);
    }
    let one = run_ok(&env, &["images", "-q", "basic:1"]);
    assert_eq!(one.lines().count(), 1, "{one}");
    let both = run_ok(&env, &["images", "-q", "basic"]);
    assert_eq!(both.lines().count(), 2, "{both}");
    // An id per row, as docker's: a second name lists the image again.
    run_ok(&env, &["tag", "basic:1", "basic:again"]);
    assert_eq!(run_ok(&env, &["images", "-q", "basic"]).lines().count(), 3);
    run_ok(&env, &["rmi", "basic:again"]);
    let table = run_ok(&env, &["images", "b*:2"]);
    assert_eq!(table.lines().count(), 2, "a header and basic:2: {table}");
    assert!(table.lines().nth(1).is_some_and(|row| row.starts_with("basic") && row.contains(" 2 ")), "{table}");

    run_ok(&env, &["rmi", one.trim()]);
    let left = run_ok(&env, &["images", "basic"]);
    assert!(!left.contains(" 1 ") && left.contains(" 2 "), "{left}");

    // `history -H=false`: sizes in bytes and dates in RFC 3339, as docker prints them.
    let history = run_ok(&env, &["history", "-H=false", "basic:2"]);
    let top: Vec<&str> = history.lines().nth(1).expect("a row").split_whitespace().collect();
    assert!(top[1].len() == 20 && top[1].ends_with('Z') && top[1].contains('T'), "{history}");
    assert!(history.lines().skip(1).all(|row| !row.contains("ago") && !row.contains("kB")), "{history}");

    // `rmi A B C` removes every name it can and reports each one it cannot.
    let output = env.cmd(&["rmi", "nosuch:1", "basic:2", "other:1"]).output().expect("rmi");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nosuch:1") && stderr.contains("other:1"), "{stderr}");
    assert!(stdout(&output).contains("Untagged: basic:2"), "{}", stdout(&output));
    assert_eq!(run_ok(&env, &["images", "-q", "basic"]), "");
}

/// `history -q`, `--no-trunc` and `--format`, and `image inspect -f`, as docker's.
#[test]
fn history_and_inspect_take_docker_formats() {
    let env = Env::new();
    let id = build_labelled(&env, "app", "one", "1000000000");
    let short = &id.trim_start_matches("sha256:")[..12];
    // Busybox's one entry, LABEL and RUN, newest first; only the image's own row has its id.
    assert_eq!(run_ok(&env, &["history", "-q", "app"]), format!("{short}\n<missing>\n<missing>\n"));
    assert_eq!(run_ok(&env, &["history", "-q", "--no-trunc", "app"]), format!("{id}\n<missing>\n<missing>\n"));
    let table = run_ok(&env, &["history", "--format", "table {{.ID}}\\t{{.Size}}", "-H=false", "app"]);
    assert_eq!(table.lines().take(2).collect::<Vec<_>>(), ["IMAGE          SIZE", &format!("{short}   4")], "{table}");
    let json = run_ok(&env, &["history", "--format", "json", "app"]);
    let top: serde_json::Value = serde_json::from_str(json.lines().next().unwrap_or_default()).expect("json");
    assert_eq!(top["CreatedBy"], "RUN /bin/sh -c echo one > /v # buildkit");
    assert_eq!(top["CreatedAt"], "2001-09-09T01:46:40Z");
    let long = run_ok(&env, &["history", "--no-trunc", "--format", "{{.CreatedBy}}", "app"]);
    assert!(long.lines().any(|l| l == "LABEL tier=one"), "{long}");

    let inspected = run_ok(
        &env,
        &["image", "inspect", "-f", "{{.Id}} {{index .Config.Labels \"tier\"}} {{json .RepoTags}}", "app", "busybox"],
    );
    let lines: Vec<&str> = inspected.lines().collect();
    assert_eq!(lines[0], format!("{id} one [\"app:latest\"]"));
    assert!(lines[1].ends_with(" [\"busybox:latest\"]"), "{inspected}");
    let bad = env.cmd(&["image", "inspect", "--format", "{{.Nope}}", "app"]).output().expect("inspect");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("can't evaluate field Nope"));
}

/// `system df [-v]` prints docker's rows and sections; the `image` group's aliases run the
/// top-level commands.
#[test]
fn system_df_and_the_image_group_work_as_docker() {
    let env = Env::new();
    let id = build_labelled(&env, "app", "one", "1000000000");
    let df = run_ok(&env, &["system", "df"]);
    let lines: Vec<&str> = df.lines().collect();
    assert_eq!(lines[0], "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE", "{df}");
    assert!(lines[1].starts_with("Images          2         0         ") && lines[1].ends_with("(100%)"), "{df}");
    assert_eq!(lines[2], "Containers      0         0         0B        0B", "{df}");
    assert_eq!(lines[3], "Local Volumes   0         0         0B        0B", "{df}");
    // The RUN's record: its layer is the image's too, so pruning the cache would free nothing.
    assert_eq!(lines[4], "Build Cache     1         0         0B        0B", "{df}");
    let types = run_ok(&env, &["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]);
    assert_eq!(types, "Images=2\nContainers=0\nLocal Volumes=0\nBuild Cache=1\n");
    let verbose = run_ok(&env, &["system", "df", "-v"]);
    assert!(verbose.starts_with("Images space usage:\n\nREPOSITORY   TAG       IMAGE ID"), "{verbose}");
    let app = verbose.lines().find(|l| l.starts_with("app ")).unwrap_or_default();
    let app: Vec<&str> = app.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!((app[5], app[6], app[7]), ("1.98MB", "4B", "0"), "shared busybox, its own RUN: {verbose}");
    assert!(verbose.contains("\nBuild cache usage: 0B\n\nCACHE ID       CACHE TYPE   SIZE"), "{verbose}");
    let record = verbose.lines().last().unwrap_or_default();
    assert!(record.contains(" regular ") && record.contains(" 4B ") && record.ends_with(" true"), "{verbose}");
    // The old `df` still answers.
    assert!(run_ok(&env, &["df"]).starts_with("TYPE "));

    // A stopped container's changes and a named volume it names count, as docker's rows.
    let write = "head -c 3000 /dev/zero > /changed; head -c 5000 /dev/zero > /data/kept";
    run_ok(&env, &["run", "--name", "writer", "-v", "store:/data", "app", "sh", "-c", write]);
    let df = run_ok(
        &env,
        &["system", "df", "--format", "{{.Type}}: {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}"],
    );
    let lines: Vec<&str> = df.lines().collect();
    assert!(lines[0].starts_with("Images: 2 1 "), "the container's image is active: {df}");
    assert_eq!(lines[1], "Containers: 1 0 3kB 3kB (100%)", "{df}");
    assert_eq!(lines[2], "Local Volumes: 1 1 5kB 0B (0%)", "{df}");
    let verbose = run_ok(&env, &["system", "df", "-v"]);
    let writer = verbose.lines().find(|l| l.ends_with(" writer")).unwrap_or_default();
    assert!(writer.contains(" app ") && writer.contains(" 1 ") && writer.contains(" 3kB "), "{verbose}");
    assert!(verbose.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["store", "1", "5kB"]), "{verbose}");
    run_ok(&env, &["rm", "writer"]);

    assert_eq!(run_ok(&env, &["image", "ls", "-q", "app"]), run_ok(&env, &["images", "-q", "app"]));
    run_ok(&env, &["image", "tag", "app", "other:2"]);
    assert_eq!(run_ok(&env, &["image", "history", "-q", "--no-trunc", "other:2"]).lines().next(), Some(id.as_str()));
    let removed = run_ok(&env, &["image", "rm", "other:2"]);
    assert_eq!(removed, "Untagged: other:2\n");
}
