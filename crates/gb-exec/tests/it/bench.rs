//! The per-exec overhead: `cargo test -p gb-exec --test it -- --ignored --nocapture per_exec`.

use std::time::{Duration, Instant};

use crate::support::Fixture;

#[tokio::test]
#[ignore = "a measurement, not a check; run with --ignored --nocapture"]
async fn per_exec_overhead_of_bin_true() {
    let fx = Fixture::new();
    let spec = gb_exec::ContainerSpec::new(&fx.rootfs, vec!["/bin/true".to_owned()]);
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
    println!("gb-exec /bin/true: median {median:?}, min {:?}, max {:?} over {} runs", times[0], times[19], times.len());
}
