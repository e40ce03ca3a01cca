"""One ticket's keyed state and what happens to it on an event or a timer — still no Flink.

The operator in `jobs/operators.py` stores a `TicketState` per ticket and calls `on_event` /
`on_timer`; everything it must emit comes back as `Output`. The state holds the ticket's
deduplicated events (the single source of truth: every answer is re-derived from them, so a
late or out-of-order event simply changes the set) and a fingerprint of what was last written,
so only changed rows leave the operator and an alert that is no longer implied is withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from jobs.sla import rules
from jobs.sla.config import SlaConfig
from jobs.sla.timeline import RANK, TicketEvent, build

Row = dict[str, Any]


@dataclass(slots=True)
class TicketState:
    events: dict[str, TicketEvent] = field(default_factory=dict)
    emitted: dict[str, Any] = field(default_factory=dict)  # row key -> fingerprint (alerts: last row)
    facts: dict[str, tuple] = field(default_factory=dict)  # fact key -> fact last sent to the windows
    dead: set = field(default_factory=set)  # event ids already reported as service mismatches
    seq: int = 0  # version of the ticket's rows: grows with every change written
    timer: Optional[int] = None  # the one event-time timer registered for this ticket
    ignored: int = 0  # events the rules ignored (finish without start, after close, ...)
    origins: dict = field(default_factory=dict)  # event id -> (source, partition, offset) of events naming a service


@dataclass(slots=True)
class Output:
    rows: list[tuple[str, Row]] = field(default_factory=list)  # (table, row)
    deltas: list[tuple] = field(default_factory=list)  # (branch, minute_ms, fact, service, value, sign)
    duplicates: int = 0
    too_late: int = 0
    ignored: int = 0


@dataclass(slots=True)
class Incoming:
    """A valid ticket event as the operator receives it, with where it came from."""

    event: TicketEvent
    lateness: str  # on_time | late | too_late
    source: str = ""
    partition: int = 0
    offset: int = 0
    max_seen: Optional[int] = None
    raw: str = ""


class TicketLogic:
    """The SLA rules bound to a configuration and a branch catalog."""

    def __init__(self, cfg: SlaConfig, catalog: Mapping[str, Any], abandon_at: Callable[[str, int], Optional[int]]):
        self.cfg, self.catalog, self.abandon_at = cfg, catalog, abandon_at

    # -- entry points -------------------------------------------------------------------------

    def on_event(self, ticket_id: str, state: Optional[TicketState], inc: Incoming, now: int
                 ) -> tuple[Optional[TicketState], Output]:
        out = Output()
        e = inc.event
        if state is not None and e.event_id in state.events:
            out.duplicates = 1
            kept = state.events[e.event_id]
            if inc.lateness == "too_late" or (e.ts, e.size) >= (kept.ts, kept.size):
                return state, out  # a too-late copy is counted, never applied
            state.events[e.event_id] = e  # the earlier copy counts
        elif inc.lateness == "too_late":
            out.too_late = 1
            out.rows.append(("late_events", self._late_row(ticket_id, inc)))
            return state, out
        else:
            if state is None:
                state = TicketState()
            state.events[e.event_id] = e
            if e.service is not None and e.type != "ticket_issued":
                state.origins[e.event_id] = (inc.source, inc.partition, inc.offset)
        self._refresh(ticket_id, state, now, out, inc)
        return state, out

    def on_timer(self, ticket_id: str, state: TicketState, now: int) -> tuple[Optional[TicketState], Output]:
        out = Output()
        ev = self._refresh(ticket_id, state, now, out)
        if ev.cleanup_at is not None and now >= ev.cleanup_at:
            return None, out
        return state, out

    # -- derivation and diff ------------------------------------------------------------------

    def _refresh(self, ticket_id: str, state: TicketState, now: int, out: Output,
                 inc: Optional[Incoming] = None) -> rules.Evaluation:
        cfg = self.cfg
        tl = build(ticket_id, list(state.events.values()), cfg, self.abandon_at)
        ev = rules.evaluate(tl, now, cfg)
        out.ignored = tl.ignored - state.ignored  # a change, so counters can simply add it up
        state.ignored = tl.ignored
        fresh: list[tuple[str, str, Row]] = []
        seen: set[str] = set()

        def offer(key: str, table: str, row: Row) -> None:
            seen.add(key)
            fp = tuple(row.values())
            prev = state.emitted.get(key)
            if (prev[0] if isinstance(prev, tuple) and table == "alerts" else prev) != fp:
                fresh.append((key, table, row))

        offer("t", "tickets", rules.ticket_row(tl, ev, cfg, tl.branch_id in self.catalog))
        for r in rules.stage_rows(tl, ev):
            offer(f"s:{r['stage']}:{r['attempt']}", "ticket_stages", r)
        for a in ev.alerts:
            offer(f"a:{a.alert_id}", "alerts", rules.alert_row(tl, a))
        for r in tl.ratings:
            offer(f"r:{r.event_id}", "ratings", {
                "event_id": r.event_id, "ticket_id": ticket_id, "branch_id": tl.branch_id,
                "staff_id": r.staff_id or "", "rating": r.rating, "ts": r.ts,
            })
        final = ev.cleanup_at is not None and now >= ev.cleanup_at
        for m in (tl.mismatched if final else ()):
            if m.event_id not in state.dead:
                state.dead.add(m.event_id)
                source, partition, offset = state.origins.get(m.event_id, (f"ticket:{ticket_id}", 0, 0))
                out.rows.append(("dead_letters", {
                    "source": source, "partition": partition, "offset": offset, "raw": "",
                    "code": "service_mismatch",
                    "detail": f"service {m.service!r} differs from the ticket's {tl.service!r}",
                    "event_id": m.event_id,
                }))

        gone = [k for k in state.emitted if k not in seen]
        if fresh or gone:
            state.seq += 1
            version = state.seq
            for key, table, row in fresh:
                fp = tuple(row.values())
                state.emitted[key] = (fp, row) if table == "alerts" else fp
                out.rows.append((table, {**row, "version": version}))
            for key in gone:
                prev = state.emitted.pop(key)
                if key.startswith("a:"):
                    out.rows.append(("alerts", {**prev[1], "status": "withdrawn", "version": version}))
                elif key.startswith("s:"):
                    _, stage, attempt = key.split(":")
                    out.rows.append(("ticket_stages", {"ticket_id": ticket_id, "stage": stage,
                                                       "attempt": int(attempt), "version": version,
                                                       "is_deleted": 1}))
                elif key.startswith("r:"):
                    out.rows.append(("ratings", {"event_id": key[2:], "ticket_id": ticket_id,
                                                 "version": version, "is_deleted": 1}))

        new_facts = rules.facts(tl, ev)
        old_facts = state.facts
        if new_facts != old_facts:
            for key, f in old_facts.items():
                if new_facts.get(key) != f:
                    out.deltas.append((*f, -1))
            for key, f in new_facts.items():
                if old_facts.get(key) != f:
                    out.deltas.append((*f, 1))
            state.facts = new_facts
        state.timer = ev.next_deadline
        return ev

    @staticmethod
    def _late_row(ticket_id: str, inc: Incoming) -> Row:
        e = inc.event
        return {
            "source": inc.source, "partition": inc.partition, "offset": inc.offset,
            "event_id": e.event_id, "type": e.type, "ticket_id": ticket_id, "branch_id": e.branch_id,
            "ts": e.ts, "max_seen_ts": inc.max_seen if inc.max_seen is not None else e.ts,
            "late_by_ms": (inc.max_seen - e.ts) if inc.max_seen is not None else 0, "raw": inc.raw,
        }


def make_event(event_id: str, type_: str, ts: int, branch_id: str, service: Optional[str] = None,
               stage: Optional[str] = None, staff_id: Optional[str] = None, result: Optional[str] = None,
               rating: Optional[int] = None, size: int = 0) -> TicketEvent:
    """A TicketEvent with its order rank filled in (tests and the operator both use this)."""
    return TicketEvent(ts, RANK[type_], event_id, type_, branch_id, service, stage, staff_id, result, rating, size)
