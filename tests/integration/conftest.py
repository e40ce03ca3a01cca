"""Helpers for tests that run the real job (mini-cluster) and read the real store (chDB).

chDB allows one engine path per process, so both the job and every query run in subprocesses;
the test process itself never opens a store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL = timezone(timedelta(hours=5))


def sitcen(*args: str, cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "sitcen", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if check and proc.returncode != 0:
        raise AssertionError(f"sitcen {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc


_QUERY = """
import json, sys
from sinks.clickhouse import connect
c = connect(sys.argv[1])
out = []
for sql in json.loads(sys.stdin.read()):
    names, rows = c.query_tuples(sql)
    out.append([dict(zip(names, [v.isoformat() if hasattr(v, "isoformat") else v for v in r])) for r in rows])
print(json.dumps(out))
"""


def query(dsn: str, *sqls: str) -> list[list[dict[str, Any]]]:
    """Run SELECTs against a store in a subprocess; datetimes come back as ISO strings (UTC)."""
    proc = subprocess.run([sys.executable, "-c", _QUERY, dsn], input=json.dumps(list(sqls)), capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise AssertionError(proc.stderr[-4000:])
    return json.loads(proc.stdout)


@dataclass
class Day:
    """Builds a delivered event file by hand: local wall-clock times on one date at UTC+5."""

    date: str = "2026-11-24"

    def at(self, hhmm: str, sec: float = 0) -> datetime:
        h, m = map(int, hhmm.split(":"))
        y, mo, d = map(int, self.date.split("-"))
        return datetime(y, mo, d, h, m, tzinfo=LOCAL) + timedelta(seconds=sec)

    def ts(self, hhmm: str, sec: float = 0) -> str:
        return self.at(hhmm, sec).isoformat(timespec="milliseconds")

    def utc(self, hhmm: str, sec: float = 0) -> str:
        """The instant as the query helper returns it."""
        return self.at(hhmm, sec).astimezone(timezone.utc).isoformat()


def write_jsonl(path: Path, events: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for e in events:
            f.write((e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)) + "\n")
    return path


@pytest.fixture(scope="session")
def built() -> None:
    """The job's Java functions, compiled once per session."""
    from jobs.udf import jar_path

    jar_path()
