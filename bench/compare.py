"""`python -m bench.compare A B [--rounds 2]`: two checkouts of sitcen on the same day, alternately.

This machine's speed drifts by ±20 % within minutes, so a change is judged by runs of the old and
the new code interleaved (A B A B …), never by numbers taken at different times. Each run is
`sitcen run` end to end into a fresh chDB store; besides the wall time it prints the CPU seconds
of the mini-cluster JVM's busiest threads (the Python operator runs in its task thread), which
says where the time went. A and B are checkout directories run with this interpreter
(PYTHONPATH=<dir>); build each one's Java functions first (`python -m jobs.udf build` there).

    python -m bench.compare /tmp/sitcen-old . --rounds 2 [--input day.jsonl]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _jvm_pid(parent: int) -> int | None:
    """The mini-cluster JVM (PyFlink's gateway server) among the descendants of `parent` — not a
    previous run's JVM that is still shutting down."""
    from bench.throughput import descendants

    for pid in descendants(parent):
        try:
            if b"PythonGatewayServer" in open(f"/proc/{pid}/cmdline", "rb").read():
                return pid
        except OSError:
            continue
    return None


def _thread_cpu(pid: int) -> dict[tuple[str, str], float]:
    """CPU seconds so far per (thread id, thread name) of process `pid`."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[tuple[str, str], float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    for tid in tids:
        try:
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")].split(" (")[0][:24]
        fields = stat[stat.rindex(")") + 2:].split()
        out[(tid, name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def run_once(checkout: Path, data: Path, extra: list[str] = ()) -> dict:
    from bench.throughput import measure

    store = Path(tempfile.mkdtemp(prefix="sitcen-compare-"))
    cmd = [sys.executable, "-m", "sitcen", "run", "--input", str(data), "--clickhouse", f"chdb://{store}", "--quiet",
           *extra]
    last: dict[tuple[str, str], float] = {}  # per thread id: a finished task thread keeps its last figure
    jvm: list[int] = []

    def tick(pid: int) -> None:
        if not jvm:
            jvm.extend(p for p in [_jvm_pid(pid)] if p)
        if jvm:
            last.update(_thread_cpu(jvm[0]) or {})

    try:
        res = measure(cmd, checkout, code=checkout, on_tick=tick)
    finally:
        shutil.rmtree(store, ignore_errors=True)
    job = re.search(r"done in ([\d.]+) s", res["stdout"])
    by_name: dict[str, float] = collections.Counter()
    for (_tid, name), cpu in last.items():
        by_name[name] += cpu
    return {"wall": res["wall_s"], "job": float(job.group(1)) if job else float("nan"), "threads": by_name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs=2, type=Path, metavar="DIR")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--input", type=Path, help="a JSONL day (default: the benchmark's national day, simulated)")
    parser.add_argument("--args", nargs=2, default=("", ""), metavar=("A_ARGS", "B_ARGS"),
                        help="extra `sitcen run` options for each side, e.g. --args '' '--ticket-buckets 16' "
                             "(the same checkout twice then compares two settings)")
    parser.add_argument("--top", type=int, default=5, help="how many of the busiest JVM threads to list")
    args = parser.parse_args(argv)
    data = args.input
    if data is None:
        from bench.throughput import FAULTS

        data = Path(tempfile.mkdtemp(prefix="sitcen-compare-")) / "day.jsonl"
        subprocess.run([sys.executable, "-m", "sitcen", "simulate", "--branches", "162", "--date", "2026-11-24",
                        "--seed", "7", *FAULTS, "--out", str(data), "--quiet"], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
    for r in range(args.rounds):
        for checkout, extra in zip(args.checkouts, args.args):
            res = run_once(checkout.resolve(), data.resolve(), extra.split())
            busiest = sorted(res["threads"].items(), key=lambda kv: -kv[1])[:args.top]
            cpu = sum(res["threads"].values())
            label = f"{checkout} {extra}".strip()
            print(f"round {r + 1} {label:30s} wall {res['wall']:5.1f} s  job {res['job']:5.1f} s  "
                  f"JVM CPU {cpu:5.1f} s: " + ", ".join(f"{n.strip()} {v:.1f}" for n, v in busiest), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
