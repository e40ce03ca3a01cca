"""`sitcen report` on the hand-built day and on an empty store."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_clickhouse_fixtures import store  # noqa: E402,F401

from sinks.report import (  # noqa: E402
    EMPTY_MESSAGE,
    ReportError,
    build,
    dur,
    format_text,
    sparkline,
    table,
    to_json,
)

REPO = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc


def test_headline_and_defaults(store):  # noqa: F811
    r = build(store)
    assert r.day == dt.date(2026, 11, 24)  # the latest day with data
    assert r.now == dt.datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # T5 cancelled at 09:30 UTC: the last instant
    assert r.headline == {
        "tickets_issued": 6, "completed": 3, "cancelled": 1, "abandoned": 0, "within_standard": 1,
        "within_standard_share": 0.3333, "breaches_con": 2, "breaches_police": 4, "licenses_issued": 4,
        "registrations": 1, "plates_issued": 1, "branches_reporting": 3, "open_now": 2, "waiting_now": 1,
        "past_standard_now": 1, "mean_rating": 3.25,
    }


def test_text_report_sections(store):  # noqa: F811
    text = format_text(build(store, top=3))
    lines = text.splitlines()
    assert lines[0].startswith("SITUATION CENTER — 2026-11-24 (national), as of 14:30 local [Asia/Almaty]")
    assert "tickets 6 · completed 3 · within standard 33.3%" in text
    assert "breaches: CON 2 · police 4 · licenses issued 4" in text
    for title in ("1 · NOW", "2 · TODAY", "3 · BREACHES", "4 · BREACHED TICKETS", "5 · STAFF", "6 · LICENSES",
                  "7 · LOAD PROFILE", "8 · RATINGS"):
        assert sum(line.startswith(title) for line in lines) == 1, title
    assert "      queue 09:00–09:10 10m → intake 09:10–09:25 15m c1 → theory_exam 09:30–10:10 40m p3" in lines
    assert "  CON employees" in lines and "  police (examiners, inspectors)" in lines
    assert any(line.startswith("  09:00  ████") for line in lines)
    assert all(len(line) <= 120 for line in lines)
    # aligned columns: the header and its rule have the same width, numbers are right-aligned
    i = next(k for k, line in enumerate(lines) if line.startswith("  branch  issued"))
    assert len(lines[i]) == len(lines[i + 1])
    assert lines[i + 2].startswith("  b1           3     2")


def test_one_branch_and_another_day(store):  # noqa: F811
    r = build(store, branch="b1", day="2026-11-23")
    assert (r.headline["tickets_issued"], r.headline["completed"], r.headline["licenses_issued"]) == (1, 1, 1)
    assert r.headline["breaches_con"] == 1  # a7, the day before
    assert r.now == dt.datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert "(branch b1)" in format_text(r).splitlines()[0]


def test_json_report(store):  # noqa: F811
    j = json.loads(json.dumps(to_json(build(store, top=2))))
    assert j["empty"] is False and j["day"] == "2026-11-24" and j["now"] == "2026-11-24T09:30:00.000Z"
    assert set(j["sections"]) == {"now", "today", "breaches", "breached_tickets", "staff", "licenses_by_city",
                                  "load_profile", "ratings"}
    assert [t["ticket_id"] for t in j["sections"]["breached_tickets"]] == ["T4", "T1"]
    assert j["sections"]["now"][0]["oldest_issued_at"] == "2026-11-24T05:00:00.000Z"


def test_bad_arguments(store):  # noqa: F811
    with pytest.raises(ReportError, match="YYYY-MM-DD"):
        build(store, day="24.11.2026")
    with pytest.raises(ReportError, match="--top"):
        build(store, top=0)


def test_empty_store(store):  # noqa: F811
    from dataclasses import replace

    from sinks.clickhouse import Client

    empty = Client(store.raw, replace(store.dsn, database="sitcen_nothing"))  # no such database
    r = build(empty)
    assert r.empty
    assert format_text(r) == f"sitcen report: {EMPTY_MESSAGE} (store: chdb://memory)"
    assert to_json(r)["empty"] is True


def test_formatting_helpers():
    assert [dur(None), dur(42.4), dur(600), dur(3900), dur(7200)] == ["–", "42s", "10m", "1h05m", "2h00m"]
    assert sparkline([0, 1, 2, 4]) == "▁▃▅█" and sparkline([0, 0]) == "▁▁"
    assert table(["a", "bb"], [["x", "1"], ["yyy", "22"]], right=(1,)) == [
        "  a    bb", "  ───  ──", "  x     1", "  yyy  22"]


def test_the_command_on_an_empty_store_and_with_data(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def sitcen(*args):
        return subprocess.run([sys.executable, "-m", "sitcen", "report", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    empty = sitcen()
    assert empty.returncode == 0, empty.stderr
    assert "no data yet: run `sitcen run --input FILE` first" in empty.stdout

    store_path = tmp_path / "store"
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); import test_clickhouse_fixtures as d; "
        "from sinks.clickhouse import connect; c = connect('chdb://' + sys.argv[1]); d.load_dataset(c); c.close()"
    )
    subprocess.run([sys.executable, "-c", code, str(store_path), os.path.dirname(__file__)], check=True, env=env,
                   cwd=REPO, timeout=300)
    text = sitcen("--clickhouse", f"chdb://{store_path}", "--top", "2")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("SITUATION CENTER — 2026-11-24 (national)")
    js = sitcen("--clickhouse", f"chdb://{store_path}", "--format", "json", "--branch", "b2")
    assert js.returncode == 0 and json.loads(js.stdout)["headline"]["tickets_issued"] == 2
    bad = sitcen("--clickhouse", f"chdb://{store_path}", "--day", "tomorrow")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
