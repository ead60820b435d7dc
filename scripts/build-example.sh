#!/usr/bin/env bash
# Builds the example multi-stage Dockerfile (examples/multistage, five real RUN steps), stores
# it as multistage:latest and exports it as an OCI image tarball, multistage.oci.tar. Needs root
# (mounts, runc); installs the system packages it lacks through scripts/install-deps.sh.
# State lives in ./.graphbuild-example.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bash scripts/install-deps.sh
cargo build --release -q -p graphbuild
bin=${CARGO_TARGET_DIR:-$repo/target}/release/graphbuild
root=$repo/.graphbuild-example
bash scripts/make-base.sh "$root/base" busybox >/dev/null
"$bin" --root "$root" import "$root/base/busybox.tar" busybox:latest
"$bin" --root "$root" build --progress plain -t multistage:latest -o type=oci,dest=multistage.oci.tar examples/multistage
"$bin" --root "$root" history multistage:latest
echo "wrote multistage.oci.tar; rerun to see every step CACHED; try: $bin --root $root run multistage:latest"
