#!/usr/bin/env bash
# Runs the benchmark workloads of ../shared/bench/workloads (cold, no-op and touch builds) and
# prints median wall seconds and peak RSS per scenario, as a Markdown table for BENCHMARKS.md.
#   benches/workloads.sh [WORKLOAD...]      (default: hello multistage wide metadata bigctx)
# Needs root (mounts, runc). Uses target/release/graphbuild (built if missing), a busybox base
# made by scripts/make-base.sh, and BENCH_WORK (default /var/tmp/graphbuild-bench).
# The export is an OCI image tarball (`-o type=oci`, gzip layers), as in BuildKit's figures; EXPORT=tar
# exports the root file system as a tar instead.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$repo/../shared/bench
work=${BENCH_WORK:-/var/tmp/graphbuild-bench}
runs=${RUNS:-3}
bin=${GRAPHBUILD:-$repo/target/release/graphbuild}
[ -x "$bin" ] || (cd "$repo" && cargo build --release -p graphbuild >&2)
mkdir -p "$work"
bash "$repo/scripts/make-base.sh" "$work/base" busybox >&2
workloads=("$@"); [ ${#workloads[@]} -gt 0 ] || workloads=(hello multistage wide metadata bigctx)

touch_file() {
  case "$1" in
    hello) echo hello.txt ;; multistage) echo final/$(ls "$2/final" | head -1) ;; wide) echo final.txt ;;
    bigctx) echo app.txt ;; compile) echo final/motd.txt ;; metadata) echo app/settings.conf ;;
  esac
}
# timed LABEL CMD...: appends "wall_s rss_kb" for one run to $work/times.
timed() { /usr/bin/time -f "%e %M" -o "$work/one" "$@" >/dev/null 2>"$work/log" || { cat "$work/log" >&2; exit 1; }; cat "$work/one"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| workload | cold s | no-op s | touch s | peak RSS MB (cold) |"
echo "|---|---|---|---|---|"
for w in "${workloads[@]}"; do
  src=$shared/workloads/$w; ctx=$work/ctx/$w
  if [ ! -d "$ctx" ]; then mkdir -p "$work/ctx"; cp -a "$src" "$ctx"; [ -x "$ctx/gen.sh" ] && "$ctx/gen.sh" >&2; fi
  if [ "$w" = compile ]; then bash "$repo/scripts/make-base.sh" "$work/base" debian-gcc >&2; fi
  cold=(); noop=(); touchs=(); rss=()
  for i in $(seq "$runs"); do
    state=$work/state/$w; rm -rf "$state"; mkdir -p "$state"
    "$bin" --root "$state" import "$work/base/busybox.tar" busybox:latest >/dev/null
    [ "$w" = compile ] && "$bin" --root "$state" import "$work/base/debian-gcc.tar" debian-gcc:bookworm >/dev/null
    build=("$bin" --root "$state" build --progress plain -o "type=${EXPORT:-oci},dest=$work/out.tar" "$ctx")
    read -r t m < <(timed "${build[@]}"); cold+=("$t"); rss+=("$m")
    read -r t m < <(timed "${build[@]}"); noop+=("$t")
    echo "touch $i" >> "$ctx/$(touch_file "$w" "$ctx")"
    read -r t m < <(timed "${build[@]}"); touchs+=("$t")
  done
  printf '| %s | %s | %s | %s | %s |\n' "$w" \
    "$(printf '%s\n' "${cold[@]}" | median)" "$(printf '%s\n' "${noop[@]}" | median)" \
    "$(printf '%s\n' "${touchs[@]}" | median)" "$(( $(printf '%s\n' "${rss[@]}" | median) / 1024 ))"
done
