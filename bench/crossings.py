"""`python -m bench.crossings MODE [N]`: what one element costs a keyed thread-mode Python operator.

N synthetic ticket-shaped events (a JSON array in UTF-8, keyed by one of 11,000 ticket ids, built in
SQL like the job's) go through a KeyedProcessFunction that does only what MODE names, into a
discarding sink; the printed time is `execute()` from submission to the end. Differences between
modes, run back to back, price each kind of crossing between the JVM and Python:

    jvm            no Python operator at all
    none           the operator returns nothing
    small          one record of two short strings per element
    big            one record of a 1.5 KB string per element (the ticket operator's output size)
    bytes          the same record as UTF-8 bytes
    state-small    + one list-state append and one value-state update (pickled)
    timer-small    + current_watermark, register and delete of an event-time timer

e.g. `for m in jvm none big bytes; do python -m bench.crossings $m 100000; done`
"""

from __future__ import annotations

import sys
import time

from pyflink.common import Types
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

BIG = "x" * 1500
BIG_BYTES = BIG.encode()
BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())


class Probe(KeyedProcessFunction):
    def __init__(self, mode: str):
        self.mode = mode

    def open(self, ctx):
        self.value = ctx.get_state(ValueStateDescriptor("v", Types.PICKLED_BYTE_ARRAY()))
        self.items = ctx.get_list_state(ListStateDescriptor("l", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value, ctx):
        mode = self.mode
        if "state" in mode:
            self.items.add((value[:10], 1, 2))
            self.value.update({"a": value[:10], "b": [1, 2, 3]})
        if "timer" in mode:
            timers = ctx.timer_service()
            timers.current_watermark()
            timers.register_event_time_timer(10**12 + len(value))
            timers.delete_event_time_timer(10**12 + len(value))
        if mode == "bytes":
            yield BIG_BYTES, b"[[1,2]]"
        elif mode == "big":
            yield BIG, "[[1,2]]"
        elif "small" in mode:
            yield "a", ""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    mode, n = args[0], int(args[1]) if len(args) > 1 else 100_000
    from pyflink.datastream.connectors.base import Sink
    from pyflink.java_gateway import get_gateway

    from jobs.embedded import JobSettings, make_environment
    from jobs.pipeline import _keyed_by_first_field

    from pyflink.table import StreamTableEnvironment

    env = make_environment(JobSettings())
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{n}',
            'rows-per-second' = '1000000000', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1',
            'fields.id.end' = '{n}')
    """)
    events = t_env.sql_query("""
        SELECT CAST(MOD(id, 11000) AS STRING) AS k,
               ENCODE(JSON_ARRAY(CAST(MOD(id, 11000) AS STRING), CAST(id AS STRING), 'stage_started', id * 1000,
                                 'spec-almaty', 'driver_license', 'intake', 'op-01', CAST(NULL AS STRING),
                                 CAST(NULL AS INT), 240, 'on_time', 'file:/tmp/day.jsonl', id, id * 1000,
                                 CAST(NULL AS STRING) NULL ON NULL), 'UTF-8') AS ev
        FROM src
    """)
    keyed = _keyed_by_first_field(t_env.to_append_stream(events, Types.ROW([Types.STRING(), BYTES])), Types.STRING(),
                                  BYTES)
    discard = Sink(get_gateway().jvm.org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink())
    if mode == "jvm":
        keyed.sink_to(discard)
    else:
        out = Types.TUPLE([BYTES, BYTES] if mode == "bytes" else [Types.STRING(), Types.STRING()])
        keyed.process(Probe(mode), output_type=out).disable_chaining().sink_to(discard)
    started = time.time()
    env.execute(f"crossings {mode}")
    print(f"{mode} {n} elements: {time.time() - started:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
