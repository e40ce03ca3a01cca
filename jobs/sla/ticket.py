"""One ticket's keyed state and what happens to it on an event or a timer — still no Flink.

The operator in `jobs/operators.py` keeps a `TicketState` per ticket and calls `on_events` (a
batch of the ticket's events delivered at one watermark) / `on_timer`; everything it must emit
comes back as `Output`. The ticket's deduplicated events
are the single source of truth: every answer is re-derived from them, so a late or
out-of-order event simply changes the set.

What must survive a restart is the ticket's `snapshot()`: its deduplicated events, how many copies
were accepted, the `Ledger` — facts sent to the minute windows, alerts written (to withdraw them
later), dead letters sent — and its next deadline. The operator writes it only for tickets a call
changed, many tickets in one state call. Fingerprints of the other rows written live in memory only:
after a restore they are empty, so the current rows are simply written once more (idempotent: same
keys, newer version).

Row versions are `(accepted copies << 42) | watermark`, which grows with the ticket's own event
sequence and with event time, so a replay never lets an older row win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

from jobs.sla import rules
from jobs.sla.config import SlaConfig
from jobs.sla.timeline import RANK, TicketEvent, Timeline, build

Row = dict[str, Any]
WATERMARK_BITS = 42  # ms since 1970 fit until year 2109
_WATERMARK_MAX = (1 << WATERMARK_BITS) - 1


@dataclass(slots=True)
class Ledger:
    """What was sent downstream that later answers must be able to take back (persisted)."""

    facts: dict = field(default_factory=dict)  # fact key -> fact sent to the minute windows
    alerts: dict = field(default_factory=dict)  # alert id -> values of the alert row last written
    dead: set = field(default_factory=set)  # event ids reported as service mismatches
    origins: dict = field(default_factory=dict)  # event id -> (source, partition, offset), events naming a service
    ignored: int = 0  # events the rules ignored so far (finish without start, after close, ...)


@dataclass(slots=True)
class TicketState:
    events: dict[str, TicketEvent] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    accepted: int = 0  # event copies accepted so far (new events and earlier copies)
    emitted: dict[str, int] = field(default_factory=dict)  # row key -> hash of the row last written (memory)
    timer: Optional[int] = None  # the ticket's next deadline: when its answers can next change
    # Memory only: the timeline of `events` and the answers last derived from it (None: to derive).
    timeline: Optional[Timeline] = field(default=None, compare=False, repr=False)
    evaluated: Optional[rules.Evaluation] = field(default=None, compare=False, repr=False)

    def snapshot(self) -> tuple:
        """What must survive a restart, as plain tuples and dicts (they pickle in C, several times
        faster than the dataclasses); `from_snapshot` rebuilds the state from it."""
        lg = self.ledger
        return (tuple(map(tuple, self.events.values())), self.accepted,
                (lg.facts, lg.alerts, lg.dead, lg.origins, lg.ignored), self.timer)

    @classmethod
    def from_snapshot(cls, snap: tuple) -> "TicketState":
        events, accepted, ledger, timer = snap
        return cls({e[2]: TicketEvent(*e) for e in events}, Ledger(*ledger), accepted, timer=timer)


@dataclass(slots=True)
class Output:
    rows: list[tuple[str, Row]] = field(default_factory=list)  # (table, row)
    deltas: list[tuple] = field(default_factory=list)  # (branch, minute_ms, fact, service, value, sign)
    applied: int = 0  # event copies applied (new events, or an earlier copy of one)
    ledger_changed: bool = False
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
        return self.on_events(ticket_id, state, (inc,), now)

    def on_events(self, ticket_id: str, state: Optional[TicketState], incs: Iterable[Incoming], now: int
                  ) -> tuple[Optional[TicketState], Output]:
        """Apply a ticket's events delivered at watermark `now`, then derive its answers once.

        The answers are a function of the event set and `now`, so a batch gives what the same
        events one by one would have left behind (an alert raised and taken back inside the batch
        is simply never sent).
        """
        out = Output()
        changed = False
        for inc in incs:
            state, applied = self._apply(ticket_id, state, inc, out)
            changed = changed or applied
        if changed:
            assert state is not None
            self._refresh(ticket_id, state, now, out)
        return state, out

    def _apply(self, ticket_id: str, state: Optional[TicketState], inc: Incoming, out: Output
               ) -> tuple[Optional[TicketState], bool]:
        """Add one event copy to the ticket's set; False when it changes nothing (counted instead)."""
        e = inc.event
        if state is not None and e.event_id in state.events:
            out.duplicates += 1
            kept = state.events[e.event_id]
            if inc.lateness == "too_late" or (e.ts, e.size) >= (kept.ts, kept.size):
                return state, False  # a too-late copy is counted, never applied
            state.events[e.event_id] = e  # the earlier copy counts
            state.timeline = None
        elif inc.lateness == "too_late":
            out.too_late += 1
            out.rows.append(("late_events", self._late_row(ticket_id, inc)))
            return state, False
        else:
            if state is None:
                state = TicketState()
            state.events[e.event_id] = e
            state.timeline = None
            if e.service is not None and e.type != "ticket_issued":
                state.ledger.origins[e.event_id] = (inc.source, inc.partition, inc.offset)
                out.ledger_changed = True
        state.accepted += 1
        out.applied += 1
        return state, True

    def on_timer(self, ticket_id: str, state: TicketState, now: int) -> tuple[Optional[TicketState], Output]:
        out = Output()
        ev = self._refresh(ticket_id, state, now, out)
        if ev.cleanup_at is not None and now >= ev.cleanup_at:
            return None, out
        return state, out

    # -- derivation and diff ------------------------------------------------------------------

    def _refresh(self, ticket_id: str, state: TicketState, now: int, out: Output) -> rules.Evaluation:
        cfg, ledger = self.cfg, state.ledger
        tl, last = state.timeline, state.evaluated
        if tl is None:
            tl = state.timeline = build(ticket_id, list(state.events.values()), cfg, self.abandon_at)
        elif last is not None and last.cleanup_at is not None and last.next_deadline == last.cleanup_at <= now:
            # Answers are a function of the events and of which deadlines `now` has passed; since the
            # last derivation only the clean-up has passed, which changes nothing but the clean-up.
            self._mismatches(ticket_id, tl, ledger, out)
            state.timer = None
            return rules.Evaluation(last.status, last.alerts, None, last.cleanup_at)
        ev = state.evaluated = rules.evaluate(tl, now, cfg)
        if tl.ignored != ledger.ignored:
            out.ignored = tl.ignored - ledger.ignored  # a change, so counters can simply add it up
            ledger.ignored = tl.ignored
            out.ledger_changed = True
        version = (state.accepted << WATERMARK_BITS) | min(max(now, 0), _WATERMARK_MAX)
        emitted = state.emitted
        seen: set[str] = set()

        def offer(key: str, table: str, row: Row) -> None:
            seen.add(key)
            fp = hash(tuple(row.values()))
            if emitted.get(key) != fp:
                emitted[key] = fp
                row["version"] = version
                out.rows.append((table, row))

        offer("t", "tickets", rules.ticket_row(tl, ev, cfg, tl.branch_id in self.catalog))
        for r in rules.stage_rows(tl, ev):
            offer(f"s:{r['stage']}:{r['attempt']}", "ticket_stages", r)
        for r in tl.ratings:
            offer(f"r:{r.event_id}", "ratings", {
                "event_id": r.event_id, "ticket_id": ticket_id, "branch_id": tl.branch_id,
                "staff_id": r.staff_id or "", "rating": r.rating, "ts": r.ts,
            })
        for key in [k for k in emitted if k not in seen]:
            del emitted[key]
            if key.startswith("s:"):
                _, stage, attempt = key.split(":")
                out.rows.append(("ticket_stages", {"ticket_id": ticket_id, "stage": stage, "attempt": int(attempt),
                                                   "version": version, "is_deleted": 1}))
            elif key.startswith("r:"):
                out.rows.append(("ratings", {"event_id": key[2:], "ticket_id": ticket_id, "version": version,
                                             "is_deleted": 1}))

        # Alerts: the ledger keeps what was written, so one no longer implied can be withdrawn.
        current = {a.alert_id: rules.alert_values(tl, a) for a in ev.alerts}
        for alert_id, values in current.items():
            if ledger.alerts.get(alert_id) != values:
                ledger.alerts[alert_id] = values
                out.ledger_changed = True
                out.rows.append(("alerts", dict(zip(rules.ALERT_COLUMNS, values), version=version)))
        for alert_id in [a for a in ledger.alerts if a not in current]:
            values = ledger.alerts.pop(alert_id)
            out.ledger_changed = True
            if values[2] != "withdrawn":
                row = dict(zip(rules.ALERT_COLUMNS, values))
                row.update(status="withdrawn", version=version)
                out.rows.append(("alerts", row))

        if ev.cleanup_at is not None and now >= ev.cleanup_at:
            self._mismatches(ticket_id, tl, ledger, out)

        new_facts = rules.facts(tl, ev)
        old_facts = ledger.facts
        if new_facts != old_facts:
            for key, f in old_facts.items():
                if new_facts.get(key) != f:
                    out.deltas.append((*f, -1))
            for key, f in new_facts.items():
                if old_facts.get(key) != f:
                    out.deltas.append((*f, 1))
            ledger.facts = new_facts
            out.ledger_changed = True
        state.timer = ev.next_deadline
        return ev

    @staticmethod
    def _mismatches(ticket_id: str, tl: Any, ledger: Ledger, out: Output) -> None:
        """Dead letters for events whose service is not the ticket's, once the service is final."""
        for m in tl.mismatched:
            if m.event_id in ledger.dead:
                continue
            ledger.dead.add(m.event_id)
            out.ledger_changed = True
            source, partition, offset = ledger.origins.get(m.event_id, (f"ticket:{ticket_id}", 0, 0))
            out.rows.append(("dead_letters", {
                "source": source, "partition": partition, "offset": offset, "raw": "",
                "code": "service_mismatch",
                "detail": f"service {m.service!r} differs from the ticket's {tl.service!r}",
                "event_id": m.event_id,
            }))

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
