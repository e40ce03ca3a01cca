"""A hand-driven harness for the SLA core (no Flink).

`Driver` plays the ticket operator of `jobs/operators.py` for one ticket: events are delivered in a
chosen order, each one judged on time / late / too late against M (the highest `ts` delivered
before it, DESIGN §4), and the watermark is moved by hand. Exactly as in Flink, the ticket keeps
one event-time timer (`state.timer`, re-registered after every call) and it fires once the
watermark reaches it, with the watermark as the current time. Rows are collected the way the
"latest state wins" tables read them: per key, the highest `version` wins; withdrawn alerts stay
visible with status `withdrawn`, deleted stage and rating rows disappear. Minute-window facts are
kept as the raw signed deltas and can be folded into `branch_minute` rows with `MinuteCounter`.

Expected values in the tests are written out by hand from the rules; this module only drives
the code and collects what it emits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Iterable, Optional

from jobs.sla import config
from jobs.sla.closing import abandonment
from jobs.sla.minutes import Bucket, MinuteCounter
from jobs.sla.ticket import Incoming, TicketLogic, TicketState, make_event
from jobs.sla.timeline import TicketEvent
from schemas.catalog import load_catalog

SEC = 1_000
MIN = 60 * SEC
HOUR = 60 * MIN
LONG_MIN = -(2**63)  # Flink's initial watermark
END_OF_TIME = 2**63 - 1  # the watermark Flink sends at the end of a bounded input

CFG = config.load()
CATALOG = load_catalog()
BRANCH = "spec-astana"  # Mon–Fri 08:30–20:00, Sat 09:00–18:00, Sun closed, Asia/Almaty (UTC+5)


def utc_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0) -> int:
    """Epoch ms of a UTC wall-clock instant (no zone database involved)."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1000 + ms


# Tuesday 2026-03-10, 10:00 local at spec-astana (05:00 UTC): the branch closes at 20:00 local
# (15:00 UTC), so an unfinished ticket is abandoned at 16:00 UTC, 11 h later.
T0 = utc_ms(2026, 3, 10, 5, 0)


def logic(cfg: config.SlaConfig = CFG, catalog: Any = None) -> TicketLogic:
    cat = CATALOG if catalog is None else catalog
    return TicketLogic(cfg, cat, abandonment(cat, cfg))


class Ticket:
    """Builds one ticket's events with offsets from `t0`; event ids number them in creation order."""

    def __init__(self, ticket_id: str = "T1", service: Optional[str] = "license_exchange", t0: int = T0,
                 branch: str = BRANCH) -> None:
        self.ticket_id, self.service, self.t0, self.branch = ticket_id, service, t0, branch
        self.events: list[TicketEvent] = []

    def _add(self, type_: str, offset: int, eid: Optional[str] = None, **kw: Any) -> TicketEvent:
        kw.setdefault("branch_id", self.branch)
        branch = kw.pop("branch_id")
        e = make_event(eid or f"{self.ticket_id}-e{len(self.events) + 1:02d}", type_, self.t0 + offset, branch, **kw)
        self.events.append(e)
        return e

    def issue(self, offset: int = 0, eid: Optional[str] = None, service: Any = "default", **kw: Any) -> TicketEvent:
        return self._add("ticket_issued", offset, eid, service=self.service if service == "default" else service,
                         **kw)

    def start(self, stage: str, offset: int, staff: Optional[str] = None, eid: Optional[str] = None,
              **kw: Any) -> TicketEvent:
        return self._add("stage_started", offset, eid, stage=stage, staff_id=staff, **kw)

    def finish(self, stage: str, offset: int, result: Optional[str] = None, staff: Optional[str] = None,
               eid: Optional[str] = None, **kw: Any) -> TicketEvent:
        return self._add("stage_finished", offset, eid, stage=stage, result=result, staff_id=staff, **kw)

    def document(self, offset: int, eid: Optional[str] = None, **kw: Any) -> TicketEvent:
        return self._add("document_issued", offset, eid, **kw)

    def cancel(self, offset: int, eid: Optional[str] = None, **kw: Any) -> TicketEvent:
        return self._add("ticket_cancelled", offset, eid, **kw)

    def rate(self, offset: int, rating: int, staff: str = "s1", eid: Optional[str] = None, **kw: Any
             ) -> TicketEvent:
        return self._add("rating_submitted", offset, eid, rating=rating, staff_id=staff, **kw)

    def stage(self, stage: str, start: int, end: Optional[int], staff: Optional[str] = None,
              result: Optional[str] = None) -> None:
        """A stage attempt from `start` to `end` (None: never finished)."""
        self.start(stage, start, staff)
        if end is not None:
            self.finish(stage, end, result)


def without_version(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "version"}


@dataclass
class Driver:
    """One ticket key of the ticket operator, with a watermark moved by hand."""

    cfg: config.SlaConfig = CFG
    catalog: Any = None
    ticket_id: str = "T1"
    logic: TicketLogic = field(init=False)
    state: Optional[TicketState] = None
    watermark: int = LONG_MIN
    max_seen: Optional[int] = None  # M: highest ts delivered so far (events and heartbeats)
    rows: dict[tuple[str, Any], dict[str, Any]] = field(default_factory=dict)
    emitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    deltas: list[tuple] = field(default_factory=list)
    late_rows: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    too_late: int = 0
    ignored: int = 0
    timers: list[int] = field(default_factory=list)  # every timer registered, in order
    fired: list[tuple[int, int]] = field(default_factory=list)  # (timer, watermark when it fired)
    dropped_at: Optional[int] = None  # watermark at which on_timer returned no state
    lateness_seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.logic = logic(self.cfg, self.catalog)

    # -- lateness (DESIGN §4) ---------------------------------------------------------------------

    def judge(self, ts: int) -> str:
        if self.max_seen is None:
            return "on_time"
        ooo, lateness = self.cfg.out_of_orderness_ms, self.cfg.allowed_lateness_ms
        if ts >= self.max_seen - ooo:
            return "on_time"
        if ts >= self.max_seen - ooo - lateness:
            return "late"
        return "too_late"

    def _saw(self, ts: int) -> None:
        self.max_seen = ts if self.max_seen is None else max(self.max_seen, ts)

    def bounded_watermark(self) -> int:
        """The watermark of bounded out-of-orderness after what was delivered: M − ooo − 1."""
        assert self.max_seen is not None
        return self.max_seen - self.cfg.out_of_orderness_ms - 1

    # -- delivery ---------------------------------------------------------------------------------

    def feed(self, event: TicketEvent, lateness: Optional[str] = None, raw: str = "", source: str = "test",
             offset: int = 0) -> str:
        """Deliver one event at the current watermark; lateness is judged against M unless given."""
        verdict = lateness if lateness is not None else self.judge(event.ts)
        self.lateness_seen.append(verdict)
        inc = Incoming(event, verdict, source, 0, offset, self.max_seen, raw)
        self.state, out = self.logic.on_event(self.ticket_id, self.state, inc, self.watermark)
        self._collect(out)
        self._saw(event.ts)
        return verdict

    def deliver(self, events: Iterable[TicketEvent], advance: bool = True) -> None:
        """Deliver events in the given order; before each one the watermark follows the ones before it."""
        for e in events:
            if advance and self.max_seen is not None:
                self.advance(self.bounded_watermark())
            self.feed(e)

    def heartbeat(self, ts: int) -> None:
        """A heartbeat: it only moves M and, with it, the watermark."""
        self._saw(ts)
        self.advance(self.bounded_watermark())

    def advance(self, watermark: int, exact: bool = True) -> None:
        """Move the watermark; the ticket's timer fires once the watermark reaches it.

        exact=True moves the watermark through every timer instant on the way (a watermark emitted
        at each of them); exact=False jumps straight to `watermark` and fires what is due there.
        """
        if watermark <= self.watermark:
            return
        while self.state is not None and self.state.timer is not None and self.state.timer <= watermark:
            timer = self.state.timer
            self.watermark = max(self.watermark, timer if exact else watermark)
            now = max(self.watermark, timer)
            self.fired.append((timer, now))
            self.state, out = self.logic.on_timer(self.ticket_id, self.state, now)
            self._collect(out)
            if self.state is None:
                self.dropped_at = now
            elif self.state.timer is not None and self.state.timer <= now:
                raise AssertionError(f"timer {self.state.timer} registered at or before watermark {now}")
        self.watermark = watermark

    def finish_input(self) -> None:
        """End of a bounded input: the watermark jumps to the end of time."""
        self.advance(END_OF_TIME, exact=True)

    def _collect(self, out: Any) -> None:
        self.duplicates += out.duplicates
        self.too_late += out.too_late
        self.ignored += out.ignored
        self.deltas.extend(out.deltas)
        for table, row in out.rows:
            self.emitted.append((table, row))
            if table == "late_events":
                self.late_rows.append(row)
                continue
            if table == "dead_letters":
                self.dead_letters.append(row)
                continue
            key = _key(table, row)
            prev = self.rows.get((table, key))
            if prev is not None and prev["version"] > row["version"]:
                continue
            self.rows[(table, key)] = row
        if self.state is not None and (not self.timers or self.timers[-1] != self.state.timer):
            if self.state.timer is not None:
                self.timers.append(self.state.timer)

    # -- what a reader of the tables sees ---------------------------------------------------------

    def table(self, name: str) -> dict[Any, dict[str, Any]]:
        return {k: without_version(r) for (t, k), r in self.rows.items()
                if t == name and not r.get("is_deleted")}

    def ticket(self) -> dict[str, Any]:
        rows = self.table("tickets")
        assert len(rows) == 1, rows
        return next(iter(rows.values()))

    def stages(self) -> dict[tuple[str, int], dict[str, Any]]:
        return {(k[1], k[2]): r for k, r in self.table("ticket_stages").items()}

    def alerts(self) -> dict[tuple[str, str, int], dict[str, Any]]:
        """Standing alerts (firing or resolved) by (kind, stage, attempt)."""
        return {(r["kind"], r["stage"], r["attempt"]): r for r in self.table("alerts").values()
                if r["status"] != "withdrawn"}

    def alert(self, kind: str, stage: str = "", attempt: Optional[int] = None) -> dict[str, Any]:
        if attempt is None:
            attempt = 0 if kind.startswith("ticket") else 1
        return self.alerts()[(kind, stage, attempt)]

    def withdrawn(self) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.table("alerts").items() if r["status"] == "withdrawn"}

    def final(self) -> dict[str, dict[Any, dict[str, Any]]]:
        """Every table's final rows (without versions), for comparing whole runs."""
        names = sorted({t for t, _ in self.rows})
        return {name: rows for name in names if (rows := self.table(name))}

    def net_facts(self) -> Counter:
        """The facts the minute windows end up counting: signed deltas summed, zeros dropped."""
        c: Counter = Counter()
        for *fact, sign in self.deltas:
            c[tuple(fact)] += sign
        return Counter({k: v for k, v in c.items() if v != 0})

    def minute_rows(self) -> dict[tuple[str, int], dict[str, Any]]:
        return fold_minutes(self.deltas, self.cfg)


def _key(table: str, row: dict[str, Any]) -> Any:
    if table == "tickets":
        return row["ticket_id"]
    if table == "ticket_stages":
        return (row["ticket_id"], row["stage"], row["attempt"])
    if table == "alerts":
        return row["alert_id"]
    if table == "ratings":
        return row["event_id"]
    raise AssertionError(f"unexpected table {table}")


def fold_minutes(deltas: Iterable[tuple], cfg: config.SlaConfig = CFG) -> dict[tuple[str, int], dict[str, Any]]:
    """Apply signed facts to per-(branch, minute) buckets and return each bucket's row."""
    counter = MinuteCounter(cfg)
    buckets: dict[tuple[str, int], Bucket] = {}
    for branch, minute, fact, service, value, sign in deltas:
        bucket = buckets.setdefault((branch, minute), Bucket())
        counter.apply(bucket, fact, service, value, sign)
    return {k: MinuteCounter.row(k[0], k[1], b) for k, b in buckets.items()}


def run_in_order(events: list[TicketEvent], cfg: config.SlaConfig = CFG, catalog: Any = None,
                 ticket_id: str = "T1") -> Driver:
    """Deliver a ticket's events sorted by event time, then end the input."""
    d = Driver(cfg, catalog, ticket_id)
    d.deliver(sorted(events, key=lambda e: e.order))
    d.finish_input()
    return d
