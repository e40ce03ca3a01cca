"""The one-screen summary printed at the end of `sitcen run`, read back from ClickHouse."""

from __future__ import annotations

from typing import Any


def run_summary(client: Any, run_id: str, lines: int, wall_s: float, loaded: dict[str, int]) -> str:
    def q(sql, params=None):
        return client.query_tuples(sql, params)[1]
    dead = q("SELECT code, count() FROM sitcen.dead_letters FINAL GROUP BY code ORDER BY code")
    too_late = client.query_value("SELECT count() FROM sitcen.late_events FINAL") or 0
    statuses = q("SELECT status, count() FROM sitcen.tickets FINAL GROUP BY status ORDER BY status")
    alerts = q("SELECT kind, status, count() FROM sitcen.alerts FINAL GROUP BY kind, status ORDER BY kind, status")
    breaches = q("SELECT responsible, count() FROM sitcen.tickets FINAL WHERE breached GROUP BY responsible ORDER BY responsible")
    stats = q(
        "SELECT subtask, argMax(open_tickets, seq), argMax(pending_timers, seq), argMax(duplicates, seq), "
        "argMax(events_applied, seq), max(seq) FROM sitcen.job_stats WHERE run_id = {r:String} GROUP BY subtask",
        {"r": run_id},
    )
    before_end = q(
        "SELECT subtask, argMax(open_tickets, seq), argMax(pending_timers, seq), max(watermark) "
        "FROM sitcen.job_stats WHERE run_id = {r:String} AND watermark IS NOT NULL GROUP BY subtask",
        {"r": run_id},
    )
    n_dead = sum(n for _, n in dead)
    out = [f"sitcen run {run_id} — done in {wall_s:.1f} s ({lines / wall_s if wall_s else 0:,.0f} lines/s)", ""]
    out.append(f"  lines read        {lines:>10,}")
    out.append(f"  valid events      {lines - n_dead:>10,}")
    out.append(f"  dead letters      {n_dead:>10,}" + ("   " + ", ".join(f"{c} {n:,}" for c, n in dead) if dead else ""))
    out.append(f"  too late          {too_late:>10,}")
    dups = sum(r[3] for r in stats)
    out.append(f"  duplicates        {dups:>10,}")
    out.append("  tickets           " + (", ".join(f"{s} {n:,}" for s, n in statuses) or "none"))
    out.append("  breached tickets  " + (", ".join(f"{p or '?'} {n:,}" for p, n in breaches) or "none"))
    kinds: dict[str, list[str]] = {}
    for kind, status, n in alerts:
        kinds.setdefault(kind, []).append(f"{status} {n:,}")
    for kind, parts in kinds.items():
        out.append(f"  {kind:<17} " + ", ".join(parts))
    if before_end:
        wm = max(r[3] for r in before_end)
        out.append(
            f"  keyed state at last watermark {wm:%Y-%m-%d %H:%M}Z: open tickets {sum(r[1] for r in before_end):,}, "
            f"pending timers {sum(r[2] for r in before_end):,}"
        )
    if stats:
        out.append(f"  keyed state at end of input: open tickets {sum(r[1] for r in stats):,}, "
                   f"pending timers {sum(r[2] for r in stats):,}")
    return "\n".join(out)
