//! The per-exec overhead: `cargo test -p gb-exec --test it -- --ignored --nocapture per_exec`.

use std::time::{Duration, Instant};

use crate::support::Fixture;

#[tokio::test]
#[ignore = "a measurement, not a check; run with --ignored --nocapture"]
async fn per_exec_overhead_of_bin_true() {
    measure(gb_exec::Network::Private).await;
}

/// The same on the host's network, which needs no namespace nor slirp4netns: the difference is
/// the private network's cost.
#[tokio::test]
#[ignore = "a measurement, not a check; run with --ignored --nocapture"]
async fn per_exec_overhead_of_bin_true_on_the_host_network() {
    measure(gb_exec::Network::Host).await;
}

async fn measure(network: gb_exec::Network) {
    let fx = Fixture::new();
    let mut spec = gb_exec::ContainerSpec::new(&fx.rootfs, vec!["/bin/true".to_owned()]);
    spec.network = network;
    let mut times: Vec<Duration> = Vec::new();
    for i in 0..21 {
        let started = Instant::now();
        let out = fx.run(&format!("bench-{i}"), &spec).await.expect("run");
        assert_eq!(out.code, 0);
        // The first run warms the page cache for runc and busybox; it is not counted.
        if i > 0 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    let median = (times[9] + times[10]) / 2;
    println!(
        "gb-exec /bin/true ({network:?} network): median {median:?}, min {:?}, max {:?} over {} runs",
        times[0],
        times[19],
        times.len()
    );
}
