#!/usr/bin/env bash
# Builds deploy/Containerfile's two images with podman on a machine that cannot reach Docker Hub:
# the base images it names (docker.io/library/debian:bookworm-slim and
# docker.io/library/rust:1.95-slim-bookworm) are replaced by local stand-ins — a `debootstrap
# --variant=minbase bookworm` root file system, and the same plus this machine's Rust 1.95.0
# toolchain where the official image keeps it (/usr/local/rustup, /usr/local/cargo) — tagged
# under those names. Nothing in the Containerfile changes. Then it checks the control-plane
# image the way its HEALTHCHECK does: the image's `regent` as uid 10001 migrates a scratch
# database, serves, answers `curl -fsS /healthz`, and stops on SIGTERM.
#
# Needs root, `apt-get install podman debootstrap`, a PostgreSQL at $DATABASE_URL's server
# (default postgres://postgres@127.0.0.1:5432) and ~6 GB of disk (vfs storage). On a network
# with an intercepting TLS proxy, the host's CA bundle is given to cargo in the stand-in
# (CARGO_HTTP_CAINFO). Containers are not run (`podman run` needs rlimits this sandbox refuses):
# the check runs the image's root file system with chroot instead.
#
#   deploy/podman-offline.sh            # ~10 min on 2 cores, most of it the release build
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "error: run as root (podman's vfs storage, chroot)" >&2; exit 2; }
for tool in podman debootstrap psql curl; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found: apt-get install podman debootstrap postgresql-client curl" >&2; exit 2; }
done
P=(podman --storage-driver vfs)
work=$(mktemp -d /var/tmp/regent-podman.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== stand-in base images"
debootstrap --variant=minbase bookworm "$work/debian" http://deb.debian.org/debian >"$work/debootstrap.log"
tar -C "$work/debian" -c . | "${P[@]}" import - docker.io/library/debian:bookworm-slim >/dev/null
cp -a "$work/debian" "$work/rust"
toolchain=$(rustc +1.95.0 --print sysroot)
mkdir -p "$work/rust/usr/local/rustup/toolchains" "$work/rust/usr/local/cargo/bin"
cp -a "$toolchain/." "$work/rust/usr/local/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/"
printf 'version = "12"\ndefault_toolchain = "1.95.0-x86_64-unknown-linux-gnu"\nprofile = "minimal"\n' \
    >"$work/rust/usr/local/rustup/settings.toml"
for proxy in rustup cargo rustc rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver; do
    cp "$(command -v rustup)" "$work/rust/usr/local/cargo/bin/$proxy"
done
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
cp "$ca" "$work/rust/etc/host-ca.crt"
tar -C "$work/rust" -c . | "${P[@]}" import \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV CARGO_HTTP_CAINFO=/etc/host-ca.crt' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - docker.io/library/rust:1.95-slim-bookworm >/dev/null

for target in control-plane agent; do
    echo "== podman build --target $target"
    "${P[@]}" build --isolation chroot -f deploy/Containerfile \
        --ignorefile deploy/Containerfile.dockerignore --target "$target" -t "regent-$target:dev" .
done

echo "== the control-plane image serves as uid 10001 and passes its HEALTHCHECK"
root=$("${P[@]}" image mount regent-control-plane:dev)
server=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
server=${server%/*}
db=regent_image_check
psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
env=(env -i REGENT_LISTEN=127.0.0.1:18181 REGENT_DATA_DIR=/var/lib/regent REGENT_LOG_FORMAT=json
     "REGENT_DATABASE_URL=$server/$db")
chroot --userspec=10001:10001 "$root" sh -c "cd /var/lib/regent && ${env[*]} /usr/local/bin/regent migrate"
chroot --userspec=10001:10001 "$root" sh -c "cd /var/lib/regent && exec ${env[*]} /usr/bin/tini -s -- /usr/local/bin/regent serve" \
    >"$work/serve.log" 2>&1 &
ok=
for _ in $(seq 1 50); do
    if chroot --userspec=10001:10001 "$root" curl -fsS http://127.0.0.1:18181/healthz >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
done
pkill -TERM -f "/usr/local/bin/regent serve" || true
wait || true
"${P[@]}" image unmount regent-control-plane:dev >/dev/null
psql "$server/postgres" -qc "DROP DATABASE $db"
[ -n "$ok" ] || { cat "$work/serve.log" >&2; echo "error: /healthz did not answer" >&2; exit 1; }
chroot_agent=$("${P[@]}" image mount regent-agent:dev)
chroot --userspec=10001:10001 "$chroot_agent" /usr/local/bin/regent-agent --help >/dev/null
"${P[@]}" image unmount regent-agent:dev >/dev/null
echo "ok: both images built; regent served /healthz as uid 10001; regent-agent runs"
