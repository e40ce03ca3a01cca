"""Simulator throughput: a national day (162 branches) generated and written, with and without truth.

    python bench/simulate.py [--branches 162] [--date 2026-11-24] [--repeat 3] [--faults] [--profile]

"Generation" is the world (discrete-event simulation per branch-day, event rendering), the
heartbeats, the faulty delivery and writing the JSONL file; "end to end" adds both truth layers
and writing them. The best of `--repeat` runs is reported (the development machines are shared,
so the minimum is the least noisy figure), together with the machine it ran on.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulators.faults import FaultPlan  # noqa: E402
from simulators.output import JsonlWriter  # noqa: E402
from simulators.scenario import Scenario, run  # noqa: E402

FAULTS = FaultPlan(duplicates=0.05, out_of_order=0.02, late_allowed=0.01, too_late=0.01, malformed=0.01,
                   service_mismatch=0.002)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--branches", default="162")
    ap.add_argument("--date", type=date.fromisoformat, default=date(2026, 11, 24))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--faults", action="store_true", help="deliver with duplicates, late, too-late, malformed lines")
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile of one run")
    args = ap.parse_args(argv)

    scn = Scenario(branches=args.branches, start=args.date, seed=args.seed,
                   faults=FAULTS if args.faults else FaultPlan())
    best_gen = best_total = best_gen_cpu = best_total_cpu = None
    result = None
    with tempfile.TemporaryDirectory(prefix="sitcen-bench-") as tmp:
        out = Path(tmp) / "day.jsonl"
        for _ in range(max(1, args.repeat)):
            result = run(scn, JsonlWriter(out), Path(f"{out}.truth"))
            t = result.timings
            gen = t["world_s"] + t["delivery_s"] + t["write_s"]
            best_gen = gen if best_gen is None else min(best_gen, gen)
            best_total = t["total_s"] if best_total is None else min(best_total, t["total_s"])
            best_gen_cpu = min(best_gen_cpu or 1e9, t["generation_cpu_s"])
            best_total_cpu = min(best_total_cpu or 1e9, t["total_cpu_s"])
        size = out.stat().st_size
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            run(scn, JsonlWriter(out), Path(f"{out}.truth"))
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)

    events = result.world_events
    s = result.summary
    print(f"simulate: {len(result.branches)} branches, {args.date}, seed {args.seed}, "
          f"{'with' if args.faults else 'no'} faults, best of {max(1, args.repeat)}")
    print(f"  tickets {s['world']['tickets']}, events {events} ({s['heartbeats']} heartbeats), "
          f"lines {result.lines} ({size / 1e6:.1f} MB)")
    print(f"  generation  {best_gen:6.2f} s  {events / best_gen:>9,.0f} events/s   "
          f"(CPU {best_gen_cpu:.2f} s: {events / best_gen_cpu:,.0f} events/s)")
    print(f"  end to end  {best_total:6.2f} s  {events / best_total:>9,.0f} events/s   "
          f"(CPU {best_total_cpu:.2f} s: {events / best_total_cpu:,.0f} events/s) with both truth layers")
    print(f"  machine: {machine()}, load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
