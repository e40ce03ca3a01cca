"""`python -m bench.rules FILE.jsonl`: the ticket operator's own work on a day, without Flink.

The job's Python operator (`jobs.operators.TicketOperator`) is driven here by hand, the way the
JVM drives it: each line validated (`schemas.validate`, the contract the JVM's validator is held
to) and judged on time / late / too late per source, the watermark trailing the highest event time
by the out-of-orderness and moved every `--step` of event time, a bucket's events handed over in
one call when the watermark next moves, then the buckets' timers fired at that watermark. What is
measured is only the operator: its rules, state writes, timers and output lines — the part of a
run that Python carries, and that the mini-cluster's thread profile cannot split further.

    python -m bench.rules day.jsonl [--repeat 3] [--profile 30]
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import pickle
import pstats
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import orjson

END_OF_TIME = (1 << 63) - 1


def java_string_hash(text: str) -> int:
    """`String.hashCode()` of the JVM (UTF-16 code units), so buckets match `sitcen.udf.TicketBucket`."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def delivered(path: Path, out_of_orderness_ms: int, allowed_lateness_ms: int) -> Iterator[tuple[int, Any]]:
    """(highest event time so far, ticket event as the JVM hands it on) per valid ticket line, in
    delivery order; heartbeats and dead letters yield (highest event time, None)."""
    from schemas.validate import Event, validate

    source = str(path.resolve())
    max_seen = None
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, 1):
            ev = validate(raw.rstrip(b"\n"))
            if not isinstance(ev, Event):
                yield max_seen, None
                continue
            ts = ev.ts_ms
            max_seen = ts if max_seen is None or ts > max_seen else max_seen
            if ev.type == "heartbeat":
                yield max_seen, None
                continue
            lateness = ("on_time" if ts >= max_seen - out_of_orderness_ms
                        else "late" if ts >= max_seen - out_of_orderness_ms - allowed_lateness_ms else "too_late")
            yield max_seen, [ev.ticket_id, ev.event_id, ev.type, ts, ev.branch_id, ev.service, ev.stage, ev.staff_id,
                             ev.result, ev.rating, ev.size, lateness, source, line_no, max_seen,
                             raw.rstrip(b"\n").decode() if lateness == "too_late" else None]


class _Timers:
    """The operator's timer service and context for one call."""

    def __init__(self, driver: "Driver", key: int):
        self.driver, self.key = driver, key
        driver.op.snapshots.key = key

    def timer_service(self) -> "_Timers":
        return self

    def current_watermark(self) -> int:
        return self.driver.watermark

    def register_event_time_timer(self, ts: int) -> None:
        self.driver.timers.setdefault(self.key, set()).add(ts)
        heapq.heappush(self.driver.heap, (ts, self.key))

    def delete_event_time_timer(self, ts: int) -> None:
        self.driver.timers.get(self.key, set()).discard(ts)

    def get_current_key(self) -> int:
        return self.key


class _MapState:
    """Flink's map state: one map per current key (bucket)."""

    def __init__(self) -> None:
        self.by_key: dict[int, dict] = {}
        self.key = 0

    def _map(self) -> dict:
        return self.by_key.setdefault(self.key, {})

    def put_all(self, entries: Any) -> None:
        # as PyFlink's map state of PICKLED_BYTE_ARRAY values does before the JVM takes them
        self._map().update((k, pickle.dumps(v)) for k, v in entries.items())


    def remove(self, key: str) -> None:
        self._map().pop(key, None)

    def items(self) -> Any:
        return [(k, pickle.loads(v)) for k, v in self._map().items()]

    def __len__(self) -> int:
        return sum(map(len, self.by_key.values()))


class _Runtime:
    def __init__(self) -> None:
        self.state = _MapState()

    def get_map_state(self, descriptor: Any) -> _MapState:
        return self.state

    def get_metrics_group(self) -> "_Runtime":
        return self

    def gauge(self, name: str, fn: Any) -> None:
        pass

    def get_index_of_this_subtask(self) -> int:
        return 0


class Driver:
    """Feeds the operator its calls; counts them and the bytes it emits."""

    def __init__(self, operator: Any, buckets: int):
        self.op, self.buckets = operator, buckets
        self.watermark = -(1 << 63)
        self.timers: dict[int, set[int]] = {}
        self.heap: list[tuple[int, int]] = []
        self.pending: dict[int, list[bytes]] = {}
        self.calls = self.timer_calls = self.out_bytes = 0
        self._bucket_of: dict[str, int] = {}

    def add(self, event: list) -> None:
        ticket = event[0]
        bucket = self._bucket_of.get(ticket)
        if bucket is None:
            bucket = self._bucket_of[ticket] = java_string_hash(ticket) % self.buckets
        self.pending.setdefault(bucket, []).append(orjson.dumps(event))

    def advance(self, watermark: int) -> None:
        """The watermark moves: pending batches first (at the old watermark), then the timers."""
        for bucket, events in self.pending.items():
            self.calls += 1
            self._emit(self.op.process_element(b"[%d,%s]" % (bucket, b",".join(events)), _Timers(self, bucket)))
        self.pending.clear()
        self.watermark = watermark
        while self.heap and self.heap[0][0] <= watermark:
            ts, bucket = heapq.heappop(self.heap)
            if ts not in self.timers.get(bucket, ()):
                continue  # deleted or already fired
            self.timers[bucket].discard(ts)
            self.timer_calls += 1
            self._emit(self.op.on_timer(ts, _Timers(self, bucket)))

    def _emit(self, records: Any) -> None:
        for lines, facts in records or ():
            self.out_bytes += len(lines) + len(facts)


def replay(path: Path, events: list[tuple[int, Any]], buckets: int, step_ms: int) -> Driver:
    from jobs.operators import TicketOperator
    from jobs.sla.config import load

    cfg = load()
    op = TicketOperator(cfg.to_dict(), "bench")
    op.open(_Runtime())
    driver = Driver(op, buckets)
    lag = cfg.out_of_orderness_ms + 1
    emitted = None
    for max_seen, event in events:
        if event is not None:
            driver.add(event)
        if max_seen is not None and (emitted is None or max_seen - lag - emitted >= step_ms):
            emitted = max_seen - lag
            driver.advance(emitted)
    driver.advance(END_OF_TIME)
    return driver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--buckets", type=int, default=128, help="ticket buckets (the job's --ticket-buckets)")
    parser.add_argument("--step", type=float, default=14400.0, help="seconds of event time between watermarks")
    parser.add_argument("--repeat", type=int, default=1, help="replays (the best is reported)")
    parser.add_argument("--profile", type=int, metavar="N", help="profile one replay, print the N costliest functions")
    args = parser.parse_args(argv)
    from jobs.sla.config import load

    cfg = load()
    print(f"validating {args.input} …", file=sys.stderr)
    events = list(delivered(args.input, cfg.out_of_orderness_ms, cfg.allowed_lateness_ms))
    ticket_events = sum(1 for _, e in events if e is not None)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        replay(args.input, events, args.buckets, int(args.step * 1000))
        prof.disable()
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(args.profile)
        return 0
    best = None
    for _ in range(args.repeat):
        started = time.process_time()
        driver = replay(args.input, events, args.buckets, int(args.step * 1000))
        cpu = time.process_time() - started
        best = cpu if best is None else min(best, cpu)
        print(f"operator CPU {cpu:.2f} s for {ticket_events:,} ticket events: {driver.calls:,} calls, "
              f"{driver.timer_calls:,} timer calls, {driver.out_bytes / 2**20:.1f} MB out, "
              f"{len(driver.op.snapshots):,} tickets left in state", file=sys.stderr)
    print(f"rules best={best:.2f}s events={ticket_events} events_per_s={ticket_events / best:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
