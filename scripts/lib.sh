# Shared helpers for scripts/test.sh and scripts/run.sh. Sourced, not executed.

# Debian packages the test suite needs beyond Rust and a C compiler (aws-lc builds with cc):
# PostgreSQL (server binaries for a private cluster, psql), the CNCF registry and skopeo, Chromium
# and its driver for the console test, PyYAML for the deploy/ checks (systemd-analyze and kubectl are used when present).
TEST_PACKAGES=(ca-certificates postgresql docker-registry skopeo chromium chromium-driver python3-yaml)
# What `scripts/run.sh` (regent up) needs: PostgreSQL server binaries, the local registry.
RUN_PACKAGES=(ca-certificates postgresql docker-registry)

step() { printf '\n== %s ==\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_rust() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs), then run this again"
    # rust-toolchain.toml pins the version; rustup installs it (and rustfmt, clippy) on first use.
    cargo --version >&2
    cargo fmt --version >/dev/null 2>&1 || die "rustfmt is missing: run \`rustup component add rustfmt\`"
    cargo clippy --version >/dev/null 2>&1 || die "clippy is missing: run \`rustup component add clippy\`"
}

# ensure_packages PKG...: installs missing Debian packages with apt-get when running as root,
# otherwise stops naming them.
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing: ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
        die "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}"
    fi
}

# provide_test_database: exports DATABASE_URL for the test suite (each test creates its own
# database there): the caller's DATABASE_URL; else a PostgreSQL on 127.0.0.1:5432 that lets
# `postgres` in without a password; else a private cluster for this run (`regent
# dev-postgres`, the same code as `regent up`'s embedded database), stopped at exit.
provide_test_database() {
    if [ -n "${DATABASE_URL:-}" ]; then
        echo "using DATABASE_URL from the environment" >&2
        return 0
    fi
    if PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -w -Atqc 'select 1' \
        </dev/null >/dev/null 2>&1; then
        export DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
        echo "using the PostgreSQL on 127.0.0.1:5432" >&2
        return 0
    fi
    cargo build --locked -p regent-control-plane --bin regent
    PRIVATE_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/regent-test-pg.XXXXXX")
    "${CARGO_TARGET_DIR:-target}/debug/regent" dev-postgres --data-dir "$PRIVATE_PG_DIR" \
        >"$PRIVATE_PG_DIR/url" 2>"$PRIVATE_PG_DIR/dev-postgres.log" &
    PRIVATE_PG_PID=$!
    trap stop_private_database EXIT
    local waited=0
    until [ -s "$PRIVATE_PG_DIR/url" ]; do
        if ! kill -0 "$PRIVATE_PG_PID" 2>/dev/null || [ "$waited" -ge 600 ]; then
            cat "$PRIVATE_PG_DIR/dev-postgres.log" >&2
            die "the private PostgreSQL for the tests did not start (log above)"
        fi
        sleep 0.05
        waited=$((waited + 1))
    done
    DATABASE_URL=$(head -n1 "$PRIVATE_PG_DIR/url")
    export DATABASE_URL
    echo "using a private PostgreSQL for this run: $DATABASE_URL" >&2
}

stop_private_database() {
    if [ -n "${PRIVATE_PG_PID:-}" ]; then
        kill -TERM "$PRIVATE_PG_PID" 2>/dev/null || true
        wait "$PRIVATE_PG_PID" 2>/dev/null || true
    fi
    if [ -n "${PRIVATE_PG_DIR:-}" ]; then
        rm -rf "$PRIVATE_PG_DIR"
    fi
}
