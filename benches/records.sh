#!/usr/bin/env bash
# What recording builds costs (issue 12): no-op rebuilds of examples/multistage with build
# records on (the default) against off (`[builds] keep = 0` in config.toml), alternating, each
# on a warm root of its own. Prints the median wall time of each and their ratio (goal: on is
# within 5% of off).
#   benches/records.sh      (env RUNS=15, GRAPHBUILD=path/to/release/graphbuild)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${GRAPHBUILD:-$repo/target/release/graphbuild}
[ -x "$bin" ] || { echo "no $bin: cargo build --release -p graphbuild first" >&2; exit 1; }
runs=${RUNS:-15}
work=${BENCH_WORK:-/var/tmp/graphbuild-records}
example=$repo/examples/multistage
stop_all() { for r in "$work"/root-*; do if [ -d "$r" ]; then "$bin" --root "$r" server stop >/dev/null 2>&1 || true; fi; done; }
trap stop_all EXIT
stop_all; rm -rf "$work"; mkdir -p "$work"
bash "$repo/scripts/make-base.sh" "$work/base" busybox >/dev/null
for mode in on off; do
  root=$work/root-$mode
  mkdir -p "$root"
  [ "$mode" = off ] && printf '[builds]\nkeep = 0\n' > "$root/config.toml"
  "$bin" --root "$root" import "$work/base/busybox.tar" busybox:latest >/dev/null
  "$bin" --root "$root" build -q -t bench "$example" >/dev/null # warm: everything cached after this
done
now() { date +%s.%N; }
med() { sort -g | awk '{a[NR]=$1} END{if (NR) print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
on=(); off=()
for _ in $(seq "$runs"); do
  for mode in on off; do
    s=$(now)
    "$bin" --root "$work/root-$mode" build -q -t bench "$example" >/dev/null
    t=$(echo "($(now) - $s) * 1000" | bc)
    if [ "$mode" = on ]; then on+=("$t"); else off+=("$t"); fi
  done
done
m_on=$(printf '%s\n' "${on[@]}" | med); m_off=$(printf '%s\n' "${off[@]}" | med)
records=$(ls "$work/root-on/builds" | wc -l)
printf 'no-op rebuild of examples/multistage, median of %d: records on %.1f ms, off %.1f ms, on/off %.3f (%d records kept)\n' \
  "$runs" "$m_on" "$m_off" "$(echo "$m_on / $m_off" | bc -l)" "$records"
