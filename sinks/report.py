"""The Situation Center report: the eight question files, run once, laid out for one or two screens.

`build(client, …)` runs sinks/sql/q1..q8.sql (the same files the dashboards use) and returns plain
data; `format_text` lays it out with aligned columns, `to_json` makes it machine-readable. No
business rule lives here: every number comes from a question file.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from sinks import schema
from sinks.clickhouse import Client

NATIONAL_TZ = "Asia/Almaty"  # every branch zone is UTC+5 since 2024-03-01
EMPTY_MESSAGE = "no data yet: run `sitcen run --input FILE` first"
UTC = dt.timezone.utc
SPARK = "▁▂▃▄▅▆▇█"
WIDTH = 100  # text report line width (tables may be wider when their contents are)
MIN_RATINGS = 5  # a branch or inspector enters "lowest-rated" with at least this many ratings (when any has)
BAR = "█"


class ReportError(ValueError):
    """A report that cannot be made as asked (e.g. a malformed day)."""


@dataclass
class Report:
    clickhouse: str
    day: dt.date | None
    now: dt.datetime | None
    tz: str
    branch: str
    top: int
    empty: bool = False
    headline: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, list[dict]] = field(default_factory=dict)


def _params(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    wanted = set(re.findall(r"\{(\w+):", sql))
    return {k: v for k, v in values.items() if k in wanted}


def ask(client: Client, n: int, **values: Any) -> list[dict]:
    """Run question `n` with the parameters it declares (others ignored)."""
    sql = schema.sql_text(f"q{n}.sql")
    return client.query_rows(sql, _params(sql, values))


def has_data(client: Client) -> bool:
    tables = {
        r["name"]
        for r in client.query_rows(
            "SELECT name FROM system.tables WHERE database = {db:String}", {"db": client.database}
        )
    }
    if not {"tickets", "branch_minute", "alerts", "ticket_stages", "ratings", "branches"} <= tables:
        return False
    return schema.has_data(client)


def latest_day(client: Client, tz: str) -> dt.date | None:
    """The latest local day with tickets or branch-minutes."""
    v = client.query_value(
        "SELECT max(d) FROM ("
        " SELECT toDate(max(issued_at), {tz:String}) AS d FROM sitcen.tickets WHERE issued_at IS NOT NULL"
        " UNION ALL SELECT toDate(max(window_start), {tz:String}) FROM sitcen.branch_minute HAVING count() > 0)",
        {"tz": tz},
    )
    return v if isinstance(v, dt.date) and v.year > 1970 else None


def latest_instant(client: Client, until: dt.datetime) -> dt.datetime | None:
    """The latest ticket or alert instant in the store before `until` — "now" for a replayed day."""
    v = client.query_value(
        "SELECT max(t) FROM ("
        " SELECT max(greatest(issued_at, coalesce(finished_at, issued_at))) AS t FROM sitcen.tickets"
        "   WHERE issued_at < {until:DateTime64(3, 'UTC')}"
        " UNION ALL SELECT max(detected_at) FROM sitcen.alerts WHERE detected_at < {until:DateTime64(3, 'UTC')}"
        "   HAVING count() > 0)",
        {"until": _ch_instant(until)},
    )
    if not isinstance(v, dt.datetime) or v.year <= 1970:
        return None
    return min(v, until)


def _ch_instant(t: dt.datetime) -> str:
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def build(
    client: Client, day: dt.date | str | None = None, branch: str | None = None, top: int = 5,
    tz: str = NATIONAL_TZ, now: dt.datetime | None = None,
) -> Report:
    """Run the questions for `day` (default: the latest day with data) and `branch` (default: all)."""
    if top < 1:
        raise ReportError("--top must be at least 1")
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day)
        except ValueError:
            raise ReportError(f"--day wants YYYY-MM-DD, got {day!r}") from None
    report = Report(clickhouse=client.dsn.display(), day=day, now=now, tz=tz, branch=branch or "", top=top)
    if not has_data(client):
        report.empty = True
        return report
    if report.day is None:
        report.day = latest_day(client, tz)
        if report.day is None:
            report.empty = True
            return report
    zone = ZoneInfo(tz)
    day_end = dt.datetime.combine(report.day + dt.timedelta(days=1), dt.time(), zone).astimezone(UTC)
    if report.now is None:
        report.now = latest_instant(client, day_end) or day_end
    values = {
        "day": report.day.isoformat(), "tz": tz, "branch": report.branch, "now": _ch_instant(report.now),
        "limit": top, "top": top,
    }
    s = report.sections
    s["now"] = ask(client, 1, **values)
    s["today"] = ask(client, 2, **values)
    s["breaches"] = ask(client, 3, **values)
    s["breached_tickets"] = ask(client, 4, **values)
    s["staff"] = ask(client, 5, **values)
    s["licenses_by_city"] = ask(client, 6, **values, days=30)
    s["load_profile"] = ask(client, 7, **values, days=1)
    s["ratings"] = ask(client, 8, **values, days=1)
    report.headline = _headline(report)
    return report


def _headline(r: Report) -> dict[str, Any]:
    today = r.sections["today"]
    issued = sum(x["issued"] for x in today)
    completed = sum(x["completed"] for x in today)
    within = sum(x["within_standard"] for x in today)
    national = [x for x in r.sections["breaches"] if x["level"] == "national"]
    ratings = next((x for x in r.sections["ratings"] if x["level"] == "national"), None)
    now_rows = r.sections["now"]
    return {
        "tickets_issued": issued,
        "completed": completed,
        "cancelled": sum(x["cancelled"] for x in today),
        "abandoned": sum(x["abandoned"] for x in today),
        "within_standard": within,
        "within_standard_share": round(within / completed, 4) if completed else None,
        "breaches_con": sum(x["breaches"] for x in national if x["responsible"] == "con"),
        "breaches_police": sum(x["breaches"] for x in national if x["responsible"] == "police"),
        "licenses_issued": sum(x["licenses_issued"] for x in today),
        "registrations": sum(x["registrations"] for x in today),
        "plates_issued": sum(x["plates_issued"] for x in today),
        "branches_reporting": len(today),
        "open_now": sum(x["open_tickets"] for x in now_rows),
        "waiting_now": sum(x["waiting"] for x in now_rows),
        "past_standard_now": sum(x["past_standard"] for x in now_rows),
        "mean_rating": ratings["mean_rating"] if ratings else None,
    }


# ---------------------------------------------------------------------------------------------
# JSON


def _plain(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        t = v.astimezone(UTC)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def to_json(r: Report) -> dict:
    if r.empty:
        return {"empty": True, "message": EMPTY_MESSAGE, "clickhouse": r.clickhouse}
    return _plain({
        "empty": False, "clickhouse": r.clickhouse, "day": r.day, "now": r.now, "tz": r.tz,
        "branch": r.branch or None, "top": r.top, "headline": r.headline, "sections": r.sections,
    })


# ---------------------------------------------------------------------------------------------
# Text


def num(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}".replace(",", " ")
    return f"{int(v):,}".replace(",", " ")


def dur(seconds: Any) -> str:
    """Seconds as a short duration: 45s, 12m, 1h05m."""
    if seconds is None:
        return "–"
    s = int(round(float(seconds)))
    if s < 60:
        return f"{s}s"
    m = int(round(s / 60))
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def pct(share: Any) -> str:
    return "–" if share is None else f"{100 * float(share):.1f}%"


def clip(text: Any, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right: Iterable[int] = (), indent: int = 2) -> list[str]:
    """Rows of strings laid out in aligned columns; `right` names the right-aligned columns."""
    body = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    right = set(right)

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return (" " * indent + "  ".join(out)).rstrip()

    return [line(list(headers)), line(["─" * w for w in widths])] + [line(r) for r in body]


def sparkline(values: Sequence[float]) -> str:
    top = max(values) if values else 0
    if not top:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))] for v in values)


def _local(t: dt.datetime | None, tz: str, fmt: str = "%H:%M") -> str:
    return "–" if t is None else t.astimezone(ZoneInfo(tz)).strftime(fmt)


def _lowest(rows: list[dict]) -> list[dict]:
    """Rows by mean rating, lowest first; only those with MIN_RATINGS ratings when any has that many."""
    floor = MIN_RATINGS if any(x["ratings"] >= MIN_RATINGS for x in rows) else 1
    keep = [x for x in rows if x["ratings"] >= floor]
    return sorted(keep, key=lambda x: (x["mean_rating"], -x["ratings"], x["branch_id"], x["staff_id"]))


def _wrap_timeline(text: str, indent: int, width: int) -> list[str]:
    """A stage timeline broken at its arrows to fit `width`."""
    parts = text.split(" → ")
    lines, current = [], ""
    for i, part in enumerate(parts):
        piece = part if i == 0 else " → " + part
        if current and indent + len(current) + len(piece) > width:
            lines.append(" " * indent + current)
            current = "→ " + part
        else:
            current += piece
    if current:
        lines.append(" " * indent + current)
    return lines


def format_text(r: Report) -> str:
    if r.empty:
        return f"sitcen report: {EMPTY_MESSAGE} (store: {r.clickhouse})"
    h = r.headline
    scope = f"branch {r.branch}" if r.branch else "national"
    out = [
        f"SITUATION CENTER — {r.day.isoformat()} ({scope}), as of {_local(r.now, r.tz)} local "
        f"[{r.tz}] · {r.clickhouse}",
        "",
        f"  tickets {num(h['tickets_issued'])} · completed {num(h['completed'])} · within standard "
        f"{pct(h['within_standard_share'])} · cancelled {num(h['cancelled'])} · abandoned {num(h['abandoned'])}",
        f"  breaches: CON {num(h['breaches_con'])} · police {num(h['breaches_police'])} · licenses issued "
        f"{num(h['licenses_issued'])} · registrations {num(h['registrations'])} · plates {num(h['plates_issued'])}",
        f"  now: {num(h['open_now'])} open, {num(h['waiting_now'])} waiting, {num(h['past_standard_now'])} past the "
        f"standard · mean rating {num(h['mean_rating']) if h['mean_rating'] is None else format(h['mean_rating'], '.2f')}"
        f" · {num(h['branches_reporting'])} branches",
    ]
    n = r.top
    s = r.sections

    def section(title: str, lines: list[str], empty_note: str = "none") -> None:
        out.append("")
        out.append(title)
        out.extend(lines if lines else [f"  {empty_note}"])

    # q1
    now_rows = s["now"][:n]
    section(
        f"1 · NOW ({_local(r.now, r.tz)}): open tickets per branch, worst {n}",
        table(
            ["branch", "city", "open", "waiting", "past std", "oldest", "age"],
            [[clip(x["branch_id"], 22), clip(x["city"], 14), num(x["open_tickets"]), num(x["waiting"]),
              num(x["past_standard"]), x["oldest_ticket_id"], dur(x["oldest_age_s"])] for x in now_rows],
            right=(2, 3, 4, 6),
        ) if now_rows else [],
        "no open tickets",
    )
    # q2
    today = s["today"][:n]
    section(
        f"2 · TODAY per branch, busiest {n} of {len(s['today'])}",
        table(
            ["branch", "issued", "done", "lic", "reg", "plates", "wait", "p90", "total", "p90", "within"],
            [[clip(x["branch_id"], 22), num(x["issued"]), num(x["completed"]), num(x["licenses_issued"]),
              num(x["registrations"]), num(x["plates_issued"]), dur(x["wait_mean_s"]), dur(x["wait_p90_s"]),
              dur(x["total_mean_s"]), dur(x["total_p90_s"]), pct(x["within_standard_share"])] for x in today],
            right=range(1, 11),
        ) if today else [],
    )
    # q3
    national = [x for x in s["breaches"] if x["level"] == "national"]
    per_branch: dict[str, dict[str, int]] = {}
    for x in s["breaches"]:
        if x["level"] == "branch":
            b = per_branch.setdefault(x["branch_id"], {"con": 0, "police": 0, "total": 0, "worst": ("", 0)})
            b[x["responsible"]] = b.get(x["responsible"], 0) + x["breaches"]
            b["total"] += x["breaches"]
            if x["breaches"] > b["worst"][1]:
                b["worst"] = (x["stage"], x["breaches"])
    lines = []
    if national:
        lines += table(
            ["party", "stage", "stage overruns", "ticket overruns", "breaches"],
            [[x["responsible"], x["stage"], num(x["stage_overruns"]), num(x["ticket_overruns"]), num(x["breaches"])]
             for x in national],
            right=(2, 3, 4),
        )
        worst = sorted(per_branch.items(), key=lambda kv: (-kv[1]["total"], kv[0]))[:n]
        lines += [""] + table(
            ["branch", "breaches", "CON", "police", "worst stage"],
            [[clip(b, 22), num(v["total"]), num(v.get("con", 0)), num(v.get("police", 0)), v["worst"][0]]
             for b, v in worst],
            right=(1, 2, 3),
        )
    section(f"3 · BREACHES by party and stage ({'this branch' if r.branch else 'national'}), then the {n} branches "
            "with most", lines)
    # q4
    lines = []
    for x in s["breached_tickets"]:
        lines.append(
            f"  {x['ticket_id']}  {x['branch_id']}  {x['service']}  {dur(x['total_s'])} "
            f"({x['status']}) — cause {x['cause_stage'] or '–'} ({x['responsible'] or '–'})"
        )
        lines.extend(_wrap_timeline(x["timeline"] or "(no stage attempts)", indent=6, width=WIDTH))
    section(f"4 · BREACHED TICKETS, longest {n}", lines)
    # q5
    lines = []
    for party, title in (("con", "CON employees"), ("police", "police (examiners, inspectors)")):
        rows = [x for x in s["staff"] if x["party"] == party]
        if not rows:
            continue
        if lines:
            lines.append("")
        lines.append(f"  {title}")
        lines += table(
            ["staff", "branch", "tickets", "overruns", "over by", "ticket breaches", "ratings", "mean"],
            [[x["staff_id"], clip(x["branch_id"], 22), num(x["tickets_handled"]), num(x["stage_overruns"]),
              dur(x["overrun_s"]) if x["stage_overruns"] else "–", num(x["ticket_breaches"]), num(x["ratings"]),
              "–" if x["mean_rating"] is None else f"{x['mean_rating']:.2f}"] for x in rows],
            right=(2, 3, 4, 5, 6, 7), indent=4,
        )
    section(f"5 · STAFF, top {n} per party by overruns", lines)
    # q6
    days = [r.day - dt.timedelta(days=i) for i in range(29, -1, -1)]
    by_city: dict[str, dict[dt.date, int]] = {}
    for x in s["licenses_by_city"]:
        by_city.setdefault(x["city"], {})[x["day"]] = x["licenses_issued"]
    cities = sorted(by_city.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    lines = table(
        ["city", "today", "7 days", "30 days", f"daily, {days[0].strftime('%d.%m')}–{days[-1].strftime('%d.%m')}"],
        [[clip(c, 18), num(v.get(r.day, 0)), num(sum(v.get(d, 0) for d in days[-7:])), num(sum(v.values())),
          sparkline([v.get(d, 0) for d in days])] for c, v in cities[:n]],
        right=(1, 2, 3),
    ) if cities else []
    if len(cities) > n:
        lines.append(f"  … {len(cities) - n} more cities")
    section(f"6 · LICENSES ISSUED per city, last 30 days (top {n})", lines)
    # q7
    per_hour: dict[int, int] = {}
    for x in s["load_profile"]:
        per_hour[x["hour"]] = per_hour.get(x["hour"], 0) + x["tickets_issued"]
    lines = []
    if per_hour:
        peak = max(per_hour.values())
        width = 40
        for hour in range(min(per_hour), max(per_hour) + 1):
            v = per_hour.get(hour, 0)
            lines.append(f"  {hour:02d}:00  {BAR * max(1 if v else 0, round(v / peak * width)):<{width}}  {num(v)}")
    section("7 · LOAD PROFILE: tickets issued per hour (local)", lines)
    # q8
    lines = []
    nat = next((x for x in s["ratings"] if x["level"] == "national"), None)
    if nat:
        total = nat["ratings"] or 1
        for score in range(5, 0, -1):
            v = nat[f"r{score}"]
            lines.append(f"  {score}★  {BAR * round(v / total * 30):<30}  {num(v):>6}  {100 * v / total:5.1f}%")
        lines.append(f"      {num(nat['ratings'])} ratings, mean {nat['mean_rating']:.2f}")
        branches = _lowest([x for x in s["ratings"] if x["level"] == "branch"])
        police = _lowest([x for x in s["ratings"] if x["level"] == "staff" and x["party"] == "police"])
        if branches:
            lines += [""] + table(
                ["lowest-rated branch", "ratings", "mean", "1★", "2★", "3★", "4★", "5★"],
                [[clip(x["branch_id"], 22), num(x["ratings"]), f"{x['mean_rating']:.2f}",
                  *(num(x[f"r{i}"]) for i in range(1, 6))] for x in branches[:n]],
                right=range(1, 8),
            )
        if police:
            lines += [""] + table(
                ["lowest-rated inspector", "branch", "ratings", "mean", "1★", "2★", "3★", "4★", "5★"],
                [[x["staff_id"], clip(x["branch_id"], 22), num(x["ratings"]), f"{x['mean_rating']:.2f}",
                  *(num(x[f"r{i}"]) for i in range(1, 6))] for x in police[:n]],
                right=range(2, 9),
            )
    section("8 · RATINGS", lines)
    return "\n".join(out)
