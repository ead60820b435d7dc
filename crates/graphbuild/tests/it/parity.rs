//! Where graphbuild must build what BuildKit builds (issue 11): each case names the BuildKit
//! behaviour it checks (v0.32.2, `frontend/dockerfile/dockerfile2llb` and its integration tests).

use serde_json::Value;

use crate::engine::{Env, assert_ok, write};

/// `FROM scratch` starts from BuildKit's empty image (`emptyImage` in dockerfile2llb): the
/// root as working directory and the default PATH.
#[test]
fn a_scratch_image_has_the_root_as_workdir_and_the_default_path() {
    let env = Env::new();
    let context = tempfile::tempdir().expect("context");
    write(context.path(), "Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n");
    write(context.path(), "a.txt", "scratch");
    let output =
        env.cmd(&["build", "--progress", "plain", "-t", "parity:scratch"]).arg(context.path()).output().expect("build");
    assert_ok(&output);
    let inspect = env.cmd(&["image", "inspect", "parity:scratch"]).output().expect("inspect");
    assert_ok(&inspect);
    let image: Value = serde_json::from_slice(&inspect.stdout).expect("inspect JSON");
    let config = &image[0]["Config"];
    assert_eq!(config["WorkingDir"], "/", "{config}");
    assert_eq!(config["Env"], serde_json::json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]));
}
