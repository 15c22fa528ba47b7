#!/usr/bin/env python3
"""Differential check of the persona bundles: regorus (the agent's engine) against OPA v1.20, and against an
earlier version of the bundles. Every decision must be identical, reasons' messages and obligations included.

usage: scripts/opa-diff.py [--mutate N] [--baseline DIR] [--out DIR] [persona ...]   (default: all three)

For each persona, `cargo run --release -p regent-bundle --example policy_cost -- <persona> --dump <out>
--mutate N` builds the bundle (as the control plane does, without `*_test.rego`) and writes the regorus
decision for every case of `cases.yaml` plus N seeded mutations of them (keys dropped, values replaced by
other types or plausible strings). This script evaluates the same inputs in OPA's Go engine
(`pip install --ignore-requires-python opa-golib-python-bindings`, OPA v1.20) and compares the two, JSON
with sorted object keys (array order counts). `--baseline DIR` also compares with the `--out` of an earlier
run (e.g. of the bundles at another commit, `REGENT_BUNDLES=<checkout>/bundles`); `--no-run` reuses `--out`.
Exit status 1 on any difference.
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys

from opa_bindings import OpaEngine

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENTRYPOINT = "regent.persona.decision"


def canon(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mutate", type=int, default=3000)
    parser.add_argument("--out", default=str(ROOT / "target" / "opa-diff"))
    parser.add_argument("--baseline")
    parser.add_argument("--no-run", action="store_true")
    parser.add_argument("personas", nargs="*", default=["hr-bot", "it-bot", "dev-bot"])
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    ok = True
    for persona in args.personas:
        if not args.no_run:
            subprocess.run(["cargo", "run", "-q", "--release", "-p", "regent-bundle", "--example", "policy_cost",
                            "--", persona, "--dump", str(out), "--mutate", str(args.mutate)],
                           check=True, cwd=ROOT, env=os.environ)
        bundle = json.loads((out / f"{persona}.bundle.json").read_text())
        decisions = json.loads((out / f"{persona}.decisions.json").read_text())
        # The bundle's own tests (`test_*` rules of the `*_test.rego` modules) must pass in OPA too.
        tests = OpaEngine()
        failed_tests, n_tests = [], 0
        for path, source in bundle["modules"]:
            tests.add_policy(path, source)
        tests.add_data(bundle["data"])
        for path, source in bundle["modules"]:
            if path.endswith("_test.rego"):
                package = re.search(r"^package ([\w.]+)", source, re.M).group(1)
                for rule in sorted(set(re.findall(r"^(test_\w+)", source, re.M))):
                    n_tests += 1
                    try:
                        passed = tests.eval_document(f"{package}.{rule}", {}) is True
                    except Exception:  # undefined (a failed test) or an evaluation error
                        passed = False
                    if not passed:
                        failed_tests.append(f"{package}.{rule}")
        tests.close()
        for name in failed_tests:
            print(f"  OPA TEST FAILED: {name}")
        ok &= not failed_tests
        engine = OpaEngine()
        for path, source in bundle["modules"]:
            if not path.endswith("_test.rego"):
                engine.add_policy(path, source)
        engine.add_data(bundle["data"])
        differ, allowed, errors = 0, sum(1 for d in decisions if d["decision"].get("allow") is True), 0
        for d in decisions:
            if "error" in d["decision"]:
                errors += 1
            got = engine.eval_document(ENTRYPOINT, d["input"])
            if canon(got) != canon(d["decision"]):
                differ += 1
                if differ <= 5:
                    print(f"  DIFF input {canon(d['input'])}\n    regorus {canon(d['decision'])}\n    opa     {canon(got)}")
        engine.close()
        line = (f"{persona}: OPA tests {n_tests - len(failed_tests)}/{n_tests} pass; {len(decisions)} inputs ({allowed} allowed), regorus vs OPA: {differ} differ, "
                f"{errors} regorus errors")
        ok &= differ == 0 and errors == 0
        if args.baseline:
            base = json.loads((pathlib.Path(args.baseline) / f"{persona}.decisions.json").read_text())
            base = {canon(d["input"]): canon(d["decision"]) for d in base}
            changed = missing = 0
            for d in decisions:
                want = base.get(canon(d["input"]))
                if want is None:
                    missing += 1
                elif want != canon(d["decision"]):
                    changed += 1
                    if changed <= 5:
                        print(f"  CHANGED input {canon(d['input'])}\n    before {want}\n    now    {canon(d['decision'])}")
            line += f"; vs baseline: {changed} changed, {missing} not in the baseline"
            ok &= changed == 0 and missing == 0
        print(line)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
