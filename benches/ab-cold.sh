#!/usr/bin/env bash
# A/B of two graphbuild release binaries on cold builds (empty root, base pulled from the
# loopback registry), alternating A B A B in one run so both see the same machine and disk:
# tells a code regression from the machine's own drift.
#   benches/ab-cold.sh OLD_BINARY NEW_BINARY [WORKLOAD_DIR...]   (env RUNS=3)
# The workload directories are the rewritten copies ../shared/bench/peer/side-by-side.sh leaves
# in /var/tmp/gb-vs-bk/wl (they build FROM 127.0.0.1:5001, which setup-buildkit.sh serves).
# Prints one line per build: workload, which binary, run, seconds, exit code.
set -uo pipefail
old=${1:?usage: ab-cold.sh OLD_BINARY NEW_BINARY [WORKLOAD_DIR...]}
new=${2:?usage: ab-cold.sh OLD_BINARY NEW_BINARY [WORKLOAD_DIR...]}
shift 2
workloads=("${@:-/var/tmp/gb-vs-bk/wl/compile}")
runs=${RUNS:-3}
work=${BENCH_WORK:-/var/tmp/graphbuild-ab}
mkdir -p "$work"
declare -A bin=([old]=$old [new]=$new)
stop_servers() {
  local who
  for who in old new; do "${bin[$who]}" --root "$work/root-$who" server stop >/dev/null 2>&1 || true; done
}
trap stop_servers EXIT
for dir in "${workloads[@]}"; do
  name=$(basename "$dir")
  for i in $(seq "$runs"); do
    for who in old new; do
      root=$work/root-$who
      "${bin[$who]}" --root "$root" server stop >/dev/null 2>&1 || true
      rm -rf "$root"
      sync
      start=$(date +%s.%N)
      "${bin[$who]}" --root "$root" build --progress plain -o "type=oci,dest=$work/$who.tar" "$dir" >"$work/$who-$name-$i.log" 2>&1
      rc=$?
      end=$(date +%s.%N)
      printf '%s %s %s %.2f rc=%s\n' "$name" "$who" "$i" "$(echo "$end - $start" | bc)" "$rc"
    done
  done
done
