"""The naive all-Python PyFlink design of DESIGN §5, as the baseline the SLA job is measured against.

Python `json.loads` map → Python timestamp assigner → Python key selector on the ticket →
Python KeyedProcessFunction with per-ticket ValueState and one event-time timer. It writes
nothing (a discarding sink), so everything it costs is the design itself.

    python -m bench.naive FILE.jsonl [--mode process|thread]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive", description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("--mode", choices=["process", "thread"], default="process",
                        help="PyFlink Python execution mode (default process: PyFlink's default)")
    args = parser.parse_args(argv)

    from pyflink.common import Configuration, Duration, Types, WatermarkStrategy
    from pyflink.common.watermark_strategy import TimestampAssigner
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.datastream.connectors.file_system import FileSource, StreamFormat
    from pyflink.datastream.functions import KeyedProcessFunction
    from pyflink.datastream.state import ValueStateDescriptor

    from jobs.embedded import prepare_process_environment

    prepare_process_environment("1536m", "-XX:+UseG1GC")
    conf = Configuration()
    for k, v in {"python.execution-mode": args.mode, "python.executable": sys.executable,
                 "python.client.executable": sys.executable, "restart-strategy.type": "none",
                 "parallelism.default": "1"}.items():
        conf.set_string(k, v)
    env = StreamExecutionEnvironment.get_execution_environment(conf)

    def parse(line: str):
        from datetime import datetime

        try:
            e = json.loads(line)
            ts = int(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
            ticket, type_ = e.get("ticket_id"), e["type"]
            if not isinstance(ticket, (str, type(None))) or not isinstance(type_, str):
                return ("", "bad", 0)
            return (ticket or "", type_, ts)
        except Exception:  # noqa: BLE001 - the naive design drops bad lines
            return ("", "bad", 0)

    class Ts(TimestampAssigner):
        def extract_timestamp(self, value, record_timestamp):
            return value[2]

    class Ticket(KeyedProcessFunction):
        def open(self, ctx):
            self.state = ctx.get_state(ValueStateDescriptor("t", Types.PICKLED_BYTE_ARRAY()))

        def process_element(self, value, ctx):
            s = self.state.value() or {"n": 0, "last": 0}
            s["n"] += 1
            s["last"] = value[2]
            self.state.update(s)
            ctx.timer_service().register_event_time_timer(value[2] + 30 * 60_000)

        def on_timer(self, ts, ctx):
            s = self.state.value()
            if s is not None and s["last"] + 30 * 60_000 <= ts:
                self.state.clear()
                yield ctx.get_current_key()

    src = FileSource.for_record_stream_format(StreamFormat.text_line_format(), args.input).build()
    started = time.monotonic()
    (
        env.from_source(src, WatermarkStrategy.no_watermarks(), "lines")
        .map(parse, output_type=Types.TUPLE([Types.STRING(), Types.STRING(), Types.LONG()]))
        .assign_timestamps_and_watermarks(
            WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_minutes(1)).with_timestamp_assigner(Ts()))
        .filter(lambda v: v[1] not in ("heartbeat", "bad"))
        .key_by(lambda v: v[0], key_type=Types.STRING())
        .process(Ticket(), output_type=Types.STRING())
        .sink_to(_discard())
    )
    env.execute("naive")
    print(f"naive wall {time.monotonic() - started:.2f}")
    return 0


def _discard():
    from pyflink.datastream.connectors.base import Sink
    from pyflink.java_gateway import get_gateway

    gw = get_gateway()
    return Sink(gw.jvm.org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink())


if __name__ == "__main__":
    raise SystemExit(main())
