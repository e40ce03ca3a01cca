"""Per-branch one-minute windows, summed in the JVM (Flink SQL) from the ticket operator's facts.

The ticket operator sends signed facts (+1 when a fact appears, −1 when a late event takes it
back) in-band with its output lines, as a JSON array per call; here they are unpacked and summed
per (branch, minute of event time). Every change of a window updates its row at once — the row's
version is the number of facts folded into it, so the latest state wins in ClickHouse and a late
fact simply overwrites the window (DESIGN §5 "late updates overwrite").

Which fact feeds which column is `jobs/sla/minutes.MinuteCounter.columns` (the pure reference
the unit tests hold); this module only turns that mapping into SQL. The queue-wait maximum must be
taken back when a late event moves a wait, so it is a two-level aggregate: waits are first counted
per distinct value, and the maximum is taken over the values still present.
"""

from __future__ import annotations

from typing import Any

from jobs.pipeline import sql_string
from jobs.sla.config import SERVICES, SlaConfig
from jobs.sla.minutes import COUNT_COLUMNS, MinuteCounter

#: Facts whose columns are plain signed counts (queue waits and ratings carry values).
COUNTED_FACTS = ("issued", "document", "cancelled", "breach_con", "breach_police")
_SPECIAL = {"queue_wait_count", "ratings_count", "ratings_sum"}


def _quote(s: str) -> str:
    return f"'{sql_string(s)}'"


def column_conditions(cfg: SlaConfig) -> dict[str, str]:
    """Each count column's SQL condition on (fact, service), derived from MinuteCounter.columns."""
    counter = MinuteCounter(cfg)
    services = ("", *SERVICES)
    pairs: dict[str, dict[str, list[str]]] = {c: {} for c in COUNT_COLUMNS if c not in _SPECIAL}
    for fact in COUNTED_FACTS:
        for service in services:
            for col in counter.columns(fact, service):
                pairs[col].setdefault(fact, []).append(service)
    conditions = {}
    for col, by_fact in pairs.items():
        terms = []
        for fact, svcs in by_fact.items():
            if len(svcs) == len(services):
                terms.append(f"fact = {_quote(fact)}")
            else:
                terms.append(f"(fact = {_quote(fact)} AND service IN ({', '.join(_quote(s) for s in svcs)}))")
        conditions[col] = " OR ".join(terms) if terms else "FALSE"
    return conditions


def minute_lines(t_env: Any, facts_view: str, cfg: SlaConfig) -> Any:
    """The branch_minute rows as insert-only JSON lines (one per window change) from `facts_view`,
    a view with a column `facts`: UTF-8 bytes of a JSON array of [branch, minute_ms, fact, service,
    value, sign], or empty (`sitcen.udf.BranchFacts` reads it)."""
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    if "branch_facts" not in t_env.list_user_defined_functions():
        t_env.create_java_temporary_function("branch_facts", "sitcen.udf.BranchFacts")
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW branch_facts AS
        SELECT f.* FROM {facts_view}, LATERAL TABLE(branch_facts(facts)) AS f
    """)
    counts = column_conditions(cfg)
    level1 = ",\n".join(f"SUM(CASE WHEN {cond} THEN sign ELSE 0 END) AS {col}" for col, cond in counts.items())
    # Level 1: per distinct queue wait (qv; −1 for the other facts), so that a wait taken back leaves.
    t_env.execute_sql(f"""
        CREATE TEMPORARY VIEW branch_fact_groups AS
        SELECT branch_id, wmin, qv,
               {level1},
               SUM(CASE WHEN fact = 'queue' THEN sign ELSE 0 END) AS queue_wait_count,
               SUM(CASE WHEN fact = 'queue' THEN sign * fvalue ELSE 0 END) AS queue_wait_sum_ms,
               SUM(CASE WHEN fact = 'rating' THEN sign ELSE 0 END) AS ratings_count,
               SUM(CASE WHEN fact = 'rating' THEN sign * fvalue ELSE 0 END) AS ratings_sum,
               COUNT(*) AS applied
        FROM (SELECT *, CASE WHEN fact = 'queue' THEN fvalue ELSE -1 END AS qv FROM branch_facts)
        GROUP BY branch_id, wmin, qv
    """)
    level2 = ",\n".join(f"SUM({col}) AS {col}" for col in [*counts, *sorted(_SPECIAL)])
    windows = t_env.sql_query(f"""
        SELECT branch_id, wmin, {level2},
               SUM(queue_wait_sum_ms) AS queue_wait_sum_ms,
               COALESCE(MAX(CASE WHEN qv >= 0 AND queue_wait_count > 0 THEN qv END), 0) AS queue_wait_max_ms,
               SUM(applied) AS version
        FROM branch_fact_groups GROUP BY branch_id, wmin
    """)
    # An updating table: keep the rows as they become (+I/+U); the JVM drops the retractions.
    j_changes = t_env.to_changelog_stream(windows)._j_data_stream
    j_latest = j_changes.flatMap(get_gateway().jvm.sitcen.udf.LatestRows(), j_changes.getType())
    t_env.create_temporary_view("branch_windows", t_env.from_data_stream(DataStream(j_latest)))
    fields = ", ".join(f"{_quote(c)} VALUE {c}" for c in COUNT_COLUMNS)
    empty = " AND ".join(f"{c} = 0" for c in COUNT_COLUMNS)
    return t_env.sql_query(f"""
        SELECT JSON_OBJECT('_t' VALUE 'branch_minute', 'branch_id' VALUE branch_id,
                           'window_start' VALUE DATE_FORMAT(TO_TIMESTAMP_LTZ(wmin, 3), 'yyyy-MM-dd HH:mm:ss'),
                           {fields},
                           'queue_wait_sum_s' VALUE queue_wait_sum_ms / 1000.0,
                           'queue_wait_max_s' VALUE queue_wait_max_ms / 1000.0,
                           'version' VALUE version,
                           'is_deleted' VALUE CASE WHEN {empty} THEN 1 ELSE 0 END) AS line
        FROM branch_windows
    """)
