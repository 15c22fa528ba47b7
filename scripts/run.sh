#!/usr/bin/env bash
# The README's run command: the whole Regent stack on this machine in one command. On a fresh
# Debian machine with Rust it installs PostgreSQL's server binaries and the CNCF registry (as
# root, through apt-get) or stops naming them, builds `regent` and `regent-agent`, and runs
# `regent up`: a private PostgreSQL under .regent/postgres (unless REGENT_DATABASE_URL /
# DATABASE_URL is set), a local OCI registry, the control plane on http://127.0.0.1:8181 (the
# console at /console), the persona bundles pushed and signed, an admin and an auditor token
# printed, then one `regent-agent` sidecar per persona and a traffic generator replaying the
# personas' cases through them (10 decisions/s each), so the console shows a live fleet and a
# filling audit log. Stop it with Ctrl-C: the traffic stops, the sidecars flush their decision
# logs, then the server, the registry and PostgreSQL stop.
#
# Arguments go to `regent up` (see `regent up --help`), e.g. `scripts/run.sh --listen
# 127.0.0.1:9000`, `--rate 5` (decisions/s per persona), `--no-agents` (no fleet, no traffic).
#
# It builds a debug binary: the workspace compiles the policy engine and the hashing crates
# optimised even in dev builds (Cargo.toml), so the demo runs at full speed where it matters
# (pushing the three personas takes ~1 s each), the build takes about half as long as a release
# build (~5.5 min on 2 cores), and it shares every artifact with scripts/test.sh.
# REGENT_BUILD_PROFILE=release builds an optimised binary instead (for benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "toolchain"
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs), then run this again"

step "system packages"
ensure_packages "${RUN_PACKAGES[@]}"

profile=${REGENT_BUILD_PROFILE:-debug}
case "$profile" in
    debug) profile_flag=() ;;
    release) profile_flag=(--release) ;;
    *) die "REGENT_BUILD_PROFILE must be \`debug\` or \`release\`, not \`$profile\`" ;;
esac

step "build ($profile)"
# `sqlx::query!` is checked against the committed `.sqlx/` data: no database needed to build.
# `regent up` starts the `regent-agent` beside it, so both are built together.
SQLX_OFFLINE=${SQLX_OFFLINE:-true} cargo build --locked \
    -p regent-control-plane --bin regent \
    -p regent-agent --bin regent-agent \
    "${profile_flag[@]}"

step "run"
exec "${CARGO_TARGET_DIR:-target}/$profile/regent" up "$@"
