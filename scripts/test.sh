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

# `sqlx::query!` is checked against the committed `.sqlx/` data, not a live database.
export SQLX_OFFLINE=${SQLX_OFFLINE:-true}

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependency boundaries"
scripts/check-deps.sh
# The agent builds the bundle crate without signing; make sure that configuration compiles.
cargo check --locked -p regent-bundle --no-default-features

step "deployment files"
deploy/check.sh

step "test database"
provide_test_database

step "tests"
cargo test --workspace --locked "$@"
