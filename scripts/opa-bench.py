#!/usr/bin/env python3
"""Persona bundles in OPA's Go engine: every case of cases.yaml gives the expected decision, and how many
decisions per second one core makes, JSON conversion of input and result included.

usage: scripts/opa-bench.py [--rounds N] [--regent PATH | --dump DIR] [persona ...]   (default: all three personas)

Needs `pip install --ignore-requires-python opa-golib-python-bindings` (OPA as a Go c-shared library) and
PyYAML. The bundle is built with `regent bundle build` (default `target/debug/regent`; build it with
`cargo build -p regent-control-plane`), exactly as the control plane builds it; its `*_test.rego` modules
are left out, as in the agent benchmarks. `--dump DIR` reads the bundle from `DIR/<persona>.bundle.json`
instead, as written by `cargo run --release -p regent-bundle --example policy_cost -- <persona> --dump DIR`
(same builder, no control-plane build needed). Figures are CPU time of the whole process (the Go runtime has
threads of its own), so they are per core. The bindings alone cost ~110-160 us per call.
"""
import argparse
import io
import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import time

import yaml
from opa_bindings import OpaEngine

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENTRYPOINT = "regent.persona.decision"


def load_bundle(regent, persona):
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "bundle.tar.gz"
        subprocess.run([regent, "bundle", "build", str(ROOT / "bundles" / persona), "--out", str(out),
                        "--no-validate"], check=True, stdout=subprocess.DEVNULL)
        raw = out.read_bytes()
    modules, data = [], {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.lstrip("/")
            if name.endswith(".rego") and not name.endswith("_test.rego"):
                modules.append((name, tar.extractfile(member).read().decode()))
            elif name == "data.json":
                data = json.load(tar.extractfile(member))
    return modules, data


def canonical(obligations):
    return sorted(json.dumps(o, sort_keys=True) for o in obligations)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--regent", default=str(ROOT / "target" / "debug" / "regent"))
    parser.add_argument("--dump")
    parser.add_argument("personas", nargs="*", default=["hr-bot", "it-bot", "dev-bot"])
    args = parser.parse_args()
    ok = True
    for persona in args.personas:
        if args.dump:
            dumped = json.loads((pathlib.Path(args.dump) / f"{persona}.bundle.json").read_text())
            modules = [(p, src) for p, src in dumped["modules"] if not p.endswith("_test.rego")]
            data = dumped["data"]
        else:
            modules, data = load_bundle(args.regent, persona)
        engine = OpaEngine()
        for path, source in modules:
            engine.add_policy(path, source)
        engine.add_data(data)
        cases = yaml.safe_load((ROOT / "bundles" / persona / "cases.yaml").read_text())["cases"]
        failed = []
        for case in cases:
            got = engine.eval_document(ENTRYPOINT, case["input"])
            want = case["expect"]
            if (got["allow"] != want["allow"]
                    or sorted({r["code"] for r in got["reasons"]}) != sorted(set(want["reasons"]))
                    or canonical(got["obligations"]) != canonical(want.get("obligations", []))):
                failed.append(case["name"])
        ok &= not failed
        inputs = [case["input"] for case in cases]
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.rounds):
            for i in inputs:
                engine.eval_document(ENTRYPOINT, i)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n = args.rounds * len(inputs)
        print(f"{persona}: {len(cases) - len(failed)}/{len(cases)} cases as expected; {n} decisions: "
              f"{cpu / n * 1e6:.0f} us CPU ({wall / n * 1e6:.0f} us wall) per decision, {n / cpu:.0f} decisions/s per core")
        for name in failed:
            print(f"  FAILED: {name}")
        engine.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
