#!/usr/bin/env bash
# The one list of system packages graphbuild needs: installs whichever of them the package
# manager says are missing. `--test` adds the tools the test suite drives (a registry, image
# checkers, htpasswd) and the cargo tools of the checks (cargo-nextest, cargo-machete).
#   scripts/install-deps.sh [--test]
# Detection asks dpkg, never a file glob: another package's file (libclang-cpp14's
# libclang-cpp.so) once satisfied a glob meant for libclang-dev and hid a missing install.
set -euo pipefail

# Building and running: runc runs RUN steps; slirp4netns gives a RUN without --network its
# private network with outbound access (a user-mode stack, so the host's loopback stays out of
# reach); busybox-static makes the example's base image; librocksdb-dev + libclang-dev link the
# rocksdb crate against Debian's RocksDB (bindgen needs libclang); git serves ADD of git URLs;
# pkg-config finds the system libraries.
# openssh-client's ssh-agent serves the key files of `--ssh ID=KEY` (its ssh-add and ssh-keygen
# drive the `--ssh` tests).
build_packages=(runc slirp4netns busybox-static librocksdb-dev libclang-dev git pkg-config openssh-client)
# Testing: skopeo and umoci check exported images independently; docker-registry serves the
# registry tests and apache2-utils brings htpasswd for their authentication.
# qemu-user-static emulates arm64 for the multi-platform test (its binfmt_misc handler is
# registered by the test), whose arm64 base is Debian's busybox-static:arm64, downloaded below.
# chromium renders `builds show --format html` headless for the report's browser test.
# python3-venv holds BuildGrid (from PyPI, below), the REAPI server of the remote cache tests;
# openssl makes the certificates of its TLS test.
test_packages=(skopeo umoci docker-registry apache2-utils qemu-user-static chromium python3-venv openssl)
# Cargo tools of the test command, pinned so two machines run the same checks.
nextest_version=0.9.143
machete_version=0.9.2

with_test=false
for arg in "$@"; do
  case "$arg" in
    --test) with_test=true ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown argument $arg (usage: install-deps.sh [--test])" >&2; exit 2 ;;
  esac
done

packages=("${build_packages[@]}")
$with_test && packages+=("${test_packages[@]}")

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for package in "${packages[@]}"; do
  installed "$package" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: installing packages needs root; run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if $with_test; then
  # Debian's docker-registry package starts a system service on port 5000; the tests start
  # their own registries on free loopback ports, so the packaged one only takes a port.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
  cargo_tool() {
    local binary=$1 crate=$2 version=$3
    if ! command -v "$binary" >/dev/null 2>&1 || ! "$binary" --version 2>/dev/null | grep -q "$version"; then
      echo "install-deps.sh: installing $crate $version" >&2
      cargo install --locked --quiet "$crate" --version "$version"
    fi
  }
  # The multi-platform test's arm64 busybox: the package file itself (never installed), kept
  # where gb-test-support looks for it.
  arm64_debs=/var/cache/graphbuild-test
  if ! compgen -G "$arm64_debs/busybox-static_*_arm64.deb" >/dev/null; then
    echo "install-deps.sh: downloading busybox-static:arm64 into $arm64_debs" >&2
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    apt-get update -q >/dev/null
    mkdir -p "$arm64_debs"
    (cd "$arm64_debs" && apt-get download -q busybox-static:arm64 >/dev/null 2>&1)
  fi
  # BuildGrid serves REAPI (CAS, ActionCache, ByteStream) to the remote cache tests; 0.4.4 is
  # the newest release for Debian 12's Python 3.11. gb-test-support looks for it here.
  buildgrid=/var/cache/graphbuild-test/buildgrid-0.4.4
  if [ ! -x "$buildgrid/bin/bgd" ]; then
    echo "install-deps.sh: installing BuildGrid 0.4.4 into $buildgrid" >&2
    rm -rf "$buildgrid"
    /usr/bin/python3 -m venv "$buildgrid"
    "$buildgrid/bin/pip" install -q buildgrid==0.4.4 >/dev/null
  fi
  cargo_tool cargo-machete cargo-machete "$machete_version"
  command -v cargo-nextest >/dev/null 2>&1 || cargo_tool cargo-nextest cargo-nextest "$nextest_version"
fi
