"""Thin PyFlink operators over the pure SLA core in `jobs/sla/`.

Each keeps one compact value per key and at most one pending event-time timer per key (the
next instant at which its answer can change), because every state access and timer call
crosses into the JVM and that, not the rules, is what costs time.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from pyflink.common import Row, Types
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.output_tag import OutputTag
from pyflink.datastream.state import ValueStateDescriptor

from jobs.rows import to_line

FACT_TYPE = Types.ROW_NAMED(
    ["branch_id", "minute", "fact", "service", "value", "sign"],
    [Types.STRING(), Types.LONG(), Types.STRING(), Types.STRING(), Types.LONG(), Types.INT()],
)
KEYED_FACT_TYPE = Types.ROW([Types.STRING(), FACT_TYPE])  # (branch_id, fact): keyed in the JVM
FACTS = OutputTag("branch-facts", KEYED_FACT_TYPE)
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

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterable[Any]:
        (ticket_id, event_id, type_, ts, branch_id, service, stage, staff_id, result, rating, size,
         lateness, source, offset, max_seen, raw) = value
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
        if lines:  # one record per call: the file sink writes it as these lines
            yield "\n".join(lines)
        for fact in out.deltas:
            yield FACTS, Row(fact[0], Row(*fact))

    def _stats(self, now: int) -> Iterable[str]:
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


class MinuteOperator(KeyedProcessFunction):
    """key_by(branch_id): one-minute event-time windows of the ticket facts.

    A window's row is written when the watermark passes its end and again, if late facts changed
    it, once no late fact can reach it any more — then the window is dropped. Windows live in a
    Python dict per branch, written through to a map state one window at a time, and each branch
    keeps a single timer at its next due window (a window's final instant coincides with the first
    instant of the window eleven minutes later, so one firing serves both).
    """

    def __init__(self, cfg_dict: dict[str, Any]):
        self.cfg_dict = cfg_dict

    def open(self, ctx: RuntimeContext) -> None:
        from pyflink.datastream.state import MapStateDescriptor

        from jobs.sla.config import from_dict
        from jobs.sla.minutes import Bucket, MinuteCounter

        cfg = from_dict(self.cfg_dict, source="job")
        self.counter, self._Bucket = MinuteCounter(cfg), Bucket
        # facts of a minute stop arriving once the watermark passes its end + allowed lateness
        self.final_delay = 60_000 + cfg.out_of_orderness_ms + cfg.allowed_lateness_ms - 1
        self.windows = ctx.get_map_state(MapStateDescriptor("minutes", Types.LONG(), Types.PICKLED_BYTE_ARRAY()))
        self.cache: dict[str, dict[int, Any]] = {}
        self.timers: dict[str, int] = {}  # branch -> its registered timer (memory; stale ones are harmless)

    def _buckets(self, branch_id: str) -> dict[int, Any]:
        buckets = self.cache.get(branch_id)
        if buckets is None:  # first touch of this branch since start or restore
            buckets = self.cache[branch_id] = dict(self.windows.items())
        return buckets

    def _due(self, minute: int, bucket: Any) -> int:
        return minute + 59_999 if bucket.sent == 0 else minute + self.final_delay

    def _schedule(self, ctx: Any, branch_id: str, due: Optional[int]) -> None:
        current = self.timers.get(branch_id)
        if due is None or due == current:
            return
        timers = ctx.timer_service()
        if current is not None:
            timers.delete_event_time_timer(current)
        timers.register_event_time_timer(due)
        self.timers[branch_id] = due

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterable[Any]:
        branch_id, minute, fact, service, amount, sign = value
        buckets = self._buckets(branch_id)
        bucket = buckets.get(minute)
        if bucket is None:
            bucket = buckets[minute] = self._Bucket()
        self.counter.apply(bucket, fact, service, amount, sign)
        self.windows.put(minute, bucket)
        due = self._due(minute, bucket)
        current = self.timers.get(branch_id)
        if current is None or due < current:
            self._schedule(ctx, branch_id, due)
        return ()

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterable[Any]:
        branch_id = ctx.get_current_key()
        if self.timers.get(branch_id) == timestamp:
            del self.timers[branch_id]
        buckets = self._buckets(branch_id)
        lines = []
        for minute in sorted(buckets):
            if minute + 59_999 > timestamp:
                break
            bucket = buckets[minute]
            if bucket.sent != bucket.deltas:
                bucket.sent = bucket.deltas
                lines.append(to_line("branch_minute", self.counter.row(branch_id, minute, bucket)))
                self.windows.put(minute, bucket)
            if minute + self.final_delay <= timestamp:
                del buckets[minute]
                self.windows.remove(minute)
        if buckets:
            self._schedule(ctx, branch_id, min(self._due(m, b) for m, b in buckets.items()))
        if lines:
            yield "\n".join(lines)
