"""The thin PyFlink operator over the pure SLA core in `jobs/sla/`.

It is called per batch of a bucket's events and keeps one pending event-time timer per bucket (the
earliest instant at which one of its tickets' answers can change), because every call, state access
and timer crossing into the JVM costs more than the rules it would run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from heapq import heappop, heappush
from itertools import islice
from typing import Any, Iterable, Optional

import orjson

from pyflink.common import Types
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext

from jobs.rows import to_line

#: What the ticket operator emits per call, UTF-8: (output lines joined by newlines, the branch facts
#: as a JSON array of [branch, minute_ms, fact, service, value, sign]); either may be empty (never
#: None: process mode's coder cannot send a null). Bytes, because a kilobyte string crossing into
#: the JVM is converted character by character (measured: ~28 µs more per record than bytes).
BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())
OUTPUT_TYPE = Types.TUPLE([BYTES, BYTES])
END_OF_TIME = 1 << 62  # watermarks at or beyond this are the end of a bounded input


def _logic(cfg_dict: dict[str, Any]):
    from jobs.sla.closing import abandonment
    from jobs.sla.config import from_dict
    from jobs.sla.ticket import TicketLogic
    from schemas.catalog import load_catalog

    cfg = from_dict(cfg_dict, source="job")
    catalog = load_catalog()
    return cfg, TicketLogic(cfg, catalog, abandonment(catalog, cfg))


def _subtask_index(ctx: RuntimeContext) -> int:
    """The subtask's index; thread mode's runtime context only offers it through task info."""
    for get in (lambda: ctx.get_index_of_this_subtask(), lambda: ctx.get_task_info().get_index_of_this_subtask()):
        try:
            return int(get())
        except Exception:  # noqa: BLE001 - the other execution mode's accessor
            continue
    return 0


@dataclass(slots=True)
class _Bucket:
    """One bucket's open tickets (memory), their deadlines, and the one Flink timer standing for them."""

    tickets: dict = field(default_factory=dict)  # ticket id -> TicketState
    deadlines: list = field(default_factory=list)  # heap of (deadline, ticket id); stale entries skipped
    timer: Optional[int] = None  # the event-time timer registered for this bucket (None: none or unknown)


@dataclass(slots=True)
class _Call:
    """What one call to the operator gathers before it writes state, moves the timer and emits."""

    rows: list = field(default_factory=list)
    deltas: list = field(default_factory=list)
    changed: dict = field(default_factory=dict)  # ticket id -> TicketState to write through
    gone: list = field(default_factory=list)  # ticket ids whose state is dropped


class TicketOperator(KeyedProcessFunction):
    """key_by(bucket of ticket_id): the tickets' lifecycles, their alerts on event-time timers, their facts.

    Flink's keys here are buckets of tickets, not tickets: the JVM gathers a bucket's events until
    the watermark next moves (`sitcen.udf.TicketBatches`) and hands them over in one call, and one
    event-time timer per bucket stands at the earliest deadline of its tickets — because every call
    and every timer crossing into Python costs tens of microseconds whatever the rules then do. The
    answers are the same as one ticket at a time (`TicketLogic.on_events`).

    Open tickets live in a Python dict per bucket; the snapshots of the tickets a call changed are
    written through to a map state in one state call, and read back only after a restore.
    """

    def __init__(self, cfg_dict: dict[str, Any], run_id: str):
        self.cfg_dict, self.run_id = cfg_dict, run_id

    def open(self, ctx: RuntimeContext) -> None:
        from pyflink.datastream.state import MapStateDescriptor

        from jobs.sla.ticket import Incoming, TicketState, make_event

        self._make_event, self._Incoming, self._TicketState = make_event, Incoming, TicketState
        _tune_gc()
        self.cfg, self.logic = _logic(self.cfg_dict)
        self.snapshots = ctx.get_map_state(MapStateDescriptor("tickets", Types.STRING(), Types.PICKLED_BYTE_ARRAY()))
        self.buckets: dict[int, _Bucket] = {}
        self.subtask = _subtask_index(ctx)
        self.open_tickets = 0
        self.pending_timers = 0  # tickets with a deadline ahead (each bucket's Flink timer stands for them)
        self.applied = self.duplicates = self.ignored = self.too_late = 0
        self.stats_seq = 0
        self.stats_hour: Optional[int] = None
        group = ctx.get_metrics_group()
        group.gauge("openTickets", lambda: self.open_tickets)
        group.gauge("pendingTimers", lambda: self.pending_timers)

    # -- Flink callbacks ---------------------------------------------------------------------

    def process_element(self, value: bytes, ctx: KeyedProcessFunction.Context) -> Iterable[Any]:
        batch = orjson.loads(value)  # [bucket, event, ...], each event pipeline.TICKET_EVENT_FIELDS
        bucket = self._bucket(batch[0])
        now = ctx.timer_service().current_watermark()
        by_ticket: dict[str, list] = {}
        for ev in islice(batch, 1, None):
            by_ticket.setdefault(ev[0], []).append(ev)
        call = _Call()
        make_event, incoming = self._make_event, self._Incoming
        for ticket_id, evs in by_ticket.items():
            incs = [incoming(make_event(event_id, type_, ts, branch_id, service, stage, staff_id, result, rating,
                                        size), lateness, source, 0, offset, max_seen, raw or "")
                    for (_, event_id, type_, ts, branch_id, service, stage, staff_id, result, rating, size,
                         lateness, source, offset, max_seen, raw) in evs]
            before = bucket.tickets.get(ticket_id)
            old_timer = before.timer if before is not None else None
            after, out = self.logic.on_events(ticket_id, before, incs, now)
            self.applied += out.applied
            self.duplicates += out.duplicates
            self.too_late += out.too_late
            self._settle(bucket, ticket_id, before is not None, old_timer, after, out, call)
        yield from self._finish(ctx, bucket, call, now)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterable[Any]:
        bucket = self._bucket(ctx.get_current_key())
        bucket.timer = None  # it has fired
        now = max(ctx.timer_service().current_watermark(), timestamp)
        call = _Call()
        heap = bucket.deadlines
        while heap and heap[0][0] <= now:
            deadline, ticket_id = heappop(heap)
            state = bucket.tickets.get(ticket_id)
            if state is None or state.timer != deadline:
                continue  # the ticket is gone or its deadline moved since this entry
            after, out = self.logic.on_timer(ticket_id, state, now)
            self._settle(bucket, ticket_id, True, deadline, after, out, call)
        yield from self._finish(ctx, bucket, call, now)

    # -- helpers ------------------------------------------------------------------------------

    def _bucket(self, key: Any) -> _Bucket:
        """The bucket's tickets; after a restore they are read back from Flink state on first use."""
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = _Bucket()
            for ticket_id, snap in self.snapshots.items():
                state = self._TicketState.from_snapshot(snap)
                bucket.tickets[ticket_id] = state
                self.open_tickets += 1
                if state.timer is not None:
                    heappush(bucket.deadlines, (state.timer, ticket_id))
                    self.pending_timers += 1
        return bucket

    def _settle(self, bucket: _Bucket, ticket_id: str, existed: bool, old_timer: Optional[int], after, out,
                call: _Call) -> None:
        """Book one ticket's answer: its state in memory and to write, its deadline, its rows and facts."""
        if old_timer is not None:
            self.pending_timers -= 1
        if after is None:
            if existed:
                del bucket.tickets[ticket_id]
                self.open_tickets -= 1
                call.gone.append(ticket_id)
        else:
            if not existed:
                bucket.tickets[ticket_id] = after
                self.open_tickets += 1
            new_timer = after.timer
            if new_timer is not None:
                self.pending_timers += 1
                if new_timer != old_timer:
                    heappush(bucket.deadlines, (new_timer, ticket_id))
            if out.applied or out.ledger_changed or new_timer != old_timer:
                call.changed[ticket_id] = after
        self.ignored += out.ignored
        call.rows.extend(out.rows)
        call.deltas.extend(out.deltas)

    def _finish(self, ctx, bucket: _Bucket, call: _Call, now: int) -> Iterable[Any]:
        """Write the changed tickets through, keep the bucket's timer at its earliest deadline, emit."""
        if call.changed:
            self.snapshots.put_all(_Entries((ticket_id, state.snapshot()) for ticket_id, state in call.changed.items()))
        for ticket_id in call.gone:
            self.snapshots.remove(ticket_id)
        heap, tickets = bucket.deadlines, bucket.tickets
        while heap and (tickets.get(heap[0][1]) is None or tickets[heap[0][1]].timer != heap[0][0]):
            heappop(heap)  # stale entries at the top
        wanted = heap[0][0] if heap else None
        if wanted != bucket.timer:
            timers = ctx.timer_service()
            if bucket.timer is not None:
                timers.delete_event_time_timer(bucket.timer)
            if wanted is not None:
                timers.register_event_time_timer(wanted)
            bucket.timer = wanted
        lines = [to_line(table, row) for table, row in call.rows]
        lines.extend(self._stats(now))
        if lines or call.deltas:  # one record per call: the sink writes it as these lines
            yield b"\n".join(lines), orjson.dumps(_net(call.deltas)) if call.deltas else b""

    def _stats(self, now: int) -> Iterable[bytes]:
        hour = now // 3_600_000 if now < END_OF_TIME else None
        if hour != self.stats_hour or (self.open_tickets == 0 and self.stats_hour is not None):
            self.stats_hour = hour
            self.stats_seq += 1
            yield to_line("job_stats", {
                "run_id": self.run_id, "subtask": self.subtask, "seq": self.stats_seq,
                "watermark": now if 0 < now < END_OF_TIME else None,
                "open_tickets": self.open_tickets, "pending_timers": self.pending_timers,
                "events_applied": self.applied, "duplicates": self.duplicates,
                "ignored": self.ignored, "too_late": self.too_late,
            })


#: Allocations between young collections of Python's cyclic GC (default 700). The rules allocate
#: many short-lived objects; at the default the collector ran ~2,400 times over a national day and
#: took about half of the rules' CPU (replaying the day through `jobs/sla`). Open tickets hold few
#: reference cycles, so collecting less often costs little memory.
GC_YOUNG_THRESHOLD = 50_000


def _tune_gc() -> None:
    """Collect less often, and never rescan what start-up left (PyFlink, pandas, Beam modules)."""
    import gc

    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(max(gc.get_threshold()[0], GC_YOUNG_THRESHOLD), middle, old)


class _Entries(dict):
    """A dict that iterates as (key, value) pairs: MapState.put_all reads `.items()` of its argument in
    thread mode but iterates it for pairs in process mode (PyFlink 2.3), so one argument serves both."""

    def __iter__(self):
        return iter(self.items())


def _net(deltas: list[tuple]) -> list[tuple]:
    """A call's facts netted per (branch, minute, fact, service, value): a fact taken back in the same
    call cancels, and the windows fold fewer rows."""
    net: Counter = Counter()
    for *fact, sign in deltas:
        net[tuple(fact)] += sign
    return [(*fact, sign) for fact, sign in net.items() if sign]
