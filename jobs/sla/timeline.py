"""A ticket's timeline: its applied events cut into segments (docs/semantics.md).

Pure Python, no Flink: the job's operator and the unit tests call `build()` with a ticket's
events and get back everything the rules need — queue, stage attempts, waits, close. The
timeline is a function of the *set* of events (they are sorted here), which is what makes the
job's results independent of arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Optional

from jobs.sla.config import EXAM_STAGES, SlaConfig

RANK = {
    "ticket_issued": 0,
    "stage_finished": 1,
    "stage_started": 2,
    "rating_submitted": 3,
    "document_issued": 4,
    "ticket_cancelled": 4,
}
TERMINAL = {"document_issued": "completed", "ticket_cancelled": "cancelled"}


class TicketEvent(NamedTuple):
    """One applied event of a ticket, compact enough to keep in keyed state."""

    ts: int  # UTC epoch ms
    rank: int
    event_id: str
    type: str
    branch_id: str
    service: Optional[str] = None
    stage: Optional[str] = None
    staff_id: Optional[str] = None
    result: Optional[str] = None
    rating: Optional[int] = None
    size: int = 0

    @property
    def order(self) -> tuple[int, int, str]:
        return (self.ts, self.rank, self.event_id)


@dataclass(slots=True)
class Segment:
    """A stretch of the ticket's time with a limit and a party: queue, a stage attempt or a wait."""

    kind: str  # "queue" | "stage" | "wait"
    label: str  # queue, <stage>, wait_<stage>, wait_document
    stage: str  # the stage it belongs to ("document" for wait_document)
    attempt: int
    party: str
    limit_ms: int
    start: int
    end: Optional[int]  # None: still running
    staff_id: str = ""
    result: str = ""
    finished: bool = False  # ended by its own event (not by the ticket's close)


KIND_ORDER = {"queue": 0, "stage": 1, "wait": 2}


@dataclass(slots=True)
class Timeline:
    ticket_id: str
    branch_id: str
    service: Optional[str]
    issued_at: Optional[int]
    close_at: Optional[int]  # the eventual close, possibly an abandonment still in the future
    close_kind: Optional[str]  # completed | cancelled | abandoned | None (no close can be computed)
    queue: Optional[Segment]
    queue_called_at: Optional[int]  # first stage_started (ends the queue by a call)
    attempts: list[Segment] = field(default_factory=list)
    waits: list[Segment] = field(default_factory=list)
    ratings: list[TicketEvent] = field(default_factory=list)
    mismatched: list[TicketEvent] = field(default_factory=list)
    ignored: int = 0
    known_at: Optional[Callable[[int], "Timeline"]] = field(default=None, compare=False, repr=False)  # events ts <= t

    def closed_by(self, now: int) -> bool:
        """Whether the close is known at watermark `now` (an abandonment only once time reaches it)."""
        if self.close_kind in ("completed", "cancelled"):
            return True
        return self.close_kind == "abandoned" and self.close_at is not None and now >= self.close_at

    def segments(self) -> list[Segment]:
        out = [self.queue] if self.queue is not None else []
        return out + self.attempts + self.waits


AbandonAt = Callable[[str, int], Optional[int]]
"""(branch_id, anchor ts) -> abandonment instant, from the branch's hours (see sla.closing)."""


def build(ticket_id: str, events: list[TicketEvent], cfg: SlaConfig, abandon_at: AbandonAt) -> Timeline:
    """Cut a ticket's (deduplicated, not too-late) events into its timeline."""
    evs = sorted(events)  # tuples sort by (ts, rank, event_id) first: `order`, and event ids are unique here
    first = evs[0]
    issued = next((e for e in evs if e.type == "ticket_issued"), None)
    service = issued.service if issued is not None else next((e.service for e in evs if e.service), None)
    issued_at = issued.ts if issued is not None else None
    branch_id = issued.branch_id if issued is not None else first.branch_id

    applied: list[TicketEvent] = []
    mismatched: list[TicketEvent] = []
    for e in evs:
        if e.service is not None and service is not None and e.service != service:
            mismatched.append(e)
        else:
            applied.append(e)

    # The close: the first terminal event at or after the issue, unless abandonment comes first.
    terminal = next(
        (e for e in applied if e.type in TERMINAL and (issued_at is None or e.ts >= issued_at)), None
    )
    anchor = issued_at if issued_at is not None else applied[0].ts if applied else first.ts
    abandon = abandon_at(branch_id, anchor)
    if terminal is not None and (abandon is None or terminal.ts <= abandon):
        close_at, close_kind = terminal.ts, TERMINAL[terminal.type]
    else:
        close_at, close_kind = abandon, ("abandoned" if abandon is not None else None)

    tl = Timeline(ticket_id, branch_id, service, issued_at, close_at, close_kind, None, None, mismatched=mismatched)
    tl.known_at = lambda t: build(ticket_id, [e for e in evs if e.ts <= t], cfg, abandon_at)
    open_by_stage: dict[str, list[Segment]] = {}
    count_by_stage: dict[str, int] = {}
    last_end: Optional[int] = None
    last_end_seg: Optional[Segment] = None
    seen_issue = False
    for e in applied:
        t = e.type
        if t == "ticket_issued":
            if seen_issue:
                tl.ignored += 1
            seen_issue = True
            continue
        if t == "rating_submitted":
            tl.ratings.append(e)
            continue
        if t in TERMINAL:
            if e is not terminal or close_kind == "abandoned":
                tl.ignored += 1
            continue
        # stage events
        if (issued_at is not None and e.ts < issued_at) or (close_at is not None and e.ts > close_at):
            tl.ignored += 1
            continue
        stage = e.stage or ""
        if t == "stage_started":
            if tl.queue_called_at is None:
                tl.queue_called_at = e.ts
                last_end = e.ts if last_end is None else max(last_end, e.ts)
            n = count_by_stage.get(stage, 0) + 1
            count_by_stage[stage] = n
            rule = cfg.stages[stage]
            seg = Segment("stage", stage, stage, n, rule.responsible, rule.limit_ms, e.ts, None, e.staff_id or "")
            tl.attempts.append(seg)
            open_by_stage.setdefault(stage, []).append(seg)
            prev = last_end if last_end is not None else e.ts
            tl.waits.append(
                Segment("wait", f"wait_{stage}", stage, n, rule.responsible, cfg.wait_limit_ms(stage), prev, e.ts)
            )
        else:  # stage_finished
            pending = open_by_stage.get(stage)
            if not pending:
                tl.ignored += 1
                continue
            seg = pending.pop()
            seg.end, seg.finished = e.ts, True
            seg.result = e.result or ""
            if not seg.staff_id:
                seg.staff_id = e.staff_id or ""
            if last_end is None or e.ts >= last_end:
                last_end, last_end_seg = e.ts, seg

    if issued_at is not None:
        q_end = tl.queue_called_at if tl.queue_called_at is not None else close_at
        rule = cfg.stages["queue"]
        tl.queue = Segment("queue", "queue", "queue", 1, rule.responsible, rule.limit_ms, issued_at, q_end, "", "",
                           tl.queue_called_at is not None)
    for seg in tl.attempts:
        if seg.end is None:
            seg.end = close_at
    if last_end_seg is not None and all(a.finished for a in tl.attempts):
        tl.waits.append(_trailing_wait(tl, last_end_seg, cfg))
    return tl


def _trailing_wait(tl: Timeline, last: Segment, cfg: SlaConfig) -> Segment:
    """The wait after the stage that ended last: for the document, or for the next stage the route names."""
    assert last.end is not None
    if tl.close_kind == "completed":
        nxt = "document"
        party = last.party
    else:
        nxt = next_stage(tl.service, last, cfg)
        party = cfg.responsible(nxt) if nxt != "document" else last.party
    return Segment("wait", f"wait_{nxt}", nxt, 0, party, cfg.wait_limit_ms(nxt), last.end, tl.close_at)


def next_stage(service: Optional[str], last: Segment, cfg: SlaConfig) -> str:
    """The stage a citizen waits for after `last`: a failed exam is retaken, else the route goes on."""
    if last.stage in EXAM_STAGES and last.result == "failed":
        return last.stage
    rule = cfg.services.get(service) if service else None
    if rule is None or last.stage not in rule.route:
        return "document"
    i = rule.route.index(last.stage)
    return rule.route[i + 1] if i + 1 < len(rule.route) else "document"
