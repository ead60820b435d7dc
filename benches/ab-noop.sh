#!/usr/bin/env bash
# A/B of two graphbuild release binaries on no-op rebuilds, alternating A B A B in one run:
# each binary gets a warm root of its own (two builds first), then RUNS no-op builds each.
#   benches/ab-noop.sh OLD_BINARY NEW_BINARY [WORKLOAD_DIR]   (env RUNS=11)
# Prints each binary's median and spread in milliseconds.
set -uo pipefail
old=${1:?usage: ab-noop.sh OLD_BINARY NEW_BINARY [WORKLOAD_DIR]}
new=${2:?usage: ab-noop.sh OLD_BINARY NEW_BINARY [WORKLOAD_DIR]}
dir=${3:-/var/tmp/gb-vs-bk/wl/bigctx}
runs=${RUNS:-11}
work=${BENCH_WORK:-/var/tmp/graphbuild-ab-noop}
declare -A bin=([old]=$old [new]=$new)
build() { "${bin[$1]}" --root "$work/root-$1" build --progress plain -o "type=oci,dest=$work/$1.tar" "$dir" >"$work/$1.log" 2>&1; }
stop_servers() {
  local who
  for who in old new; do "${bin[$who]}" --root "$work/root-$who" server stop >/dev/null 2>&1 || true; done
}
trap stop_servers EXIT
stop_servers
rm -rf "$work"
mkdir -p "$work"
for who in old new; do build "$who" && build "$who" || { echo "$who: the warm-up build failed, see $work/$who.log" >&2; exit 1; }; done
for _ in $(seq "$runs"); do
  for who in old new; do
    start=$(date +%s%N)
    build "$who" || { echo "$who: a build failed, see $work/$who.log" >&2; exit 1; }
    end=$(date +%s%N)
    echo "$who $(( (end - start) / 1000000 ))" >>"$work/times"
  done
done
for who in old new; do
  grep "^$who " "$work/times" | cut -d' ' -f2 | sort -n |
    awk -v who="$who" '{a[NR]=$1} END {printf "%s: median %d ms (%d-%d), %d runs\n", who, a[int((NR+1)/2)], a[1], a[NR], NR}'
done
