# Shared helpers for scripts/test.sh and scripts/run.sh. Sourced, not executed.

# Debian packages the test suite needs beyond Rust and a C compiler (aws-lc builds with cc).
# Later suites add PostgreSQL, the CNCF registry (docker-registry), skopeo and Chromium here.
TEST_PACKAGES=(ca-certificates)

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
