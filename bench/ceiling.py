"""The JVM-only ceiling: Flink SQL reads the same file, parses it and computes per-branch minute
windows, writing nothing. No Python runs in the job; what sitcen adds on top of this is the price
of its SLA rules.

    python -m bench.ceiling FILE.jsonl
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__.splitlines()[0])
    parser.add_argument("input")
    args = parser.parse_args(argv)

    from pyflink.table import EnvironmentSettings, TableEnvironment

    from jobs.embedded import prepare_process_environment

    prepare_process_environment("1536m", "-XX:+UseG1GC")
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    for k, v in {"parallelism.default": "1", "restart-strategy.type": "none"}.items():
        t_env.get_config().set(k, v)
    path = args.input.replace("'", "''")
    t_env.execute_sql(f"""
        CREATE TABLE events (
            event_id STRING, `type` STRING, ts STRING, branch_id STRING, ticket_id STRING, service STRING,
            stage STRING, rating INT,
            rt AS TO_TIMESTAMP_LTZ(COALESCE(UNIX_TIMESTAMP(SUBSTRING(ts FROM 1 FOR 19), 'yyyy-MM-dd''T''HH:mm:ss'), 0) * 1000, 3),
            WATERMARK FOR rt AS rt - INTERVAL '1' MINUTE
        ) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json',
                'json.ignore-parse-errors' = 'true')
    """)
    t_env.execute_sql("""
        CREATE TABLE sink (branch_id STRING, window_start TIMESTAMP(3), issued BIGINT, documents BIGINT,
                           ratings BIGINT, rating_sum BIGINT) WITH ('connector' = 'blackhole')
    """)
    started = time.monotonic()
    t_env.execute_sql("""
        INSERT INTO sink
        SELECT branch_id, window_start,
               COUNT(*) FILTER (WHERE `type` = 'ticket_issued'),
               COUNT(*) FILTER (WHERE `type` = 'document_issued'),
               COUNT(*) FILTER (WHERE `type` = 'rating_submitted'),
               SUM(COALESCE(rating, 0))
        FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(rt), INTERVAL '1' MINUTE))
        WHERE branch_id IS NOT NULL
        GROUP BY branch_id, window_start, window_end
    """).wait()
    print(f"ceiling wall {time.monotonic() - started:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
