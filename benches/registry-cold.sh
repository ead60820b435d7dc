#!/usr/bin/env bash
# Cold builds whose base image comes from a registry on loopback (Debian's docker-registry), as
# BuildKit's reference figures were taken: each workload's `busybox:latest` is rewritten to the
# local registry, and every run starts from an empty state root, so busybox is pulled each time.
#   benches/registry-cold.sh [WORKLOAD...]    (default: hello multistage wide metadata)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$repo/../shared/bench
work=${BENCH_WORK:-/var/tmp/graphbuild-regbench}
runs=${RUNS:-3}
bin=${GRAPHBUILD:-$repo/target/release/graphbuild}
[ -x "$bin" ] || (cd "$repo" && cargo build --release -p graphbuild >&2)
[ -x /usr/bin/docker-registry ] || { apt-get update -q >&2; apt-get install -y -q docker-registry >&2; }
rm -rf "$work"; mkdir -p "$work/storage"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$work/storage" "$port" > "$work/config.yml"
/usr/bin/docker-registry serve "$work/config.yml" > "$work/registry.log" 2>&1 &
registry=$!; trap 'kill $registry' EXIT
sleep 1
bash "$repo/scripts/make-base.sh" "$work/base" busybox >&2
"$bin" --root "$work/seed" import "$work/base/busybox.tar" busybox:latest >/dev/null
"$bin" --root "$work/seed" tag busybox "127.0.0.1:$port/library/busybox:latest"
"$bin" --root "$work/seed" push "127.0.0.1:$port/library/busybox:latest" >/dev/null
workloads=("$@"); [ ${#workloads[@]} -gt 0 ] || workloads=(hello multistage wide metadata)
echo "| workload | cold s (base pulled from a loopback registry) |"
echo "|---|---|"
for w in "${workloads[@]}"; do
  ctx=$work/ctx-$w; cp -a "$shared/workloads/$w" "$ctx"
  sed -i "s|busybox:latest|127.0.0.1:$port/library/busybox:latest|g" "$ctx/Dockerfile"
  times=()
  for i in $(seq "$runs"); do
    root=$work/root-$w-$i
    /usr/bin/time -f "%e" -o "$work/t" "$bin" --root "$root" build --progress plain -o "type=oci,dest=$root/out.tar" "$ctx" >/dev/null 2>&1
    times+=("$(cat "$work/t")")
  done
  printf '| %s | %s |\n' "$w" "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
done
