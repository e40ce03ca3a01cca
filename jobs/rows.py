"""Rows leave the job as JSON lines tagged with their table (`_t`), ready for a bulk load; null
values are left out (the load fills an absent column with its default, which for a Nullable column
is NULL), so the lines are shorter to write and to parse.

Inside the job instants are epoch milliseconds and durations milliseconds; on the way out both
become seconds (instants as epoch seconds with three decimals, which ClickHouse reads into its
DateTime64(3) columns exactly — formatting a date string per instant cost more than the rest of the
line), the units of sinks/sql/ddl.sql.
"""

from __future__ import annotations

from typing import Any

import orjson

INSTANTS = frozenset({"issued_at", "finished_at", "started_at", "detected_at", "resolved_at", "ts", "max_seen_ts", "watermark"})
_PLANS: dict[tuple[str, ...], list[tuple[str, str, bool]]] = {}


def _plan(keys: tuple[str, ...]) -> list[tuple[str, str, bool]]:
    """How to turn each column of a row shape: (output name, input name, ms -> s?). Durations
    `<x>_ms` become `<x>_s`; instants keep their name."""
    return [(key[:-3] + "_s", key, True) if key.endswith("_ms") else (key, key, key in INSTANTS) for key in keys]


def to_line(table: str, row: dict[str, Any]) -> bytes:
    """One output line (UTF-8 JSON, as it leaves the job); the plan is worked out once per row shape."""
    keys = tuple(row)
    plan = _PLANS.get(keys)
    if plan is None:
        plan = _PLANS[keys] = _plan(keys)
    out: dict[str, Any] = {"_t": table}
    for name, key, seconds in plan:
        value = row[key]
        if value is not None:  # an absent column takes its default (NULL, or 0 / '' when not Nullable)
            out[name] = value / 1000 if seconds else value
    return orjson.dumps(out)
