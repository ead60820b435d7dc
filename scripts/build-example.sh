#!/usr/bin/env bash
# Builds the example multi-stage Dockerfile (examples/multistage, five real RUN steps), stores
# it as multistage:latest and exports it as an OCI image tarball, multistage.oci.tar. Needs root (mounts, runc) and Debian's
# runc + busybox-static (installed here if missing). State lives in ./.graphbuild-example.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
missing=()
command -v runc >/dev/null 2>&1 || missing+=(runc)
[ -x /bin/busybox ] || missing+=(busybox-static)
[ -e /usr/include/rocksdb/db.h ] || missing+=(librocksdb-dev)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-dev)
if [ ${#missing[@]} -gt 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; fi
cargo build --release -q -p graphbuild
bin=${CARGO_TARGET_DIR:-$repo/target}/release/graphbuild
root=$repo/.graphbuild-example
bash scripts/make-base.sh "$root/base" busybox >/dev/null
"$bin" --root "$root" import "$root/base/busybox.tar" busybox:latest
"$bin" --root "$root" build --progress plain -t multistage:latest -o type=oci,dest=multistage.oci.tar examples/multistage
"$bin" --root "$root" history multistage:latest
echo "wrote multistage.oci.tar; rerun to see every step CACHED; try: $bin --root $root run multistage:latest"
