#!/usr/bin/env bash
# The container life cycle (issue 14), timed through the root's server as a user types it:
#   run       `run --rm busybox true` (create, mount, runc, unmount, remove), attached
#   run -d    `run -d busybox sleep 60` until the id is printed (the container is running)
#   stop      `stop -t 0` of that container (SIGTERM, then SIGKILL at once)
#   rm        `rm` of the stopped container
#   commit    `commit` of a stopped container whose changes are one 64 MiB file
#   commit*   the same container's commit while it runs (frozen with runc pause for the read)
#   export    `export -o FILE` of the stopped container (busybox plus the 64 MiB file)
# Prints the median and the spread (min–max) of N runs of each, in milliseconds.
#   benches/containers.sh   (env RUNS=15, GRAPHBUILD=path/to/release/graphbuild)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${GRAPHBUILD:-$repo/target/release/graphbuild}
[ -x "$bin" ] || { echo "no $bin: cargo build --release -p graphbuild first" >&2; exit 1; }
runs=${RUNS:-15}
work=${BENCH_WORK:-/var/tmp/graphbuild-containers}
root=$work/root
gb() { "$bin" --root "$root" "$@"; }
cleanup() { [ -d "$root" ] && gb server stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup; rm -rf "$work"; mkdir -p "$work"
bash "$repo/scripts/make-base.sh" "$work/base" busybox >/dev/null
gb import "$work/base/busybox.tar" busybox >/dev/null
gb server start >/dev/null

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# Times one command (its output dropped); appends the milliseconds to the named array.
timed() {
  local -n into=$1; shift
  local start; start=$(now_ms)
  "$@" >/dev/null
  into+=($(( $(now_ms) - start )))
}
report() { # NAME VALUES...
  local name=$1; shift
  local sorted; sorted=$(printf '%s\n' "$@" | sort -n)
  local count; count=$(wc -l <<<"$sorted")
  local median; median=$(sed -n "$(( (count + 1) / 2 ))p" <<<"$sorted")
  printf '%-8s %6s ms   (%s–%s ms, %s runs)\n' "$name" "$median" "$(head -1 <<<"$sorted")" "$(tail -1 <<<"$sorted")" "$count"
}

gb run --rm busybox true >/dev/null # warm: the server has mounted once
run=() detach=() stop=() remove=() commit=() commit_running=() export=()
for i in $(seq "$runs"); do
  timed run gb run --rm busybox true
  start=$(now_ms); id=$(gb run -d busybox sleep 60); detach+=($(( $(now_ms) - start )))
  timed stop gb stop -t 0 "$id"
  timed remove gb rm "$id"

  gb run --name "big$i" busybox sh -c 'head -c 67108864 /dev/urandom > /big' >/dev/null
  timed commit gb commit "big$i" "big:$i"
  timed export gb export -o "$work/export.tar" "big$i"
  gb rm "big$i" >/dev/null
  gb rmi "big:$i" >/dev/null

  gb run -d --name "live$i" busybox sh -c 'head -c 67108864 /dev/urandom > /big; exec sleep 60' >/dev/null
  until gb diff "live$i" | grep -q '^A /big$'; do sleep 0.05; done
  sleep 0.5 # the file is written
  timed commit_running gb commit "live$i" "live:$i"
  gb rm -f "live$i" >/dev/null
  gb rmi "live:$i" >/dev/null
done
report run "${run[@]}"
report 'run -d' "${detach[@]}"
report stop "${stop[@]}"
report rm "${remove[@]}"
report commit "${commit[@]}"
report commit* "${commit_running[@]}"
report export "${export[@]}"
