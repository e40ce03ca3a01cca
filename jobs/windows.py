"""Per-branch one-minute windows, summed in the JVM from the ticket operator's facts.

The ticket operator sends signed facts (+1 when a fact appears, −1 when a late event takes it
back) in-band with its output lines, as a JSON array per call. In the JVM (`sitcen.udf.BranchMinutes`)
they are unpacked, keyed by (branch, minute of event time) and summed in keyed state; each window a
batch of facts changed is written once when the watermark next moves, with a version that counts the
facts folded into it — so the latest state wins in ClickHouse and a late fact simply overwrites its
minute (DESIGN §5 "late updates overwrite"). Queue waits are kept as a multiset of values, so the
maximum is taken back exactly when a late event moves a wait.

Which fact feeds which column is `jobs/sla/minutes.MinuteCounter.columns` (the pure reference the
unit tests hold); this module hands that mapping to the JVM.

Why not Flink SQL: the two-level aggregate the queue maximum needs (per distinct wait, then per
window), its changelog and a JSON_OBJECT per row cost several times the CPU of this one keyed
function, and a second of planning per run.
"""

from __future__ import annotations

from typing import Any

from jobs.sla.config import SERVICES, SlaConfig
from jobs.sla.minutes import COUNT_COLUMNS, MinuteCounter

#: Facts whose columns are plain signed counts (queue waits and ratings carry values).
COUNTED_FACTS = ("issued", "document", "cancelled", "breach_con", "breach_police")

#: A fact row as it travels between the JVM functions: (branch_id, minute_ms, fact, service, value, sign).
FACT_FIELDS = ("branch_id", "minute_ms", "fact", "service", "value", "sign")


def column_mapping(cfg: SlaConfig) -> str:
    """`fact<TAB>service<TAB>col,col` per line: the columns each counted (fact, service) adds to,
    from MinuteCounter.columns (service "" is a ticket without one)."""
    counter = MinuteCounter(cfg)
    return "\n".join(f"{fact}\t{service}\t{','.join(counter.columns(fact, service))}"
                     for fact in COUNTED_FACTS for service in ("", *SERVICES))


def minute_lines(ticket_out: Any, cfg: SlaConfig, state_ttl_ms: int) -> Any:
    """The branch_minute rows as JSON lines (a Java DataStream of UTF-8 bytes), from the ticket
    operator's output stream of (lines, facts) records."""
    from pyflink.common import Types
    from pyflink.java_gateway import get_gateway

    from jobs.udf import java_array

    jvm = get_gateway().jvm
    columns = java_array(jvm.String, COUNT_COLUMNS)
    fact_type = Types.ROW_NAMED(list(FACT_FIELDS), [Types.STRING(), Types.LONG(), Types.STRING(), Types.STRING(),
                                                    Types.LONG(), Types.INT()])
    j_facts = ticket_out._j_data_stream.flatMap(jvm.sitcen.udf.BranchMinutes.Facts(), fact_type.get_java_type_info())
    j_lines = (
        j_facts.keyBy(jvm.sitcen.udf.BranchMinutes.KEY, Types.STRING().get_java_type_info())
        .process(jvm.sitcen.udf.BranchMinutes(columns, column_mapping(cfg), state_ttl_ms),
                 Types.PRIMITIVE_ARRAY(Types.BYTE()).get_java_type_info())
        .name("branch-minutes").uid("sitcen-branch-minutes")
    )
    return j_lines
