#!/usr/bin/env bash
# Concurrent builds on one state root (one server, one engine) against the same builds on
# separate roots (a server each), and how fast image commands answer while builds run.
#   benches/concurrent.sh            (env RUNS=3, N=8, GRAPHBUILD=path/to/release/graphbuild,
#                                     MAXP=n: the one-root server's --max-parallelism)
# The N Dockerfiles share the busybox base and nothing else: each RUN is CPU work of its own
# (no step is shared, so the one-root engine gains nothing from deduplication). Every run starts
# from fresh roots with the base imported (not timed). Prints medians of the wall time of all N
# builds started together, their ratio, and the median and maximum of `graphbuild images` run
# back to back while the one-root builds run (in a run of their own, not the timed one).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${GRAPHBUILD:-$repo/target/release/graphbuild}
[ -x "$bin" ] || { echo "no $bin: cargo build --release -p graphbuild first" >&2; exit 1; }
runs=${RUNS:-3}; n=${N:-8}
work=${BENCH_WORK:-/var/tmp/graphbuild-concurrent}
rm -rf "$work"; mkdir -p "$work"
bash "$repo/scripts/make-base.sh" "$work/base" busybox >/dev/null
for i in $(seq "$n"); do
  mkdir -p "$work/ctx$i"
  printf 'FROM busybox\nRUN seq 1 %d | md5sum > /a\nRUN seq 1 %d | sha1sum > /b\nCOPY . /ctx\n' \
    $((300000 + i)) $((200000 + i)) > "$work/ctx$i/Dockerfile"
  echo "$i" > "$work/ctx$i/file"
done
now() { date +%s.%N; }
med() { sort -g | awk '{a[NR]=$1} END{if (NR) print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
stop_all() { for r in "$work"/root*; do [ -d "$r" ] && "$bin" --root "$r" server stop >/dev/null 2>&1; done; rm -rf "$work"/root*; }
fresh() { # fresh roots with the base imported and their servers started
  stop_all
  for r in "$@"; do "$bin" --root "$r" import "$work/base/busybox.tar" busybox:latest >/dev/null; done
}
# All N builds on one root, started together; with `sample`, `graphbuild images` runs back to
# back meanwhile (a separate run: the sampling's own load is not in the timed one).
one_root() {
  fresh "$work/root-one"
  if [ -n "${MAXP:-}" ]; then # the one-root server with another whole-root bound
    "$bin" --root "$work/root-one" server stop >/dev/null
    "$bin" --root "$work/root-one" server start --max-parallelism "$MAXP" >/dev/null
  fi
  local s pids=() i
  s=$(now)
  for i in $(seq "$n"); do "$bin" --root "$work/root-one" build -o "type=oci,dest=$work/one-$i.tar" "$work/ctx$i" >"$work/one-$i.log" 2>&1 & pids+=($!); done
  if [ "${1:-}" = sample ]; then
    while kill -0 "${pids[0]}" 2>/dev/null; do
      a=$(now); "$bin" --root "$work/root-one" images >/dev/null; b=$(now)
      lat+=("$(echo "($b - $a) * 1000" | bc)")
    done
  fi
  for i in "${pids[@]}"; do wait "$i" || { echo "a one-root build failed" >&2; exit 1; }; done
  elapsed=$(echo "$(now) - $s" | bc)
}
one=(); many=(); lat=()
for _ in $(seq "$runs"); do
  one_root; one+=("$elapsed")

  roots=(); for i in $(seq "$n"); do roots+=("$work/root$i"); done
  fresh "${roots[@]}"
  s=$(now); pids=()
  for i in $(seq "$n"); do "$bin" --root "$work/root$i" build -o "type=oci,dest=$work/many-$i.tar" "$work/ctx$i" >"$work/many-$i.log" 2>&1 & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || { echo "a separate-root build failed" >&2; exit 1; }; done
  many+=("$(echo "$(now) - $s" | bc)")

  one_root sample
done
stop_all; "$bin" --root "$work/root-one" server stop >/dev/null 2>&1 || true
om=$(printf '%s\n' "${one[@]}" | med); mm=$(printf '%s\n' "${many[@]}" | med)
lm=$(printf '%s\n' "${lat[@]}" | med); lx=$(printf '%s\n' "${lat[@]}" | sort -g | tail -1)
l9=$(printf '%s\n' "${lat[@]}" | sort -g | awk '{a[NR]=$1} END{i=int(NR*0.9); if (i<1) i=1; print a[i]}')
echo "| $n builds at once | one root s | $n roots s | ratio | images during the builds: median ms | p90 ms | max ms | samples |"
echo "|---|---|---|---|---|---|---|---|"
printf '| %s runs | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f | %d |\n' "$runs" "$om" "$mm" "$(echo "$om / $mm" | bc -l)" "$lm" "$l9" "$lx" "${#lat[@]}"
