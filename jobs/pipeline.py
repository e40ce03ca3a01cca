"""The SLA job's graph: source → validate → lateness → watermarks → ticket operator → windows → sink.

Everything but the ticket operator runs in the JVM as plain DataStream functions (`jobs/udf`), no
SQL planner in the way: one Java call decodes and validates a line, numbers it and judges its
lateness per source in delivery order; watermarks are assigned on the judged stream. Heartbeats
move event time and stop there; only ticket events reach Python. Sources and sinks are passed in,
so tests and cluster mode bring their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pyflink.common import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from jobs.operators import BYTES, OUTPUT_TYPE, TicketOperator
from jobs.sla.config import SlaConfig
from jobs.tuning import Tuning
from jobs.udf import java_array

class Source(Protocol):
    """Adds the job's input to `env`: a Java DataStream of rows (source STRING, line BYTES), one per
    raw line, in delivery order per source (`sitcen.udf.SourceLines.TYPE`)."""

    def lines(self, env: StreamExecutionEnvironment) -> Any: ...


class Sink(Protocol):
    """Takes the job's output lines (a Java DataStream of UTF-8 bytes): JSON objects tagged with
    their table (`_t`); a record may hold several lines, newline-joined."""

    def write(self, lines: Any) -> None: ...


@dataclass
class FileSource:
    """A JSONL file (or a directory of them); each file is one split, read in order."""

    path: str

    def lines(self, env: StreamExecutionEnvironment) -> Any:
        jvm = get_gateway().jvm
        source = jvm.sitcen.udf.SourceLines.source(java_array(jvm.String, [self.path]))
        no_watermarks = jvm.org.apache.flink.api.common.eventtime.WatermarkStrategy.noWatermarks()
        return (env._j_stream_execution_environment.fromSource(source, no_watermarks, "con-lines")
                .uid("sitcen-con-lines"))


def build(env: StreamExecutionEnvironment, source: Source, sink: Sink, cfg: SlaConfig, run_id: str,
          tuning: Tuning = Tuning()) -> None:
    """Wire the job into `env`; `env.execute()` runs it."""
    from jobs.windows import minute_lines

    jvm = get_gateway().jvm
    udf = jvm.sitcen.udf
    # Validate and judge lateness per source in delivery order (`sitcen.udf.JudgeLines`).
    judged = (
        _by_source(source.lines(env), env.get_parallelism())
        .process(udf.JudgeLines(cfg.out_of_orderness_ms, cfg.allowed_lateness_ms), udf.JudgeLines.TYPE)
        .name("judge-lines").uid("sitcen-judge-lines")
    )
    # Event time, then the split (`sitcen.udf.TicketEvents`): ticket events on as (ticket, event)
    # rows, the event one JSON array (`TICKET_EVENT_FIELDS`) in UTF-8 bytes — bytes cross into
    # Python as one copy and one orjson call unpacks a whole batch of them; dead letters and
    # too-late heartbeats as output lines; heartbeats stop here.
    timed = _with_event_time(judged, cfg.out_of_orderness_ms, tuning.watermark_step_ms)
    j_tickets = timed.process(udf.TicketEvents(java_array(jvm.String, TICKET_EVENT_FIELDS)),
                              Types.ROW([Types.STRING(), BYTES]).get_java_type_info()).name("ticket-events")
    ticket_out = (
        _keyed_by_first_field(_ticket_batches(DataStream(j_tickets), tuning.buckets), Types.INT(), BYTES)
        .process(TicketOperator(cfg.to_dict(), run_id), output_type=OUTPUT_TYPE)
        .name("tickets").uid("sitcen-tickets")
        # its own thread: the JVM work downstream (facts, windows, the writer) runs on the other core
        .disable_chaining()
    )
    j_lines = (
        j_tickets.getSideOutput(udf.TicketEvents.LINES)
        .union(java_array(jvm.org.apache.flink.streaming.api.datastream.DataStream, [
            ticket_out._j_data_stream.flatMap(udf.RecordLines(), BYTES.get_java_type_info()),
            minute_lines(ticket_out, cfg, tuning.state_ttl_ms),
        ]))
    )
    sink.write(j_lines)


def _by_source(j_lines: Any, parallelism: int) -> Any:
    """The lines keyed by their source. With one subtask every key lives where its lines are read,
    so the keyed judge is chained to the reader (no shuffle: each line is not serialized once more
    on its way); with more, the lines are shuffled to their source's subtask. Keyed state either
    way, under one uid, so a savepoint restores at any parallelism."""
    jvm = get_gateway().jvm
    key, key_type = jvm.sitcen.udf.JudgeLines.BySource(), Types.STRING().get_java_type_info()
    if parallelism == 1:
        return jvm.org.apache.flink.streaming.api.datastream.DataStreamUtils.reinterpretAsKeyedStream(
            j_lines, key, key_type)
    return j_lines.keyBy(key, key_type)


def _with_event_time(j_stream: Any, out_of_orderness_ms: int, step_ms: int) -> Any:
    """Timestamps from `ts_ms` and watermarks M − out_of_orderness − 1 (`sitcen.udf.EventTime`)."""
    strategy = get_gateway().jvm.sitcen.udf.EventTime.strategy(out_of_orderness_ms, step_ms, "ts_ms")
    return j_stream.assignTimestampsAndWatermarks(strategy)


def _ticket_batches(stream: Any, buckets: int) -> Any:
    """(ticket, event) rows → (bucket, batch) rows: each bucket's events gathered in the JVM until the
    watermark next moves (`sitcen.udf.TicketBatches`), so the ticket operator is called per batch."""
    jvm = get_gateway().jvm
    j_batches = (
        stream._j_data_stream
        .keyBy(jvm.sitcen.udf.TicketBucket(buckets), Types.ROW([Types.INT()]).get_java_type_info())
        .process(jvm.sitcen.udf.TicketBatches(), Types.ROW([Types.INT(), BYTES]).get_java_type_info())
        .name("ticket-batches").uid("sitcen-ticket-batches")
    )
    return DataStream(j_batches)


def _keyed_by_first_field(stream: Any, key_type: Any, value_type: Any) -> Any:
    """Key a stream of (key, value) rows on the key in the JVM, as PyFlink's own key_by does after
    its Python key-extraction step — the step we save."""
    from pyflink.datastream.data_stream import KeyedStream

    j_keyed = stream._j_data_stream.keyBy(
        get_gateway().jvm.KeyByKeySelector(), Types.ROW([key_type]).get_java_type_info())
    return KeyedStream(j_keyed, value_type, stream)


#: The ticket operator's input, in order (`TicketOperator.process_element` unpacks it).
TICKET_EVENT_FIELDS = ("ticket_id", "event_id", "etype", "ts_ms", "branch_id", "service", "stage", "staff_id",
                       "eresult", "rating", "esize", "lateness", "source", "line_no", "max_seen", "raw_line")
