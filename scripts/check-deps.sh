#!/usr/bin/env bash
# The agent side (bundle and protocol crates, and later the agent client) must never compile the
# server stack. Fails naming the crate that pulled a forbidden dependency in.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(axum|axum-core|sqlx|sqlx-core|askama|askama_web|tower-http)$'
status=0
check() {
    local pkg=$1; shift
    local deps
    deps=$(cargo tree --locked -p "$pkg" "$@" -e normal --prefix none --format '{p}' 2>/dev/null | awk '{print $1}' | sort -u)
    # reqwest 0.13 (the one HTTP client, also oci-client's) always depends on tower-http for its client-side
    # redirect/decompression layers; that is not the server stack. Allowed only while reqwest is its sole user.
    if grep -qx tower-http <<<"$deps"; then
        local users
        users=$(cargo tree --locked -p "$pkg" "$@" -e normal -i tower-http --depth 1 --prefix none --format '{p}' 2>/dev/null \
            | awk 'NR > 1 {print $1}' | sort -u)
        if [ "$users" = reqwest ]; then
            deps=$(grep -vx tower-http <<<"$deps")
        fi
    fi
    local bad
    bad=$(grep -E "$forbidden" <<<"$deps" || true)
    if [ -n "$bad" ]; then
        echo "error: $pkg depends on server-only crates: $(tr '\n' ' ' <<<"$bad")" >&2
        status=1
    fi
    # The bundle crate is pure: no async runtime and no network client.
    if [ "$pkg" = regent-bundle ]; then
        bad=$(grep -E '^(tokio|reqwest|hyper)$' <<<"$deps" || true)
        if [ -n "$bad" ]; then
            echo "error: regent-bundle must stay synchronous and offline, but depends on: $(tr '\n' ' ' <<<"$bad")" >&2
            status=1
        fi
    fi
}
check regent-bundle --no-default-features
check regent-protocol
check regent-agent
[ $status -eq 0 ] && echo "dependency boundaries hold" >&2
exit $status
