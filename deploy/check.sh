#!/usr/bin/env bash
# Offline checks of deploy/: every YAML file parses (python3 + PyYAML, every document of a
# multi-document file) and Kubernetes objects have apiVersion/kind/metadata.name; the systemd
# units pass `systemd-analyze verify` (when installed; the binaries are taken from
# target/{release,debug} so ExecStart resolves); the Containerfile names the targets the docs
# use. No cluster and no container engine needed. Run from anywhere: deploy/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Any python3 with PyYAML: the one on PATH, else Debian's (package python3-yaml).
py=python3
"$py" -c 'import yaml' 2>/dev/null || py=/usr/bin/python3
"$py" -c 'import yaml' 2>/dev/null || { echo "error: PyYAML not found: apt-get install python3-yaml" >&2; exit 1; }
"$py" - <<'PY'
import pathlib, sys, yaml
bad = 0
for path in sorted(pathlib.Path("deploy").rglob("*.yaml")):
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as e:
        print(f"error: {path}: {e}"); bad += 1; continue
    if path.parts[1] == "k8s" and path.name != "kustomization.yaml":
        for i, doc in enumerate(docs):
            missing = [k for k in ("apiVersion", "kind") if k not in doc]
            if missing or not doc.get("metadata", {}).get("name"):
                print(f"error: {path} document {i}: missing {missing or 'metadata.name'}"); bad += 1
    # Embedded config files (ConfigMap data ending in .yaml/.yml) must parse too.
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "ConfigMap":
            for key, text in (doc.get("data") or {}).items():
                if key.endswith((".yaml", ".yml")):
                    try:
                        yaml.safe_load(text)
                    except yaml.YAMLError as e:
                        print(f"error: {path}: data.{key}: {e}"); bad += 1
    print(f"ok: {path} ({len(docs)} document(s))")
sys.exit(1 if bad else 0)
PY

if command -v kubectl >/dev/null 2>&1; then
    # Renders the kustomization offline: every resource it names exists and merges.
    kinds=$(kubectl kustomize deploy/k8s | grep -c '^kind:')
    echo "ok: deploy/k8s (kubectl kustomize: $kinds objects)"
else
    echo "skip: kubectl not installed (kustomization not rendered)" >&2
fi

if command -v systemd-analyze >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for unit in deploy/systemd/*.service; do
        name=$(basename "$unit")
        # `verify` wants ExecStart's binary to exist; point it at a built one when there is one.
        bin_dir=
        for dir in target/release target/debug; do
            [ -x "$dir/regent" ] && [ -x "$dir/regent-agent" ] && bin_dir=$(realpath "$dir") && break
        done
        if [ -n "$bin_dir" ]; then
            sed "s#/usr/local/bin/#$bin_dir/#" "$unit" >"$tmp/$name"
        else
            sed "s#/usr/local/bin/regent[a-z-]*#/bin/true#" "$unit" >"$tmp/$name"
        fi
        target=$name
        [[ $name == *@.service ]] && target=${name/@.service/@example.service} && cp "$tmp/$name" "$tmp/$target"
        out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "./$target" 2>&1 || true)
        # Only findings about our unit count (the host's own units may warn about themselves).
        mine=$(grep -F "$target" <<<"$out" || true)
        if [ -n "$mine" ]; then
            echo "error: $unit: $mine" >&2
            exit 1
        fi
        echo "ok: $unit (systemd-analyze verify)"
    done
else
    echo "skip: systemd-analyze not installed" >&2
fi

for target in control-plane agent; do
    grep -Eq "^FROM .* AS $target\$" deploy/Containerfile || { echo "error: deploy/Containerfile has no \`$target\` target" >&2; exit 1; }
done
grep -q '^USER 10001' deploy/Containerfile || { echo "error: deploy/Containerfile runs as root" >&2; exit 1; }
echo "ok: deploy/Containerfile (targets control-plane, agent; non-root) — linted; deploy/podman-offline.sh builds and checks it"
