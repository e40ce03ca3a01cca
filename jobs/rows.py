"""Rows leave the job as JSON lines tagged with their table (`_t`), ready for a bulk load.

Inside the job instants are epoch milliseconds and durations milliseconds; on the way out both
become seconds (instants as epoch seconds with three decimals, which ClickHouse reads into its
DateTime64(3) columns exactly — formatting a date string per instant cost more than the rest of the
line), the units of sinks/sql/ddl.sql.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import orjson

INSTANTS = frozenset({"issued_at", "finished_at", "started_at", "detected_at", "resolved_at", "ts", "max_seen_ts", "watermark"})
_PLANS: dict[tuple[str, ...], list[tuple[str, str, int]]] = {}


def instant(ms: Optional[int]) -> Optional[str]:
    if ms is None:
        return None
    s, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s)) + f".{frac:03d}"


def _plan(keys: tuple[str, ...]) -> list[tuple[str, str, int]]:
    """How to turn each column of a row shape: (output name, input name, 0 as is | 1 ms->s | 2 instant (ms->s) | 3 minute)."""
    plan = []
    for key in keys:
        if key.endswith("_ms"):
            plan.append((key[:-3] + "_s", key, 1))
        elif key in INSTANTS:
            plan.append((key, key, 2))
        elif key == "window_start":
            plan.append((key, key, 3))
        else:
            plan.append((key, key, 0))
    return plan


def to_line(table: str, row: dict[str, Any]) -> str:
    """One output line; the conversion plan is worked out once per row shape."""
    keys = tuple(row)
    plan = _PLANS.get(keys)
    if plan is None:
        plan = _PLANS[keys] = _plan(keys)
    out: dict[str, Any] = {"_t": table}
    for name, key, kind in plan:
        value = row[key]
        if kind == 0 or value is None:
            out[name] = value
        elif kind == 1 or kind == 2:
            out[name] = value / 1000
        else:
            out[name] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value // 1000))
    return orjson.dumps(out).decode()
