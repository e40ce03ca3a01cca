"""The SLA job's graph: source → validate → lateness → watermarks → ticket operator → windows → sink.

Everything up to the ticket operator runs in the JVM: one Java call decodes and validates a line
(`jobs/udf`), SQL numbers the lines and judges lateness per source split in delivery order, and
the watermark is declared on the validated stream. Heartbeats move event time and stop there;
only ticket events reach Python. Sources and sinks are passed in, so tests and cluster mode
bring their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pyflink.common import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment

from jobs.operators import BYTES, OUTPUT_TYPE, TicketOperator
from jobs.sla.config import SlaConfig
from jobs.tuning import Tuning
from jobs.udf import java_array

# The validator's output row, renamed where a column name is an SQL keyword (type, result, size).
VALIDATED_NAMES = (
    "code, detail, event_id, etype, ts_ms, branch_id, ticket_id, service, stage, staff_id, eresult, "
    "rating, reason, esize"
)


class Source(Protocol):
    """Registers a table `con_lines(line BYTES, source STRING, part INT, proc AS PROCTIME())`."""

    def register(self, t_env: StreamTableEnvironment) -> None: ...


class Sink(Protocol):
    """Takes the job's output lines: JSON objects tagged with their table (`_t`); a record may hold
    several lines."""

    def sql_target(self, t_env: StreamTableEnvironment) -> str: ...  # a table with one STRING column


@dataclass
class FileSource:
    """A JSONL file (or a directory of them); each file is one split, read in order."""

    path: str

    def register(self, t_env: StreamTableEnvironment) -> None:
        t_env.execute_sql(f"""
            CREATE TEMPORARY TABLE con_lines (
                line BYTES,
                source STRING METADATA FROM 'file.path' VIRTUAL,
                proc AS PROCTIME()
            ) WITH ('connector' = 'filesystem', 'path' = '{sql_string(self.path)}', 'format' = 'raw')
        """)


def sql_string(s: str) -> str:
    """The body of an SQL string literal."""
    return s.replace("'", "''")


def build(env: StreamExecutionEnvironment, t_env: StreamTableEnvironment, source: Source, sink: Sink,
          cfg: SlaConfig, run_id: str, tuning: Tuning = Tuning()) -> Any:
    """Wire the job into `env`; returns the StatementSet that must be attached before execute()."""
    from jobs.windows import minute_lines

    ooo, lateness = cfg.out_of_orderness_ms, cfg.allowed_lateness_ms
    source.register(t_env)
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW validated AS
        SELECT l.source, l.line, l.proc, v.*
        FROM con_lines AS l, LATERAL TABLE(validate_event(l.line)) AS v({VALIDATED_NAMES})
    """)
    # Delivery order per split: line number and the highest event time delivered so far (M).
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW judged AS
        SELECT *,
            CASE WHEN code IS NOT NULL THEN CAST(NULL AS STRING)
                 WHEN ts_ms >= max_seen - {ooo} THEN 'on_time'
                 WHEN ts_ms >= max_seen - {ooo + lateness} THEN 'late'
                 ELSE 'too_late' END AS lateness
        FROM (
            SELECT source, line, code, detail, event_id, etype, ts_ms, branch_id, ticket_id, service, stage,
                   staff_id, eresult, rating, esize,
                   COUNT(*) OVER w AS line_no,
                   MAX(CASE WHEN code IS NULL THEN ts_ms END) OVER w AS max_seen
            FROM validated
            WINDOW w AS (PARTITION BY source ORDER BY proc ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )
    """)
    # One pass over the input: everything below reads the same converted stream, so the file is read,
    # validated and judged once (several SQL consumers of `judged` would each re-plan the source).
    judged = t_env.sql_query("""
        SELECT code, detail, ticket_id, event_id, etype, ts_ms, branch_id, service, stage, staff_id, eresult,
               rating, esize, lateness, source, line_no, max_seen,
               CASE WHEN code IS NOT NULL OR lateness = 'too_late' THEN DECODE(line, 'UTF-8') END AS raw_line
        FROM judged
    """)
    # Event time, then the split in the JVM (`sitcen.udf.TicketEvents`): ticket events on as
    # (ticket, event) rows, the event one JSON array (`TICKET_EVENT_FIELDS`) in UTF-8 bytes — bytes
    # cross into Python as one copy and one orjson call unpacks a whole batch of them; dead letters
    # and too-late heartbeats as output lines; heartbeats stop here.
    jvm = get_gateway().jvm
    timed = _with_event_time(t_env.to_data_stream(judged), ooo, tuning.watermark_step_ms)._j_data_stream
    j_tickets = timed.process(jvm.sitcen.udf.TicketEvents(java_array(jvm.String, TICKET_EVENT_FIELDS)),
                              Types.ROW([Types.STRING(), BYTES]).get_java_type_info()).name("ticket-events")
    ticket_out = (
        _keyed_by_first_field(_ticket_batches(DataStream(j_tickets), tuning.buckets), Types.INT(), BYTES)
        .process(TicketOperator(cfg.to_dict(), run_id), output_type=OUTPUT_TYPE)
        .name("tickets").uid("sitcen-tickets")
        # its own thread: the JVM work downstream (facts, windows, the writer) runs on the other core
        .disable_chaining()
    )
    j_lines = (
        j_tickets.getSideOutput(jvm.sitcen.udf.TicketEvents.LINES)
        .union(java_array(jvm.org.apache.flink.streaming.api.datastream.DataStream, [
            ticket_out._j_data_stream.flatMap(jvm.sitcen.udf.RecordLines(), Types.STRING().get_java_type_info()),
            minute_lines(ticket_out, cfg, tuning.state_ttl_ms),
        ]))
    )
    stmts = t_env.create_statement_set()
    stmts.add_insert(sink.sql_target(t_env), t_env.from_data_stream(DataStream(j_lines)))
    return stmts


def _with_event_time(stream: Any, out_of_orderness_ms: int, step_ms: int) -> Any:
    """Timestamps from `ts_ms` and watermarks M − out_of_orderness − 1 (`sitcen.udf.EventTime`)."""
    strategy = get_gateway().jvm.sitcen.udf.EventTime.strategy(out_of_orderness_ms, step_ms, "ts_ms")
    return DataStream(stream._j_data_stream.assignTimestampsAndWatermarks(strategy))


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
