"""Rows leave the job as JSON lines tagged with their table (`_t`), ready for a bulk load.

Inside the job instants are epoch milliseconds and durations milliseconds; on the way out they
become ClickHouse's `YYYY-MM-DD HH:MM:SS.mmm` (UTC) and seconds, the units of sinks/sql/ddl.sql.
"""

from __future__ import annotations

import json
import time
from typing import Any, Optional

INSTANTS = frozenset({"issued_at", "finished_at", "started_at", "detected_at", "resolved_at", "ts", "max_seen_ts", "watermark"})
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def instant(ms: Optional[int]) -> Optional[str]:
    if ms is None:
        return None
    s, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s)) + f".{frac:03d}"


def to_line(table: str, row: dict[str, Any]) -> str:
    out: dict[str, Any] = {"_t": table}
    for key, value in row.items():
        if key.endswith("_ms"):
            if key == "window_start_ms":
                continue
            out[key[:-3] + "_s"] = None if value is None else value / 1000
        elif key in INSTANTS:
            out[key] = instant(value)
        elif key == "window_start":
            out[key] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value // 1000))
        else:
            out[key] = value
    return _dumps(out)
