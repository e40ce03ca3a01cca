"""The SLA rules: from a ticket's timeline to its rows, alerts and branch-minute facts.

`evaluate(timeline, now)` is what a correct pipeline shows at watermark `now`: alerts whose
deadline has passed (`detected_at` is the deadline itself, never an arrival time), the ticket
row, its stage attempts, and the facts the branch-minute windows count. It also says when the
answer will next change (`next_deadline`), which is the one event-time timer the operator keeps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Optional

from jobs.sla.config import STAGES, SlaConfig
from jobs.sla.timeline import KIND_ORDER, Segment, Timeline

@lru_cache(maxsize=1 << 16)  # asked again on every evaluation of a ticket
def alert_id(ticket_id: str, kind: str, stage: str, attempt: int) -> str:
    """Deterministic alert id: the same alert gets the same id in every run and replay."""
    return hashlib.sha256(f"{ticket_id}|{kind}|{stage}|{attempt}".encode()).hexdigest()[:32]


@dataclass(slots=True)
class Alert:
    alert_id: str
    kind: str
    attempt: int
    stage: str
    cause_stage: str
    responsible: str
    staff_id: str
    limit_ms: int
    started_at: int
    detected_at: int
    resolved_at: Optional[int]
    overrun_ms: Optional[int]

    @property
    def severity(self) -> str:
        return "critical" if self.kind.endswith("overrun") else "warning"

    @property
    def status(self) -> str:
        return "resolved" if self.resolved_at is not None else "firing"


@dataclass(slots=True)
class Evaluation:
    status: str
    alerts: list[Alert] = field(default_factory=list)
    next_deadline: Optional[int] = None
    cleanup_at: Optional[int] = None


def _watch(start: int, limit_ms: int, end: Optional[int], end_known: bool, now: int,
           cfg: SlaConfig) -> list[tuple[str, int, Optional[int], Optional[int]]]:
    """The at-risk and overrun alerts of one watched stretch [start, end) at watermark `now`.

    Returns (level, deadline, resolved_at, overrun_ms); a deadline still ahead of `now` comes back
    with level "~at_risk"/"~overrun" so the caller can set its timer. An alert exists only if its
    deadline is strictly before the end (events at t apply before timers at t).
    """
    out: list[tuple[str, int, Optional[int], Optional[int]]] = []
    d_risk = start + cfg.warning_ms(limit_ms)
    d_over = start + limit_ms
    over_fires = end is None or d_over < end
    if end is None or d_risk < end:
        if d_risk > now:
            out.append(("~at_risk", d_risk, None, None))
        elif over_fires:
            out.append(("at_risk", d_risk, d_over if d_over <= now else None, None))
        else:
            out.append(("at_risk", d_risk, end if end_known else None, None))
    if over_fires:
        if d_over > now:
            out.append(("~overrun", d_over, None, None))
        elif end is not None and end_known:
            out.append(("overrun", d_over, end, end - start - limit_ms))
        else:
            out.append(("overrun", d_over, None, None))
    return out


def cause_at(tl: Timeline, when: int) -> Optional[Segment]:
    """The segment to blame at instant `when` (docs/semantics.md): the worst overrun, else the one in progress."""
    best: Optional[Segment] = None
    best_key: Any = None
    running: Optional[Segment] = None
    running_key: Any = None
    for seg in tl.segments():
        if seg.start > when:
            continue
        end = seg.end if seg.end is not None else when
        elapsed = min(end, when) - seg.start
        excess = elapsed - seg.limit_ms
        if excess > 0:
            key = (-excess, seg.start, KIND_ORDER[seg.kind])
            if best_key is None or key < best_key:
                best, best_key = seg, key
        if seg.end is None or when < seg.end:
            key = (seg.start, KIND_ORDER[seg.kind])
            if running_key is None or key > running_key:
                running, running_key = seg, key
    return best if best is not None else running


def evaluate(tl: Timeline, now: int, cfg: SlaConfig) -> Evaluation:
    """Everything the rules say about a ticket at watermark `now`.

    A ticket alert's cause is judged on `tl.known_at(deadline)`, the events known at its detection,
    so it stays frozen whatever happens after it.
    """
    closed = tl.closed_by(now)
    ev = Evaluation(status=tl.close_kind if closed and tl.close_kind else "open")
    ahead: list[int] = []

    def end_known(seg: Segment) -> bool:
        return seg.finished or closed

    watched: list[Segment] = ([tl.queue] if tl.queue is not None else []) + tl.attempts
    for seg in watched:
        for level, deadline, res, over in _watch(seg.start, seg.limit_ms, seg.end, end_known(seg), now, cfg):
            if level[0] == "~":
                ahead.append(deadline)
                continue
            kind = f"stage_{level}"
            ev.alerts.append(Alert(alert_id(tl.ticket_id, kind, seg.stage, seg.attempt), kind, seg.attempt,
                                   seg.stage, seg.stage, seg.party, seg.staff_id, seg.limit_ms, seg.start,
                                   deadline, res, over))

    rule = cfg.services.get(tl.service) if tl.service else None
    if rule is not None and tl.issued_at is not None:
        for level, deadline, res, over in _watch(tl.issued_at, rule.standard_ms, tl.close_at, closed, now, cfg):
            if level[0] == "~":
                ahead.append(deadline)
                continue
            kind = f"ticket_{level}"
            cause = cause_at(tl.known_at(deadline) if tl.known_at is not None else tl, deadline)
            ev.alerts.append(Alert(alert_id(tl.ticket_id, kind, "", 0), kind, 0, "",
                                   cause.label if cause else "", cause.party if cause else "",
                                   cause.staff_id if cause and cause.kind == "stage" else "",
                                   rule.standard_ms, tl.issued_at, deadline, res, over))

    if tl.close_at is not None:
        if not closed:
            ahead.append(tl.close_at)
        else:
            ev.cleanup_at = tl.close_at + cfg.out_of_orderness_ms + cfg.allowed_lateness_ms
            ahead.append(ev.cleanup_at)
    later = [d for d in ahead if d > now]
    ev.next_deadline = min(later) if later else None
    return ev


# ---------------------------------------------------------------------------------------------
# Rows (ClickHouse column names of sinks/sql/ddl.sql; instants stay epoch ms, durations ms).


_NO_SUMS: dict[str, Optional[int]] = {
    **{f"{s}_ms": None for s in STAGES}, **{f"wait_{s}_ms": None for s in STAGES[1:]}, "wait_document_ms": None,
}


def ticket_row(tl: Timeline, ev: Evaluation, cfg: SlaConfig, known_branch: bool) -> dict[str, Any]:
    closed = ev.status != "open"
    row: dict[str, Any] = {
        "ticket_id": tl.ticket_id,
        "branch_id": tl.branch_id,
        "known_branch": 1 if known_branch else 0,
        "service": tl.service or "",
        "issued_at": tl.issued_at,
        "finished_at": tl.close_at if closed else None,
        "status": ev.status,
        "total_ms": (tl.close_at - tl.issued_at) if closed and tl.issued_at is not None and tl.close_at is not None else None,
    }
    sums = dict(_NO_SUMS)
    for seg in tl.segments():
        if seg.end is None or not (seg.finished or closed or seg.kind == "wait" and seg.attempt > 0):
            continue
        key = f"{seg.label}_ms"
        sums[key] = (sums[key] or 0) + (seg.end - seg.start)
    row.update(sums)
    over = next((a for a in ev.alerts if a.kind == "ticket_overrun"), None)
    rule = cfg.services.get(tl.service) if tl.service else None
    total = row["total_ms"]
    row["breached"] = 1 if rule is not None and total is not None and total > rule.standard_ms else 0
    row["cause_stage"] = over.cause_stage if over is not None else ""
    row["responsible"] = over.responsible if over is not None else ""
    rating = tl.ratings[-1].rating if tl.ratings else None
    row["rating"] = rating
    return row


def stage_rows(tl: Timeline, ev: Evaluation) -> list[dict[str, Any]]:
    closed = ev.status != "open"
    out = []
    segs = ([tl.queue] if tl.queue is not None else []) + tl.attempts
    for seg in segs:
        ended = seg.end is not None and (seg.finished or closed)
        dur = (seg.end - seg.start) if ended and seg.end is not None else None
        out.append({
            "ticket_id": tl.ticket_id,
            "branch_id": tl.branch_id,
            "stage": seg.stage,
            "attempt": seg.attempt,
            "result": seg.result,
            "responsible": seg.party,
            "staff_id": seg.staff_id,
            "started_at": seg.start,
            "finished_at": seg.end if ended else None,
            "duration_ms": dur,
            "limit_ms": seg.limit_ms,
            "overrun_ms": max(0, dur - seg.limit_ms) if dur is not None else None,
        })
    return out


ALERT_COLUMNS = ("alert_id", "kind", "status", "severity", "attempt", "ticket_id", "branch_id", "service", "stage",
                 "cause_stage", "responsible", "staff_id", "limit_ms", "started_at", "detected_at", "resolved_at",
                 "overrun_ms")


def alert_values(tl: Timeline, a: Alert) -> tuple:
    """An alert row's values in ALERT_COLUMNS order (compact enough to keep in keyed state)."""
    return (a.alert_id, a.kind, a.status, a.severity, a.attempt, tl.ticket_id, tl.branch_id, tl.service or "",
            a.stage, a.cause_stage, a.responsible, a.staff_id, a.limit_ms, a.started_at, a.detected_at,
            a.resolved_at, a.overrun_ms if a.kind.endswith("overrun") else None)


def alert_row(tl: Timeline, a: Alert) -> dict[str, Any]:
    return dict(zip(ALERT_COLUMNS, alert_values(tl, a)))


MINUTE_MS = 60_000


def facts(tl: Timeline, ev: Evaluation) -> dict[str, tuple[str, int, str, str, int]]:
    """Branch-minute facts keyed per ticket: key -> (branch_id, minute_ms, fact, service, value_ms_or_count)."""
    out: dict[str, tuple[str, int, str, str, int]] = {}
    b, svc = tl.branch_id, tl.service or ""

    def minute(ts: int) -> int:
        return ts - ts % MINUTE_MS

    if tl.issued_at is not None:
        out["issued"] = (b, minute(tl.issued_at), "issued", svc, 1)
    if ev.status in ("completed", "cancelled") and tl.close_at is not None:
        fact = "document" if ev.status == "completed" else "cancelled"
        out["close"] = (b, minute(tl.close_at), fact, svc, 1)
    if tl.queue is not None and tl.queue_called_at is not None:
        out["queue"] = (b, minute(tl.queue_called_at), "queue", svc, tl.queue_called_at - tl.queue.start)
    for a in ev.alerts:
        if a.kind.endswith("overrun") and a.responsible:
            out[f"breach:{a.alert_id}"] = (b, minute(a.detected_at), f"breach_{a.responsible}", svc, 1)
    for r in tl.ratings:
        out[f"rating:{r.event_id}"] = (b, minute(r.ts), "rating", svc, int(r.rating or 0))
    return out
