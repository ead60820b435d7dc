//! Build records (issue 12): every build leaves one, `builds ls` and `builds show` read them,
//! `[builds] keep` bounds them and `prune` removes them.

use serde_json::Value;

use crate::engine::{Env, assert_ok, write};

fn stdout(env: &Env, args: &[&str]) -> String {
    let output = env.cmd(args).output().expect("runs");
    assert_ok(&output);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn every_build_is_recorded_and_listed_newest_first() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS app\nARG GREETING\nRUN echo \"$GREETING\" > /greeting\nCOPY hello.txt /hello.txt\n",
    );
    write(context.path(), "hello.txt", "hello");
    let build = |extra: &[&str]| {
        let output = env
            .cmd(&["build", "--progress", "plain", "--target", "app", "--build-arg", "GREETING=hi"])
            .args(extra)
            .arg(context.path())
            .output()
            .expect("build");
        assert_ok(&output);
    };
    build(&["-t", "recorded:1"]);
    build(&[]);
    write(context.path(), "Dockerfile", "FROM busybox\nRUN exit 3\n");
    let failed = env.cmd(&["build", "--progress", "plain"]).arg(context.path()).output().expect("build");
    assert_eq!(failed.status.code(), Some(1));

    let ids: Vec<String> = stdout(&env, &["builds", "ls", "-q"]).lines().map(str::to_owned).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let table = stdout(&env, &["builds", "ls"]);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("BUILD ID") && rows[0].contains("STEPS") && rows[0].contains("TARGET"), "{table}");
    assert!(rows[1].starts_with(&ids[0]) && rows[1].contains("Failed"), "newest first: {table}");
    assert!(
        rows[2].contains("0 ran, 2 cached") && rows[2].contains("Completed") && rows[2].ends_with("app"),
        "{table}"
    );
    assert!(rows[3].contains("2 ran, 0 cached"), "{table}");

    // The failed build, by `latest`: its error and the failed step at its line.
    let shown = stdout(&env, &["builds", "show", "latest"]);
    assert!(shown.contains("Status:      Failed"), "{shown}");
    assert!(!shown.contains("Build args:"), "{shown}");
    assert!(shown.contains("RUN exit 3 (Dockerfile:2): failed after"), "{shown}");
    assert!(shown.contains("exit code: 3"), "{shown}");

    // The first, by a prefix of its id, as JSON: options by name only, steps, the image.
    let prefix = &ids[2][..16];
    let record: Value =
        serde_json::from_str(&stdout(&env, &["builds", "show", prefix, "--format", "json"])).expect("json");
    assert_eq!(record["id"], ids[2].as_str());
    assert_eq!(record["status"], "completed");
    assert_eq!(record["info"]["target"], "app");
    assert_eq!(record["info"]["build_args"], serde_json::json!({ "GREETING": "hi" }));
    assert_eq!(record["info"]["names"], serde_json::json!(["recorded:1"]));
    let inspect = stdout(&env, &["image", "inspect", "recorded:1"]);
    let image: Value = serde_json::from_str(&inspect).expect("inspect");
    assert_eq!(record["image"]["id"], image[0]["Id"]);
    let steps = record["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["status"], "ran");
    assert_eq!(steps[0]["location"], "Dockerfile:3");
    assert!(steps[0]["duration_ms"].is_u64());
    // What the steps wrote ("hi\n" and "hello") and what hashing the context read (hello.txt).
    assert_eq!(steps[0]["bytes_written"], 3);
    assert_eq!(steps[1]["bytes_written"], 5);
    let hashed: u64 =
        record["sources"].as_object().expect("sources").values().filter_map(|s| s["bytes_hashed"].as_u64()).sum();
    assert_eq!(hashed, "hello".len() as u64, "the first build read hello.txt: {record}");
    assert!(record["graphs"][0]["definition"]["ops"].is_array(), "the graph is kept");

    let shown = stdout(&env, &["builds", "show", prefix]);
    assert!(shown.contains(&format!("Bytes:       {hashed}B of context files hashed, ")), "{shown}");

    let unknown = env.cmd(&["builds", "show", "ffffffff"]).output().expect("show");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no build \"ffffffff\" is recorded"));
}

/// A multi-platform build is one record, with a graph per platform and the index as its image.
#[test]
fn a_multi_platform_build_is_one_record() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM scratch\nARG TARGETARCH\nCOPY $TARGETARCH.txt /arch.txt\n");
    write(context.path(), "amd64.txt", "amd64");
    write(context.path(), "arm64.txt", "arm64");
    let out = tempfile::tempdir().expect("out");
    let output = env
        .cmd(&["build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "-o"])
        .arg(format!("type=oci,dest={},tar=false", out.path().join("layout").display()))
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    let record: Value = serde_json::from_str(&stdout(&env, &["builds", "show", "--format", "json"])).expect("json");
    let platforms: Vec<&str> =
        record["graphs"].as_array().expect("graphs").iter().filter_map(|g| g["platform"].as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(record["info"]["platform"], "linux/amd64,linux/arm64");
    assert_eq!(record["steps"].as_array().expect("steps").len(), 2, "a COPY per platform");
    let index: Value = serde_json::from_slice(&std::fs::read(out.path().join("layout/index.json")).expect("index"))
        .expect("index json");
    assert_eq!(record["image"]["manifest"], index["manifests"][0]["digest"]);
}

#[test]
fn records_are_bounded_by_config_and_removed_by_prune() {
    let env = Env::new();
    write(env.root.path(), "config.toml", "[builds]\nkeep = 2\n");
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM busybox\nRUN true\n");
    // What a killed server left half-written goes once it is old; a young one may be another
    // build's, being written.
    let builds = env.root.path().join("builds");
    write(&builds, ".0000000000000000dead.json.partial", "{");
    write(&builds, ".0000000000000000beef.json.partial", "{");
    let old = std::fs::File::options().write(true).open(builds.join(".0000000000000000dead.json.partial"));
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    old.expect("partial").set_modified(hour_ago).expect("mtime");
    for _ in 0..3 {
        let output = env.cmd(&["build", "--progress", "plain"]).arg(context.path()).output().expect("build");
        assert_ok(&output);
    }
    assert_eq!(stdout(&env, &["builds", "ls", "-q"]).lines().count(), 2, "the two newest are kept");
    assert!(!builds.join(".0000000000000000dead.json.partial").exists());
    assert!(builds.join(".0000000000000000beef.json.partial").exists());
    let pruned = stdout(&env, &["prune"]);
    assert!(!pruned.contains("build records"), "a plain prune keeps them: {pruned}");
    assert_eq!(stdout(&env, &["builds", "ls", "-q"]).lines().count(), 2);
    let pruned = stdout(&env, &["prune", "--all"]);
    assert!(pruned.contains("Deleted 2 build records"), "{pruned}");
    assert_eq!(stdout(&env, &["builds", "ls", "-q"]), "");

    // `keep = 0` records nothing.
    write(env.root.path(), "config.toml", "[builds]\nkeep = 0\n");
    let output = env.cmd(&["build", "--progress", "plain"]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    assert_eq!(stdout(&env, &["builds", "ls", "-q"]), "");
}

/// `build --explain` and `builds explain`: each step that ran, and why, against the last build
/// of the same Dockerfile and target.
#[test]
fn explain_says_why_each_step_ran() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    let dockerfile =
        "FROM busybox\nARG PKGS=curl\nRUN echo \"$PKGS\" > /pkgs\nCOPY src/ /app/\nRUN cat /app/main.c > /built\n";
    write(context.path(), "Dockerfile", dockerfile);
    write(context.path(), "src/main.c", "int main;");
    write(context.path(), "src/old.h", "old");
    let explain = |extra: &[&str]| {
        let output = env
            .cmd(&["build", "--progress", "quiet", "--explain"])
            .args(extra)
            .arg(context.path())
            .output()
            .expect("build");
        assert_ok(&output);
        String::from_utf8_lossy(&output.stderr).lines().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(explain(&[]), ["explain: no earlier build of the same Dockerfile and target is recorded"]);
    assert_eq!(explain(&[]), Vec::<String>::new(), "nothing ran");

    write(context.path(), "src/main.c", "int main(void);");
    write(context.path(), "src/new.h", "new");
    std::fs::remove_file(context.path().join("src/old.h")).expect("rm");
    assert_eq!(
        explain(&[]),
        [
            "#2 COPY src/ /app/ (Dockerfile:4): 3 context files changed: src/main.c (content), src/new.h (added), src/old.h (removed)",
            "#3 RUN cat /app/main.c > /built (Dockerfile:5): its input changed (#2)",
        ]
    );

    let lines = explain(&["--build-arg", "PKGS=curl git"]);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("#1 RUN echo "), "{lines:?}");
    assert!(lines[0].ends_with("(Dockerfile:3): build arg PKGS changed: \"curl\" -> \"curl git\""), "{lines:?}");
    assert_eq!(lines[1], "#2 COPY src/ /app/ (Dockerfile:4): its input changed (#1)");

    let lines = explain(&["--build-arg", "PKGS=curl git", "--no-cache"]);
    assert!(lines.iter().all(|line| line.ends_with(": --no-cache")) && lines.len() == 3, "{lines:?}");

    write(context.path(), "Dockerfile", &dockerfile.replace("> /built", "> /built2"));
    assert_eq!(
        explain(&["--build-arg", "PKGS=curl git"]),
        ["#3 RUN cat /app/main.c > /built2 (Dockerfile:5): the Dockerfile line changed"]
    );

    // `builds explain` gives the same lines for any two recorded builds.
    let ids: Vec<String> = stdout(&env, &["builds", "ls", "-q"]).lines().map(str::to_owned).collect();
    let against = stdout(&env, &["builds", "explain", &ids[0], "--against", &ids[1]]);
    assert_eq!(against.trim_end(), "#3 RUN cat /app/main.c > /built2 (Dockerfile:5): the Dockerfile line changed");
    let first = env.cmd(&["builds", "explain", &ids[ids.len() - 1]]).output().expect("explain");
    assert_eq!(first.status.code(), Some(1), "nothing before the first build");

    // A file's time alone is not part of any key: nothing runs.
    let status = std::process::Command::new("touch").arg(context.path().join("src/main.c")).status().expect("touch");
    assert!(status.success());
    assert_eq!(explain(&["--build-arg", "PKGS=curl git"]), Vec::<String>::new());

    // The cache pruned under a step: it says so.
    assert_ok(&env.cmd(&["prune"]).output().expect("prune"));
    let lines = explain(&["--build-arg", "PKGS=curl git"]);
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.ends_with(": the cache no longer had its result (pruned)")),
        "{lines:?}"
    );

    // With --progress json each explanation is an event.
    write(context.path(), "src/main.c", "int main(int);");
    let output = env
        .cmd(&["build", "--progress", "json", "--explain", "--build-arg", "PKGS=curl git"])
        .arg(context.path())
        .output()
        .expect("build");
    assert_ok(&output);
    let events = |name: &str| -> Vec<Value> {
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event["event"] == name)
            .collect()
    };
    let explained = events("op_explained");
    assert_eq!(explained.len(), 2, "{explained:?}");
    // The same reason rides on each step's own `op_started` event, as it starts.
    let started = events("op_started");
    assert_eq!(started.len(), 2, "{started:?}");
    for (started, explained) in started.iter().zip(&explained) {
        assert_eq!(started["op"], explained["op"]);
        assert_eq!(started["reason"], explained["reason"], "{started}");
    }
    // And the record keeps it: `builds show` says why each step ran.
    let shown = stdout(&env, &["builds", "show", "latest"]);
    assert!(shown.contains("   why: 1 context file changed: src/main.c (content)\n"), "{shown}");
    assert_eq!(explained[0]["step"], 2);
    assert_eq!(explained[0]["reason"], "1 context file changed: src/main.c (content)");
    assert!(explained[0]["op"].as_str().is_some_and(|op| op.starts_with("sha256:")));
}

/// Explanations for what the Dockerfile's environment and base image change.
/// The critical path: the chain of steps that bounded the build's time, in `builds show` and
/// drawn bold in `--format dot`.
#[test]
fn the_critical_path_runs_through_the_slowest_chain() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(
        context.path(),
        "Dockerfile",
        "FROM busybox AS slow\nRUN sleep 0.6 && echo slow > /slow\nFROM busybox AS quick\nRUN echo quick > /quick\n\
         FROM busybox\nCOPY --from=slow /slow /slow\nCOPY --from=quick /quick /quick\n",
    );
    let output = env.cmd(&["build", "--progress", "plain"]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    let shown = stdout(&env, &["builds", "show"]);
    let critical = shown.lines().find(|line| line.starts_with("Critical:")).unwrap_or_else(|| panic!("{shown}"));
    assert!(critical.contains("over 3 steps"), "the slow RUN and both COPYs: {critical}");
    assert!(critical.contains("RUN sleep 0.6"), "the longest step: {critical}");

    // Each step that ran says how long it waited for a slot; the build, how long it exported.
    let record: Value = serde_json::from_str(&stdout(&env, &["builds", "show", "--format", "json"])).expect("json");
    for step in record["steps"].as_array().expect("steps") {
        assert!(step["queued_ms"].as_u64().is_some_and(|q| q <= step["duration_ms"].as_u64().unwrap_or(0)), "{step}");
    }
    assert!(record["export_ms"].is_u64(), "{record}");
    let html = stdout(&env, &["builds", "show", "--format", "html"]);
    assert!(html.contains("Waiting for a slot") && html.contains("Exporting"), "the report's totals");

    let dot = stdout(&env, &["builds", "show", "--format", "dot"]);
    assert!(dot.starts_with("digraph build {"), "{dot}");
    let node =
        |needle: &str| dot.lines().find(|line| line.contains(needle)).unwrap_or_else(|| panic!("{needle}: {dot}"));
    assert!(node("RUN sleep 0.6").contains("penwidth=3"), "{dot}");
    assert!(!node("RUN echo quick").contains("penwidth=3"), "{dot}");
    assert_eq!(
        dot.lines().filter(|line| line.contains(" -> ")).count(),
        3,
        "each COPY reads its stage; the second reads the first: {dot}"
    );
}

/// `builds show --format html` is one self-contained page that a real browser renders without a
/// script error: headless Chromium (Debian's `chromium`) loads it from a file, its script marks
/// the page ready and counts one node per step and the highlighted critical path, and a
/// screenshot is taken.
#[test]
fn the_html_report_renders_in_a_browser() {
    gb_test_support::require_tool("chromium", "chromium");
    let env = Env::new();
    let example = crate::repo_root().join("examples/multistage");
    let output = env.cmd(&["build", "--progress", "plain", "-t", "report:1"]).arg(&example).output().expect("build");
    assert_ok(&output);
    let record: Value = serde_json::from_str(&stdout(&env, &["builds", "show", "--format", "json"])).expect("json");
    let steps = record["steps"].as_array().expect("steps").len();
    let html = stdout(&env, &["builds", "show", "--format", "html"]);
    assert!(!html.contains("http://") && !html.contains("https://"), "self-contained: nothing to fetch");
    let dir = tempfile::tempdir().expect("dir");
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).expect("write");
    let chromium = |extra: &[String]| {
        std::process::Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
            .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium runs")
    };
    let dom = chromium(&["--dump-dom".to_owned()]);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(!log.contains("Uncaught") && !log.contains(":CONSOLE("), "script errors: {log}");
    assert!(dom_text.contains("data-ready=\"yes\""), "the page's script ran to its end");
    assert!(dom_text.contains(&format!("data-steps=\"{steps}\"")), "one node per step ({steps})");
    let critical = dom_text.split("data-critical=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("0");
    assert!(critical.parse::<usize>().is_ok_and(|n| n >= 2), "a highlighted critical path: {critical}");

    let shot = dir.path().join("report.png");
    let screenshot = chromium(&[format!("--screenshot={}", shot.display()), "--window-size=1500,1100".to_owned()]);
    assert!(screenshot.status.success(), "{}", String::from_utf8_lossy(&screenshot.stderr));
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a screenshot of {} bytes", png.len());
}
