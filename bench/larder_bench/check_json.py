#!/usr/bin/env python3
"""Runs larder-bench with --json and checks the report's shape and its invariants.

Usage: check_json.py LARDER_BENCH [ARGS...]; ARGS must include --ops N.
"""
import json
import subprocess
import sys


def main() -> int:
    exe, args = sys.argv[1], sys.argv[2:]
    run = subprocess.run([exe, "--json", "--quiet", *args], capture_output=True, text=True,
                         timeout=600)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        print(f"larder-bench exited with {run.returncode}")
        return 1
    report = json.loads(run.stdout)
    requested = int(args[args.index("--ops") + 1])
    problems = []

    def expect(ok, what):
        if not ok:
            problems.append(what)

    expect(report["larder_bench"] == 1, "schema version")
    runs = report["runs"]
    expect(len(runs) == (2 if report["config"]["compare"] else 1), "one run per backend")
    for r in runs:
        name = r["backend"]
        expect(r["ops"] == requested, f"{name}: ops {r['ops']} != {requested}")
        expect(r["hits"] + r["misses"] + r["faults"]["get"] == r["gets"], f"{name}: gets add up")
        expect(all(v == 0 for k, v in r["faults"].items() if k != "first"), f"{name}: faults")
        expect(r["latency_ns"]["get"]["count"] == r["gets"], f"{name}: a latency per get")
        lat = r["latency_ns"]["get"]
        expect(lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"],
               f"{name}: percentiles in order")
        expect(r["ops_per_second"] > 0, f"{name}: throughput")
        expect(0.0 <= r["hit_ratio"] <= 1.0, f"{name}: hit ratio")
        expect(len(r["tiers"]) >= 1, f"{name}: tiers")
        if name in ("disk", "layered"):
            expect(r["io_backend"] in ("io_uring", "thread_pool"), f"{name}: io backend")
            expect(r["disk"]["bytes_written"] > 0, f"{name}: disk written")
        if name == "layered":
            expect([t["name"] for t in r["tiers"]] == ["memory", "disk"], f"{name}: tiers")
            share = sum(t["share_of_gets"] for t in r["tiers"])
            expect(abs(share - r["hit_ratio"]) < 0.01, f"{name}: tier shares add up to hits")
        if report["config"]["flush_every"]:
            expect(r["flushes"]["count"] > 0, f"{name}: flushes ran")
    if report["config"]["compare"]:
        expect(report["comparison"]["throughput_ratio"] > 0, "comparison ratio")
    for p in problems:
        print("FAILED:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
