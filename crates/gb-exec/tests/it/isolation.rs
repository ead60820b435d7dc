//! What the container may see and do: network, capabilities, masked paths.

use std::path::Path;

use crate::support::Fixture;
use gb_exec::Network;

/// The interface names in a `/proc/net/dev` listing.
pub fn interfaces(proc_net_dev: &str) -> Vec<String> {
    let mut names: Vec<String> =
        proc_net_dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(|n| n.trim().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn isolated_network_has_only_loopback_and_it_is_up() {
    let fx = Fixture::new();
    let mut spec = fx.sh("cat /proc/net/dev; echo ---; ls /sys/class/net; echo ---; ip -o link show lo");
    spec.network = Network::Isolated;
    let out = fx.run("isolated", &spec).await.expect("run");
    let parts: Vec<&str> = out.stdout.split("---\n").collect();
    assert_eq!(interfaces(parts[0]), ["lo"], "{}", out.stdout);
    assert_eq!(parts[1], "lo\n");
    assert!(parts[2].contains("UP"), "lo is down: {}", parts[2]);
}

#[tokio::test]
async fn host_network_sees_the_hosts_interfaces() {
    let fx = Fixture::new();
    let mut spec = fx.sh("cat /proc/net/dev");
    spec.network = Network::Host;
    let out = fx.run("host-net", &spec).await.expect("run");
    let host = std::fs::read_to_string("/proc/net/dev").expect("host /proc/net/dev");
    assert_eq!(interfaces(&out.stdout), interfaces(&host));
    assert!(interfaces(&host).len() > 1, "this host has only loopback; the test proves little");
}

#[tokio::test]
async fn capabilities_are_dockers_default_set() {
    let fx = Fixture::new();
    let out = fx.sh_ok("caps", "grep -E '^Cap(Eff|Prm|Bnd|Inh|Amb)' /proc/self/status").await;
    let docker = gb_exec::capability_mask(gb_exec::DOCKER_DEFAULT_CAPABILITIES);
    let expected = format!(
        "CapInh:\t{none:016x}\nCapPrm:\t{docker:016x}\nCapEff:\t{docker:016x}\nCapBnd:\t{docker:016x}\nCapAmb:\t{none:016x}\n",
        none = 0
    );
    assert_eq!(out.stdout, expected);
    assert_eq!(docker, 0xa804_25fb);
}

#[tokio::test]
async fn privileged_gets_every_capability_the_host_holds_and_no_masks() {
    let fx = Fixture::new();
    let mut spec = fx.sh("grep CapEff /proc/self/status");
    spec.privileged = true;
    let out = fx.run("privileged", &spec).await.expect("run");
    let host = std::fs::read_to_string("/proc/self/status").expect("status");
    let bounding = host.lines().find_map(|l| l.strip_prefix("CapBnd:")).expect("CapBnd").trim();
    assert_eq!(out.stdout.lines().next(), Some(format!("CapEff:\t{bounding}").as_str()), "{}", out.stderr);
}

#[tokio::test]
async fn docker_masked_and_readonly_paths_apply() {
    let fx = Fixture::new();
    // Masked files become /dev/null and masked directories an empty read-only tmpfs; kernels
    // differ in which of Docker's paths exist, so the check uses one of each that this one has.
    let file = ["/proc/timer_list", "/proc/keys", "/proc/kcore"].into_iter().find(|p| Path::new(p).exists());
    let dir = ["/sys/firmware", "/proc/acpi"].into_iter().find(|p| Path::new(p).is_dir());
    let (Some(file), Some(dir)) = (file, dir) else { panic!("no masked path exists on this host") };
    let script = format!("wc -c < {file}; ls -A {dir} | wc -l; echo x > /proc/sys/kernel/domainname && echo writable");
    let out = fx.sh_ok("masked", &script).await;
    assert_eq!(out.stdout, "0\n0\n", "{}", out.stderr);
    assert!(out.stderr.contains("Read-only"), "{}", out.stderr);
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

#[tokio::test]
async fn bundles_holding_the_env_are_private_to_their_owner() {
    use std::time::Duration;
    let fx = Fixture::new();
    let exec = fx.dir.path().join("exec");
    for dir in [exec.clone(), exec.join("state"), exec.join("bundles")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    let mut spec = fx.sh("sleep 3608");
    spec.env.push("SECRET=hunter2".to_owned());
    let cancel = tokio_util::sync::CancellationToken::new();
    let bundle = exec.join("bundles/private");
    let config = bundle.join("config.json");
    // Looked at while the container runs: the bundle is removed when it ends.
    let check_then_cancel = async {
        let started = std::time::Instant::now();
        while !config.exists() {
            assert!(started.elapsed() < Duration::from_secs(20), "no config.json appeared");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let modes = (mode(&bundle), mode(&config));
        cancel.cancel();
        modes
    };
    let (result, modes) = tokio::join!(fx.runtime.run("private", &spec, &|_, _| {}, cancel.clone()), check_then_cancel);
    assert!(matches!(result, Err(gb_exec::ExecError::Cancelled)), "{result:?}");
    assert_eq!(modes, (0o700, 0o600), "bundle dir and config.json modes");
}
