#!/usr/bin/env bash
# README's test command: installs what the tests need, then runs every check a reviewer runs:
# rustfmt, clippy with warnings denied, the unused-dependency check, and the whole test suite.
# Needs root (tests mount file systems and run containers; see README for machines without it).
#   scripts/test.sh [extra nextest arguments...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

bash scripts/install-deps.sh --test

step() { printf '\n== %s\n' "$*" >&2; }

step "rustfmt"
cargo fmt --all --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unused dependencies"
cargo machete

step "tests"
# Under CI=true the retry-free CI profile runs; elsewhere the default one (also retry-free).
profile=default
[ "${CI:-}" = true ] && profile=ci
cargo nextest run --workspace --locked --no-fail-fast --profile "$profile" "$@"
