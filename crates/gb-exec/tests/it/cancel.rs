//! Cancellation and cleanup: nothing outlives a run, however it ends.

use std::time::{Duration, Instant};

use gb_exec::ExecError;
use tokio_util::sync::CancellationToken;

use crate::support::Fixture;

#[tokio::test]
async fn cancellation_kills_the_container() {
    let fx = Fixture::new();
    // A duration no other process uses, so the container's process can be told apart.
    let command = ["sleep", "3607"];
    let spec = gb_exec::ContainerSpec::new(&fx.rootfs, command.iter().map(|&arg| arg.to_owned()).collect());
    let cancel = CancellationToken::new();
    let fire_once_running = async {
        while !gb_test_support::process_alive(&command) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(fx.runtime.run("cancelled", &spec, &|_, _| {}, cancel.clone()), fire_once_running);
    // The run ended by cancellation, not by the sleep finishing, and took its process with it.
    assert!(matches!(result, Err(ExecError::Cancelled)), "{result:?}");
    assert!(!gb_test_support::process_alive(&command), "the container's process outlived the cancelled run");
    assert!(fx.listed_containers().is_empty());
    assert!(fx.leftover_bundles().is_empty());
}

#[tokio::test]
async fn cancellation_right_after_start_leaves_nothing() {
    let fx = Fixture::new();
    let spec = gb_exec::ContainerSpec::new(&fx.rootfs, vec!["sleep".to_owned(), "60".to_owned()]);
    // Fired while runc is still creating the container: `runc kill` must be retried.
    for delay in [0, 5, 15, 30] {
        let cancel = CancellationToken::new();
        let id = format!("early-{delay}");
        let fire = async {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            cancel.cancel();
        };
        let (result, ()) = tokio::join!(fx.runtime.run(&id, &spec, &|_, _| {}, cancel.clone()), fire);
        // Cancelled, not finished: the sleep was killed rather than waited for.
        assert!(matches!(result, Err(ExecError::Cancelled)), "{delay} ms: {result:?}");
    }
    assert!(fx.listed_containers().is_empty());
    assert!(fx.leftover_bundles().is_empty());
}

#[tokio::test]
async fn a_dropped_run_is_still_cleaned_up() {
    let fx = Fixture::new();
    let spec = gb_exec::ContainerSpec::new(&fx.rootfs, vec!["sleep".to_owned(), "60".to_owned()]);
    let run = fx.runtime.run("dropped", &spec, &|_, _| {}, CancellationToken::new());
    assert!(tokio::time::timeout(Duration::from_millis(500), run).await.is_err());
    // The clean-up runs in the background after the drop; poll for it with a generous bound.
    let started = Instant::now();
    while (!fx.listed_containers().is_empty() || !fx.leftover_bundles().is_empty())
        && started.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fx.listed_containers().is_empty());
    assert!(fx.leftover_bundles().is_empty());
}

#[tokio::test]
async fn delete_all_removes_containers_left_running() {
    let fx = Fixture::new();
    // A container created but never started, as a crashed graphbuild could leave one.
    let bundle = fx.dir.path().join("stray");
    std::fs::create_dir(&bundle).expect("mkdir");
    let config =
        fx.runtime.oci_config(&gb_exec::ContainerSpec::new(&fx.rootfs, vec!["true".to_owned()])).expect("config");
    std::fs::write(bundle.join("config.json"), serde_json::to_vec(&config).expect("json")).expect("write");
    let status = std::process::Command::new(fx.runtime.runc_path())
        .arg("--root")
        .arg(fx.runtime.state_root())
        .args(["create", "--bundle"])
        .arg(&bundle)
        .arg("stray")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("runc create");
    assert!(status.success());
    assert_eq!(fx.listed_containers(), ["stray"]);
    assert_eq!(fx.runtime.delete_all().await.expect("delete_all"), ["stray"]);
    assert!(fx.listed_containers().is_empty());
}
