"""Row shapes and formatting shared by both truth layers (world and expected).

Only presentation lives here — column names, instants as ISO-8601 UTC with milliseconds, seconds
with millisecond precision, the deterministic alert id. The rules themselves are computed twice,
independently: from the simulation state (`simulators.world`) and from events (`simulators.truth`).
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from jobs.sla.config import SERVICES, STAGES

from simulators.events import HHMM, SSMS

_MS_PER_DAY = 86_400_000
_EPOCH = date(1970, 1, 1)
_day_cache: dict[int, str] = {}
_iso_cache: dict[int, str] = {}  # the same instants recur in both layers (starts, ends, deadlines)

#: `<stage>_s` columns of sitcen.tickets, in DDL order.
STAGE_COLUMNS = tuple(f"{s}_s" for s in STAGES)
#: `wait_<stage>_s` columns (every stage after the queue, then the document), in DDL order.
WAIT_LABELS = tuple(f"wait_{s}" for s in (*STAGES[1:], "document"))

TICKET_COLUMNS = (
    "ticket_id", "branch_id", "known_branch", "service", "issued_at", "finished_at", "status", "total_s",
    *STAGE_COLUMNS, *(f"{w}_s" for w in WAIT_LABELS), "breached", "cause_stage", "responsible", "rating",
)
STAGE_ROW_COLUMNS = (
    "ticket_id", "branch_id", "stage", "attempt", "result", "responsible", "staff_id", "started_at",
    "finished_at", "duration_s", "limit_s", "overrun_s",
)
ALERT_COLUMNS = (
    "alert_id", "kind", "status", "severity", "attempt", "ticket_id", "branch_id", "service", "stage",
    "cause_stage", "responsible", "staff_id", "limit_s", "started_at", "detected_at", "resolved_at", "overrun_s",
)
MINUTE_COUNT_COLUMNS = (
    "tickets_issued", *(f"tickets_issued_{s}" for s in SERVICES),
    "documents_issued", *(f"documents_issued_{s}" for s in SERVICES),
    "tickets_cancelled", *(f"tickets_cancelled_{s}" for s in SERVICES),
    "licenses_issued", "registrations", "plates_issued",
    "queue_wait_sum_s", "queue_wait_count", "queue_wait_max_s",
    "breaches_con", "breaches_police", "ratings_count", "ratings_sum",
)
MINUTE_COLUMNS = ("branch_id", "window_start", *MINUTE_COUNT_COLUMNS)

LICENSE_SERVICES = frozenset({"driver_license", "license_exchange"})
REGISTRATION_SERVICES = frozenset({"vehicle_registration", "vehicle_reregistration"})

SEVERITY = {"stage_at_risk": "warning", "ticket_at_risk": "warning",
            "stage_overrun": "critical", "ticket_overrun": "critical"}


def iso(ms: int | None) -> str | None:
    """UTC epoch ms -> ``2026-11-24T04:03:00.125Z`` (None stays None)."""
    if ms is None:
        return None
    got = _iso_cache.get(ms)
    if got is not None:
        return got
    day, rest = divmod(ms, _MS_PER_DAY)
    d = _day_cache.get(day)
    if d is None:
        d = _day_cache[day] = (_EPOCH + timedelta(days=day)).isoformat()
    minute, rest = divmod(rest, 60_000)
    if len(_iso_cache) > 1_000_000:
        _iso_cache.clear()
    got = _iso_cache[ms] = f"{d}T{HHMM[minute]}:{SSMS[rest]}Z"
    return got


def secs(ms: int | None) -> float | None:
    """Milliseconds -> seconds with 3 decimals (None stays None).

    For a whole number of ms, ms / 1000 already is the double nearest to the 3-decimal value, so
    it equals round(ms / 1000, 3) and prints as such.
    """
    return None if ms is None else ms / 1000


def alert_id(ticket_id: str, kind: str, stage: str, attempt: int) -> str:
    """Deterministic alert id (docs/semantics.md): sha256 of ``ticket|kind|stage|attempt``, 32 hex digits."""
    return hashlib.sha256(f"{ticket_id}|{kind}|{stage}|{attempt}".encode()).hexdigest()[:32]


_TICKET_TEMPLATE = dict.fromkeys(TICKET_COLUMNS)
_TICKET_TEMPLATE.update(known_branch=0, service="", status="open", breached=0, cause_stage="", responsible="")
_MINUTE_TEMPLATE = dict.fromkeys(MINUTE_COLUMNS, 0)
_MINUTE_TEMPLATE.update(queue_wait_sum_s=0.0, queue_wait_max_s=0.0)
_warnings: dict[tuple[float, int], int] = {}


def empty_ticket_row() -> dict:
    return _TICKET_TEMPLATE.copy()


def empty_minute_row(branch_id: str, window_start_ms: int) -> dict:
    row = _MINUTE_TEMPLATE.copy()
    row["branch_id"] = branch_id
    row["window_start"] = iso(window_start_ms)
    return row


def warning_ms(cfg, limit_ms: int) -> int:
    """`cfg.warning_ms(limit)` (the configuration's own rounding), remembered per fraction and limit."""
    key = (cfg.warning_fraction, limit_ms)
    got = _warnings.get(key)
    if got is None:
        got = _warnings[key] = cfg.warning_ms(limit_ms)
    return got


def alert_row(*, kind: str, attempt: int, ticket_id: str, branch_id: str, service: str, stage: str,
              cause_stage: str, responsible: str, staff_id: str, limit_ms: int, started_ms: int,
              detected_ms: int, resolved_ms: int | None, end_ms: int | None) -> dict:
    """An alert row; `end_ms` is the end of what the alert watches (for an overrun's `overrun_s`)."""
    resolved = resolved_ms is not None
    overrun = None
    if kind.endswith("_overrun") and resolved and end_ms is not None:
        overrun = secs(end_ms - started_ms - limit_ms)
    return {
        "alert_id": alert_id(ticket_id, kind, stage, attempt),
        "kind": kind,
        "status": "resolved" if resolved else "firing",
        "severity": SEVERITY[kind],
        "attempt": attempt,
        "ticket_id": ticket_id,
        "branch_id": branch_id,
        "service": service,
        "stage": stage,
        "cause_stage": cause_stage,
        "responsible": responsible,
        "staff_id": staff_id,
        "limit_s": secs(limit_ms),
        "started_at": iso(started_ms),
        "detected_at": iso(detected_ms),
        "resolved_at": iso(resolved_ms),
        "overrun_s": overrun,
    }
