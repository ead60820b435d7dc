#!/usr/bin/env bash
# A CI farm on this machine (issue 13): N workers (separate state roots, one build at a time
# each) take a queue of M builds (the shared workloads plus variants: a changed file, a changed
# build arg, another branch of a multi-stage file, each job twice as two pipelines would) and
# share one cache, or none. Prints one table row per way of sharing:
#   one root  all jobs one after another in a single root: each distinct step runs once (the
#             distinct work, the farm's floor)
#   none      no sharing: each worker caches only what it built itself
#   registry  --cache-from/--cache-to type=registry,mode=max, one cache tag per workload, on a
#             loopback docker-registry
#   reapi     --cache-from/--cache-to type=reapi,mode=max on a loopback BuildGrid 0.4.4
# with: total wall time, steps run, hit rate (1 - steps run / all the jobs' steps), loopback bytes (both ways,
# from /proc/net/dev), the REAPI cache's own up/down counts, and the slowest build.
#   benches/farm.sh   (env WORKERS=2, GRAPHBUILD=path/to/release/graphbuild, MODES="none registry reapi";
#                      the one-root run always comes first)
# Needs: the shared workloads (../shared/bench/workloads), docker-registry and BuildGrid
# (scripts/install-deps.sh --test).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${GRAPHBUILD:-$repo/target/release/graphbuild}
[ -x "$bin" ] || { echo "no $bin: cargo build --release -p graphbuild first" >&2; exit 1; }
workers=${WORKERS:-2}
modes=${MODES:-none registry reapi}
workloads=${WORKLOADS:-$repo/../shared/bench/workloads}
work=${BENCH_WORK:-/var/tmp/graphbuild-farm}
bgd=/var/cache/graphbuild-test/buildgrid-0.4.4/bin/bgd
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for r in "$work"/root-*; do [ -d "$r" ] && "$bin" --root "$r" server stop >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
cleanup; rm -rf "$work"; mkdir -p "$work/jobs"
bash "$repo/scripts/make-base.sh" "$work/base" busybox >/dev/null

# The jobs: a context directory and build flags each. Every variant is built by two pipelines.
jobs=()
job() { # NAME WORKLOAD EDIT FLAGS...
  local name=$1 workload=$2 edit=$3; shift 3
  local dir=$work/jobs/$name
  cp -r "$workloads/$workload" "$dir"
  (cd "$dir" && eval "$edit")
  printf '%s\n' "$*" > "$dir.flags"
  jobs+=("$name")
}
job hello hello true
job hello-edit hello 'echo changed >> hello.txt'
job multi multistage true
job multi-edit multistage 'echo changed >> final/$(ls final | head -1)'
job multi-test multistage true --target test
job multi-liba multistage 'echo changed >> liba/$(ls liba | head -1)'
job meta metadata true
job meta-arg metadata true --build-arg VERSION=2.0.0
job meta-name metadata true --build-arg BUILD_NAME=farm
job wide wide true
job wide-edit wide 'echo changed >> src/s03.txt'
job wide-branch wide true --target s05
queue=()
for name in "${jobs[@]}"; do queue+=("$name"); done
for name in "${jobs[@]}"; do queue+=("$name"); done
total=${#queue[@]}

lo_bytes() { awk '$1 == "lo:" { print $2 }' /proc/net/dev; }
now() { date +%s.%N; }

start_registry() {
  mkdir -p "$work/registry"
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:5919\n' \
    "$work/registry/storage" > "$work/registry/config.yml"
  docker-registry serve "$work/registry/config.yml" > "$work/registry/log" 2>&1 &
  pids+=($!)
  until (echo > /dev/tcp/127.0.0.1/5919) 2>/dev/null; do sleep 0.1; done
}

start_reapi() {
  mkdir -p "$work/reapi"
  cat > "$work/reapi/config.yml" <<EOF
server:
  - !channel
    address: "127.0.0.1:5920"
    insecure-mode: true
authorization:
  method: none
storages:
  - !lru-storage &cas
    size: 2048M
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: true
instances:
  - name: ""
    services:
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
      - !action-cache
        cache: *ac
thread-pool-size: 40
EOF
  "$bgd" server start "$work/reapi/config.yml" > "$work/reapi/log" 2>&1 &
  pids+=($!)
  until (echo > /dev/tcp/127.0.0.1/5920) 2>/dev/null; do sleep 0.1; done
  sleep 1
}

# One worker: takes the next job of the queue until none is left.
worker() { # MODE ROOT LOG
  local mode=$1 root=$2 log=$3 index name flags cache s e
  while true; do
    index=$(flock "$work/queue.lock" bash -c 'n=$(cat "$0"); echo $((n + 1)) > "$0"; echo "$n"' "$work/queue.next")
    [ "$index" -lt "$total" ] || break
    name=${queue[$index]}
    flags=$(cat "$work/jobs/$name.flags")
    case $mode in
      registry) cache="type=registry,ref=127.0.0.1:5919/cache/${name%%-*}"
                flags="$flags --cache-from $cache --cache-to $cache,mode=max" ;;
      reapi) cache="type=reapi,endpoint=grpc://127.0.0.1:5920"
             flags="$flags --cache-from $cache --cache-to $cache,mode=max" ;;
    esac
    s=$(now)
    # shellcheck disable=SC2086
    "$bin" --root "$root" build --progress plain -t "farm:$name" $flags "$work/jobs/$name" > "$log.$index" 2>&1 \
      || { echo "farm: job $name failed in $mode:" >&2; tail -5 "$log.$index" >&2; exit 1; }
    e=$(now)
    echo "$name $(echo "$e - $s" | bc)" >> "$log"
  done
}

run_mode() { # MODE
  local mode=$1 roots=$workers
  [ "$mode" = one ] && roots=1
  for w in $(seq "$roots"); do
    rm -rf "$work/root-$w"; mkdir -p "$work/root-$w"
    "$bin" --root "$work/root-$w" import "$work/base/busybox.tar" busybox:latest >/dev/null
  done
  echo 0 > "$work/queue.next"; : > "$work/queue.lock"
  rm -f "$work"/log-*
  case $mode in registry) start_registry ;; reapi) start_reapi ;; esac
  local lo0 s e
  lo0=$(lo_bytes); s=$(now)
  local running=()
  for w in $(seq "$roots"); do
    worker "$mode" "$work/root-$w" "$work/log-$w" &
    running+=($!)
  done
  for p in "${running[@]}"; do wait "$p"; done
  e=$(now)
  local lo=$(( $(lo_bytes) - lo0 ))
  local ran cached slowest
  ran=$(cat "$work"/log-*.* | sed -n 's/^built in .* (\([0-9]*\) steps\{0,1\} ran, \([0-9]*\) cached)$/\1/p' | paste -sd+ | bc)
  cached=$(cat "$work"/log-*.* | sed -n 's/^built in .* (\([0-9]*\) steps\{0,1\} ran, \([0-9]*\) cached)$/\2/p' | paste -sd+ | bc)
  slowest=$(cat "$work"/log-? | sort -k2 -g | tail -1)
  local updown=-
  if [ "$mode" = reapi ]; then
    updown="$(grep -h '^remote cache' "$work"/log-*.* | sed -n 's/.* \([0-9.]*[kMG]*B\) downloaded, \([0-9.]*[kMG]*B\) uploaded$/\1 \2/p' \
      | awk 'function b(x,  unit, n){ unit=substr(x,length(x)-1,1); n=x+0; if(unit=="k")n*=1e3; else if(unit=="M")n*=1e6; else if(unit=="G")n*=1e9; return n }
             { down+=b($1); up+=b($2) } END { printf "%.1f MB down, %.1f MB up", down/1e6, up/1e6 }')"
  fi
  # Every step of every job: the one-root run knows them all (a remote hit stops the walk, so
  # the steps under it are counted neither run nor cached).
  [ "$mode" = one ] && echo "$((ran + cached))" > "$work/all-steps"
  local all
  all=$(cat "$work/all-steps")
  printf '| %s | %d | %.1f s | %d of %d | %.0f %% | %.1f MB | %s | %s |\n' \
    "$mode" "$roots" "$(echo "$e - $s" | bc)" "$ran" "$all" "$(echo "100 * (1 - $ran / $all)" | bc -l)" \
    "$(echo "$lo / 1000000" | bc -l)" "$updown" "${slowest% *} $(printf '%.1f' "${slowest#* }") s"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
  for w in $(seq "$roots"); do "$bin" --root "$work/root-$w" server stop >/dev/null 2>&1 || true; done
}

echo "farm: $total builds (${#jobs[@]} variants, each twice), $workers workers"
echo "| sharing | workers | wall time | steps run | hit rate | loopback bytes | REAPI cache | slowest build |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
# The one-root run comes first: it counts every job's steps, and its steps run are the distinct
# work (the goal: a shared cache runs each distinct step once in the whole farm).
for mode in one $modes; do
  if [ "$mode" != one ] || [ ! -f "$work/all-steps" ]; then run_mode "$mode"; fi
done
