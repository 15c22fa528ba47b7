#!/usr/bin/env bash
# The one command that runs what CI runs: formatting, clippy with warnings as errors, the
# dependency-boundary check, and every test. On a fresh Debian machine with Rust it installs
# what the suite needs (as root, through apt-get) or stops saying what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "toolchain"
require_rust

step "system packages"
ensure_packages "${TEST_PACKAGES[@]}"

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependency boundaries"
scripts/check-deps.sh

step "tests"
cargo test --workspace --locked "$@"
