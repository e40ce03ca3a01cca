"""Thin PyFlink operators over the pure SLA core in `jobs/sla/`.

Each keeps one compact value per key and at most one pending event-time timer per key (the
next instant at which its answer can change), because every state access and timer call
crosses into the JVM and that, not the rules, is what costs time.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import orjson

from pyflink.common import Types
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

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


class TicketOperator(KeyedProcessFunction):
    """key_by(ticket_id): the ticket's lifecycle, its alerts on event-time timers, and its facts.

    Open tickets live in a Python dict as well as in Flink state: reads come from the dict (the
    state is read only after a restore), and writes go through to Flink state — one small append
    per accepted event, and the ledger only when it changes.
    """

    def __init__(self, cfg_dict: dict[str, Any], run_id: str):
        self.cfg_dict, self.run_id = cfg_dict, run_id

    def open(self, ctx: RuntimeContext) -> None:
        from pyflink.datastream.state import ListStateDescriptor

        from jobs.sla.ticket import Incoming, TicketState, make_event

        self._make_event, self._Incoming, self._TicketState = make_event, Incoming, TicketState
        self.cfg, self.logic = _logic(self.cfg_dict)
        self.events = ctx.get_list_state(ListStateDescriptor("events", Types.PICKLED_BYTE_ARRAY()))
        self.ledger = ctx.get_state(ValueStateDescriptor("ledger", Types.PICKLED_BYTE_ARRAY()))
        self.cache: dict[str, Any] = {}
        self.subtask = _subtask_index(ctx)
        self.open_tickets = 0
        self.pending_timers = 0
        self.applied = self.duplicates = self.ignored = self.too_late = 0
        self.stats_seq = 0
        self.stats_hour: Optional[int] = None
        group = ctx.get_metrics_group()
        group.gauge("openTickets", lambda: self.open_tickets)
        group.gauge("pendingTimers", lambda: self.pending_timers)

    # -- Flink callbacks ---------------------------------------------------------------------

    def process_element(self, value: bytes, ctx: KeyedProcessFunction.Context) -> Iterable[Any]:
        (ticket_id, event_id, type_, ts, branch_id, service, stage, staff_id, result, rating, size,
         lateness, source, offset, max_seen, raw) = orjson.loads(value)  # pipeline.TICKET_EVENT_FIELDS
        event = self._make_event(event_id, type_, ts, branch_id, service, stage, staff_id, result, rating, size)
        inc = self._Incoming(event, lateness, source, 0, offset, max_seen, raw or "")
        now = ctx.timer_service().current_watermark()
        before = self._load(ticket_id)
        old_timer = before.timer if before is not None else None
        after, out = self.logic.on_event(ticket_id, before, inc, now)
        if out.accepted is not None:
            self.applied += 1
        self.duplicates += out.duplicates
        self.too_late += out.too_late
        yield from self._commit(ctx, ticket_id, before is not None, old_timer, after, out, now)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterable[Any]:
        ticket_id = ctx.get_current_key()
        state = self._load(ticket_id)
        self.pending_timers -= 1
        if state is None:
            return
        if state.timer is not None and state.timer != timestamp:
            return  # a stale timer (registered before a restore); the right one is pending
        state.timer = None
        now = ctx.timer_service().current_watermark()
        after, out = self.logic.on_timer(ticket_id, state, max(now, timestamp))
        yield from self._commit(ctx, ticket_id, True, None, after, out, now)

    # -- helpers ------------------------------------------------------------------------------

    def _load(self, ticket_id: str):
        state = self.cache.get(ticket_id)
        if state is None:
            ledger = self.ledger.value()
            if ledger is not None:  # after a restore: rebuild from Flink state
                state = self._TicketState.restore(self.events.get(), ledger)
                self.cache[ticket_id] = state
                self.open_tickets += 1
        return state

    def _commit(self, ctx, ticket_id: str, existed: bool, old_timer: Optional[int], after, out,
                now: int) -> Iterable[Any]:
        timers = ctx.timer_service()
        if after is None:
            if existed:
                self.open_tickets -= 1
                if old_timer is not None:
                    timers.delete_event_time_timer(old_timer)
                    self.pending_timers -= 1
                self.cache.pop(ticket_id, None)
                self.events.clear()
                self.ledger.clear()
        else:
            if not existed:
                self.open_tickets += 1
                self.cache[ticket_id] = after
                self.ledger.update(after.ledger)  # marks the ticket as present in Flink state
            elif out.ledger_changed:
                self.ledger.update(after.ledger)
            if out.accepted is not None:
                self.events.add(tuple(out.accepted))
            new_timer = after.timer
            if new_timer != old_timer:
                if old_timer is not None:
                    timers.delete_event_time_timer(old_timer)
                    self.pending_timers -= 1
                if new_timer is not None:
                    timers.register_event_time_timer(new_timer)
                    self.pending_timers += 1
        self.ignored += out.ignored
        lines = [to_line(table, row) for table, row in out.rows]
        lines.extend(self._stats(now))
        if lines or out.deltas:  # one record per call: the sink writes it as these lines
            yield b"\n".join(lines), orjson.dumps(out.deltas) if out.deltas else b""

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
