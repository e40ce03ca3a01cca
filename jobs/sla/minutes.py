"""Per-branch minute windows: the counts DESIGN §6 puts in `branch_minute`.

The ticket operator sends signed facts (+1 when a fact appears, −1 when a late event takes it
back); a window sums them. Queue waits keep a multiset of values so that the maximum can be
taken back too. Pure Python, the reference the unit tests hold; in the job a keyed JVM function
does the summing (`jobs/windows.py` hands it the mapping of `MinuteCounter.columns`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobs.sla.config import SERVICES, SlaConfig

LICENSES = ("driver_license", "license_exchange")
REGISTRATIONS = ("vehicle_registration", "vehicle_reregistration")
COUNT_COLUMNS = (
    ["tickets_issued"] + [f"tickets_issued_{s}" for s in SERVICES]
    + ["documents_issued"] + [f"documents_issued_{s}" for s in SERVICES]
    + ["tickets_cancelled"] + [f"tickets_cancelled_{s}" for s in SERVICES]
    + ["licenses_issued", "registrations", "plates_issued", "queue_wait_count",
       "breaches_con", "breaches_police", "ratings_count", "ratings_sum"]
)


@dataclass(slots=True)
class Bucket:
    counts: dict[str, int] = field(default_factory=dict)
    queue: dict[int, int] = field(default_factory=dict)  # wait ms -> multiplicity
    deltas: int = 0  # how many facts changed it: the row's version
    sent: int = 0  # `deltas` at the last row written (0: none yet)


class MinuteCounter:
    def __init__(self, cfg: SlaConfig):
        self.plates_services = tuple(s.name for s in cfg.services.values() if "plates" in s.route)

    def columns(self, fact: str, service: str) -> list[str]:
        if fact == "issued":
            return ["tickets_issued"] + ([f"tickets_issued_{service}"] if service else [])
        if fact == "document":
            cols = ["documents_issued"] + ([f"documents_issued_{service}"] if service else [])
            if service in LICENSES:
                cols.append("licenses_issued")
            if service in REGISTRATIONS:
                cols.append("registrations")
            if service in self.plates_services:
                cols.append("plates_issued")
            return cols
        if fact == "cancelled":
            return ["tickets_cancelled"] + ([f"tickets_cancelled_{service}"] if service else [])
        if fact in ("breach_con", "breach_police"):
            return ["breaches_" + fact[7:]]
        return []

    def apply(self, bucket: Bucket, fact: str, service: str, value: int, sign: int) -> None:
        bucket.deltas += 1
        c = bucket.counts
        if fact == "queue":
            c["queue_wait_count"] = c.get("queue_wait_count", 0) + sign
            bucket.queue[value] = bucket.queue.get(value, 0) + sign
            if bucket.queue[value] == 0:
                del bucket.queue[value]
        elif fact == "rating":
            c["ratings_count"] = c.get("ratings_count", 0) + sign
            c["ratings_sum"] = c.get("ratings_sum", 0) + sign * value
        else:
            for col in self.columns(fact, service):
                c[col] = c.get(col, 0) + sign

    @staticmethod
    def row(branch_id: str, minute_ms: int, bucket: Bucket) -> dict[str, Any]:
        """The branch_minute row; an empty bucket becomes a deletion of the row."""
        c = bucket.counts
        row: dict[str, Any] = {"branch_id": branch_id, "window_start": minute_ms}
        for col in COUNT_COLUMNS:
            row[col] = c.get(col, 0)
        q = bucket.queue
        row["queue_wait_sum_ms"] = sum(v * n for v, n in q.items())
        row["queue_wait_max_ms"] = max(q) if q else 0
        row["version"] = bucket.deltas
        row["is_deleted"] = 0 if any(c.get(col, 0) for col in COUNT_COLUMNS) else 1
        return row
