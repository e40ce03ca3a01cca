"""`python -m jobs.warmup`: record the JVM's class-data archive for faster job starts.

Every `sitcen run` starts a JVM that loads and verifies some ten thousand classes (Flink, the
SQL planner) before the first event moves; that is seconds of a short run. A dynamic class-data
sharing archive (JDK 13+) holds them pre-parsed: this command runs a tiny job once with
`-XX:ArchiveClassesAtExit` and keeps the archive under `build/`; `jobs.embedded` then starts the
JVM with `-XX:SharedArchiveFile` when the archive is there. The JVM checks the archive against
its own build and class path and silently ignores one that does not match (e.g. after a Java
upgrade), so a stale archive costs nothing but the saving; `make setup` records it anew.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARCHIVE = Path(__file__).resolve().parent.parent / "build" / "sitcen-jvm.jsa"


def archive_option() -> str:
    """The JVM option that uses the archive, or "" when there is none."""
    return f"-XX:SharedArchiveFile={ARCHIVE}" if ARCHIVE.is_file() else ""


def _job(work: Path, jvm_pid_file: Path) -> None:
    """Runs in a child process: a few lines through the real job, then the JVM exits (and dumps)."""
    from jobs.embedded import FileOutputs, JobSettings, Startup, make_environment
    from jobs.pipeline import FileSource, build
    from jobs.sla.config import load
    from pyflink.java_gateway import get_gateway

    lines = work / "warmup.jsonl"
    ts = "2026-01-05T10:0{}:00.000+05:00"
    lines.write_text("\n".join([
        '{"event_id": "w0", "type": "ticket_issued", "ts": "%s", "branch_id": "spec-almaty", '
        '"ticket_id": "w", "service": "driver_license"}' % ts.format(0),
        '{"event_id": "w1", "type": "stage_started", "ts": "%s", "branch_id": "spec-almaty", '
        '"ticket_id": "w", "stage": "intake"}' % ts.format(1),
        '{"event_id": "h", "type": "heartbeat", "ts": "%s", "branch_id": "spec-almaty"}' % ts.format(9),
        "{not json",
    ]) + "\n")
    settings = JobSettings()
    startup = Startup(settings)
    env = make_environment(settings)
    build(env, FileSource(str(lines)), FileOutputs(work / "out"), load(), "warmup")
    startup.submit(env, "sitcen warmup").get_job_execution_result().result()
    gateway = get_gateway()
    jvm_pid_file.write_text(str(gateway.jvm.ProcessHandle.current().pid()))
    try:
        gateway.jvm.System.exit(0)
    except Exception:  # noqa: BLE001 - the connection drops as the JVM exits
        pass


def record(quiet: bool = False) -> Path:
    ARCHIVE.parent.mkdir(parents=True, exist_ok=True)
    partial = ARCHIVE.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="sitcen-warmup-") as tmp:
        work = Path(tmp)
        pid_file = work / "jvm.pid"
        from jobs.embedded import JobSettings, jvm_args

        settings = JobSettings()
        env = {**os.environ,
               "JVM_ARGS": jvm_args(settings.jvm_heap, settings.jvm_options, f"-XX:ArchiveClassesAtExit={partial}")}
        proc = subprocess.run([sys.executable, "-m", "jobs.warmup", "--child", str(work)], env=env,
                              cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True)
        if proc.returncode != 0 or not pid_file.is_file():
            raise SystemExit(f"warmup job failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        pid = int(pid_file.read_text())
        deadline = time.monotonic() + 120
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:  # the JVM writes the archive as it exits
            time.sleep(0.2)
    if not partial.is_file():
        raise SystemExit("the JVM wrote no class-data archive; jobs start without one")
    partial.replace(ARCHIVE)
    if not quiet:
        print(f"class-data archive: {ARCHIVE} ({ARCHIVE.stat().st_size >> 20} MB)")
    return ARCHIVE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.warmup", description=__doc__.splitlines()[0])
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.child:
        work = Path(args.child)
        _job(work, work / "jvm.pid")
        return 0
    record(args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
