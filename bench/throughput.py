"""`make bench`: sitcen vs the naive all-Python design vs the JVM-only ceiling, side by side.

All three read the same simulated national day (162 branches, with duplicates, out-of-order,
late, too-late and malformed lines), one after the other in one run, each in its own process
tree whose memory is sampled. sitcen runs end to end (validation, SLA timers, minute windows,
every ClickHouse row written) and is then verified against the simulator's ground truth.

    python -m bench.throughput [--branches 162] [--skip-naive] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
FAULTS = ["--duplicates", "0.05", "--out-of-order", "0.02", "--late-allowed", "0.01", "--late", "0.01",
          "--malformed", "0.01"]


def descendants(pid: int) -> list[int]:
    """A process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def tree_rss(pid: int) -> int:
    """Resident memory (bytes) of a process and all its descendants."""
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total


def measure(cmd: list[str], cwd: Path, code: Path = ROOT, on_tick: Callable[[int], None] | None = None) -> dict:
    """Run `cmd` with `code` on PYTHONPATH: wall time, peak RSS of its process tree (sampled every
    0.5 s, when `on_tick` also sees the process id) and its output."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(code)})
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            if on_tick is not None:
                on_tick(proc.pid)
            time.sleep(0.5)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    t.join()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak[0] / 2**20), "stdout": out}


def end_state(dsn: str) -> dict:
    """Open tickets and pending timers the job reported last (its job_stats), from the run's store."""
    from sinks.clickhouse import connect

    client = connect(dsn)
    rows = client.query_rows("SELECT argMax(open_tickets, seq) AS open_tickets, argMax(pending_timers, seq) "
                             "AS pending_timers FROM sitcen.job_stats")
    return {"open_tickets_at_end": int(rows[0]["open_tickets"]), "pending_timers_at_end": int(rows[0]["pending_timers"])}


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    from importlib.metadata import version

    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "java": java,
            "apache-flink": version("apache-flink"), "chdb": version("chdb"), "parallelism": 1,
            "python_mode": "thread"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--branches", default="162")
    parser.add_argument("--date", default="2026-11-24")
    parser.add_argument("--seed", default="7")
    parser.add_argument("--skip-naive", action="store_true", help="skip the (slow) naive baseline")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    py = sys.executable
    work = Path(tempfile.mkdtemp(prefix="sitcen-bench-"))
    data = work / "day.jsonl"
    print(f"generating the day ({args.branches} branches) into {data} …", file=sys.stderr)
    subprocess.run([py, "-m", "sitcen", "simulate", "--branches", args.branches, "--date", args.date, "--seed",
                    args.seed, *FAULTS, "--out", str(data), "--quiet"], check=True, cwd=work,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
    lines = sum(1 for _ in data.open("rb"))
    heartbeats = sum(1 for line in data.open("rb") if b'"heartbeat"' in line)
    results: dict = {"machine": machine(), "input": {"lines": lines, "heartbeats": heartbeats,
                                                      "branches": args.branches, "faults": " ".join(FAULTS)}}

    print("ceiling (Flink SQL only) …", file=sys.stderr)
    results["ceiling"] = measure([py, "-m", "bench.ceiling", str(data)], ROOT)
    print("sitcen (end to end into chDB) …", file=sys.stderr)
    store = f"chdb://{work / 'store'}"
    results["sitcen"] = measure([py, "-m", "sitcen", "run", "--input", str(data), "--clickhouse", store, "--quiet"], work)
    verify = subprocess.run([py, "-m", "sitcen", "verify", "--truth", f"{data}.truth", "--clickhouse", store],
                            cwd=work, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    results["sitcen"]["verify_exit"] = verify.returncode
    results["sitcen"]["verify"] = verify.stdout[-2000:]
    results["sitcen"].update(end_state(store))
    if not args.skip_naive:
        print("naive all-Python design …", file=sys.stderr)
        results["naive"] = measure([py, "-m", "bench.naive", str(data)], ROOT)

    for name in ("sitcen", "naive", "ceiling"):
        r = results.get(name)
        if r:
            r["events_per_s"] = round(lines / r["wall_s"])
            r["ticket_events_per_s"] = round((lines - heartbeats) / r["wall_s"])
            r.pop("stdout", None)
    s, n, c = (results.get(k, {}).get("events_per_s") for k in ("sitcen", "naive", "ceiling"))
    line = (f"throughput sitcen={s} naive={n} ceiling={c} "
            f"vs_naive={(s / n if n else float('nan')):.1f}x vs_ceiling={(s / c if c else float('nan')):.2f}")
    results["line"] = line
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"throughput-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))
    print(line)
    return 0 if results["sitcen"]["verify_exit"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
