"""Each question file (sinks/sql/q1..q8.sql) on the hand-built day, against answers worked out by hand.

The day and its story are in test_clickhouse_fixtures.py; times there are UTC, the day and hours
here are local (Asia/Almaty, UTC+5).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_clickhouse_fixtures import DAY, NOW, TZ, store  # noqa: E402,F401

from sinks.schema import sql_text  # noqa: E402

UTC = dt.timezone.utc


def ask(store, n: int, **params):  # noqa: F811
    sql = sql_text(f"q{n}.sql")
    base = {"day": DAY, "tz": TZ, "branch": "", "now": NOW, "limit": 10, "top": 10, "days": 1}
    base.update(params)
    wanted = set(re.findall(r"\{(\w+):", sql))
    return store.query_rows(sql, {k: v for k, v in base.items() if k in wanted})


def pick(rows, *cols):
    return [tuple(r[c] for c in cols) for r in rows]


def test_every_question_names_its_question_and_parameters():
    for n in range(1, 9):
        sql = sql_text(f"q{n}.sql")
        assert sql.startswith(f"-- q{n} — "), n
        assert "Parameters" in sql, n
        for table in ("tickets", "ticket_stages", "alerts", "branch_minute", "ratings"):
            for m in re.finditer(rf"sitcen\.{table}\b(?: AS \w+)?(\s+\w+)?", sql):
                assert (m.group(1) or "").strip() == "FINAL", (n, m.group(0))


def test_q1_now_per_branch(store):  # noqa: F811
    rows = ask(store, 1)
    assert pick(rows, "branch_id", "city", "open_tickets", "waiting", "past_standard", "oldest_ticket_id", "oldest_age_s") == [
        # T4 open until 07:30, queue over at 05:10, ticket_overrun detected 06:30
        ("b2", "Алматы", 1, 0, 1, "T4", 9000.0),
        # T6 at a branch missing from the catalog, past its standard since 06:00
        ("zz", "(unknown)", 1, 0, 1, "T6", 7200.0),
        # T3 still queuing; its ticket_overrun was withdrawn, T1/T2 closed before 07:00, T5 not issued yet
        ("b1", "Астана", 1, 1, 0, "T3", 3600.0),
    ]
    assert rows[0]["oldest_issued_at"] == dt.datetime(2026, 11, 24, 4, 30, tzinfo=UTC)


def test_q1_as_of_an_earlier_instant_and_one_branch(store):  # noqa: F811
    rows = ask(store, 1, now="2026-11-24 05:05:00.000", branch="b1")
    # T1 (issued 04:00, in intake) and T2 (issued 05:00, queuing); nothing past the standard yet
    assert pick(rows, "branch_id", "open_tickets", "waiting", "past_standard", "oldest_ticket_id") == [("b1", 2, 1, 0, "T1")]


def test_q2_today_per_branch(store):  # noqa: F811
    rows = ask(store, 2)
    cols = ("branch_id", "issued", "completed", "cancelled", "open", "licenses_issued", "registrations", "plates_issued",
            "wait_mean_s", "wait_p90_s", "total_mean_s", "total_p90_s", "within_standard", "within_standard_share")
    assert pick(rows, *cols) == [
        # T1, T2, T3 (T7 was the day before); waits 600, 1200 → p90 = 600 + 0.9·600; totals 2400, 9000
        ("b1", 3, 2, 0, 1, 2, 0, 0, 900.0, 1140.0, 5700.0, 8340.0, 1, 0.5),
        # T4, T5; the license at 19:30 UTC on the 23rd is 00:30 local on the 24th
        ("b2", 2, 1, 1, 0, 1, 1, 1, 1350.0, 2190.0, 10800.0, 10800.0, 0, 0.0),
        ("zz", 1, 0, 0, 1, 1, 0, 0, 60.0, 60.0, None, None, 0, None),
    ]


def test_q2_day_before(store):  # noqa: F811
    rows = ask(store, 2, day="2026-11-23")
    assert pick(rows, "branch_id", "issued", "completed", "licenses_issued", "within_standard") == [("b1", 1, 1, 1, 1)]


def test_q3_breaches_by_party_and_stage(store):  # noqa: F811
    rows = ask(store, 3)
    assert pick(rows, "level", "branch_id", "responsible", "stage", "stage_overruns", "ticket_overruns", "breaches") == [
        ("national", "", "police", "practical_exam", 1, 1, 2),
        ("national", "", "con", "intake", 0, 1, 1),
        ("national", "", "con", "queue", 1, 0, 1),
        ("national", "", "police", "production", 1, 0, 1),
        ("national", "", "police", "wait_production", 0, 1, 1),
        ("branch", "b1", "police", "practical_exam", 1, 1, 2),
        ("branch", "b2", "con", "queue", 1, 0, 1),
        ("branch", "b2", "police", "production", 1, 0, 1),
        ("branch", "b2", "police", "wait_production", 0, 1, 1),
        ("branch", "zz", "con", "intake", 0, 1, 1),
    ]
    # the at-risk warning a8 is no breach, the withdrawn a6 does not stand, a7 was the day before


def test_q4_breached_tickets_with_timeline(store):  # noqa: F811
    rows = ask(store, 4)
    assert pick(rows, "ticket_id", "total_s", "cause_stage", "responsible", "stage_attempts") == [
        ("T4", 10800.0, "wait_production", "police", 5),  # the deleted theory_exam attempt is not in it
        ("T1", 9000.0, "practical_exam", "police", 5),
    ]
    assert rows[1]["timeline"] == (
        "queue 09:00–09:10 10m → intake 09:10–09:25 15m c1 → theory_exam 09:30–10:10 40m p3 → "
        "practical_exam 10:20–11:20 60m +15m p7 → production 11:25–11:30 5m p9 → completed 11:30"
    )
    assert rows[0]["timeline"].startswith("queue 09:30–10:10 40m +10m → intake 10:10–10:20 10m c2")
    assert (rows[1]["wait_theory_exam_s"], rows[1]["practical_exam_s"], rows[1]["plates_s"]) == (300.0, 3600.0, None)
    assert [r["ticket_id"] for r in ask(store, 4, limit=1)] == ["T4"]
    assert [r["ticket_id"] for r in ask(store, 4, branch="b1")] == ["T1"]


def test_q5_staff_con_and_police(store):  # noqa: F811
    rows = ask(store, 5)
    cols = ("party", "staff_id", "branch_id", "tickets_handled", "attempts", "stage_overruns", "overrun_s",
            "ticket_breaches", "ratings", "mean_rating")
    assert pick(rows, *cols) == [
        ("con", "c9", "zz", 1, 1, 0, 0.0, 1, 0, None),  # T6's ticket overrun is pinned on its intake
        ("con", "c1", "b1", 2, 2, 0, 0.0, 0, 1, 5.0),  # T1, T2 (T7 and its rating were the day before)
        ("con", "c2", "b2", 2, 2, 0, 0.0, 0, 0, None),  # T4, T5
        ("police", "p7", "b1", 1, 1, 1, 900.0, 1, 1, 2.0),
        ("police", "p5", "b2", 1, 1, 1, 600.0, 0, 1, 1.0),
        ("police", "p9", "b1", 2, 2, 0, 0.0, 0, 0, None),
        ("police", "p3", "b1", 1, 1, 0, 0.0, 0, 1, 5.0),
        ("police", "p4", "b2", 1, 1, 0, 0.0, 0, 0, None),
        ("police", "p6", "b2", 1, 1, 0, 0.0, 0, 0, None),  # p8's attempt was deleted
    ]
    top = ask(store, 5, top=2)
    assert pick(top, "party", "staff_id") == [("con", "c9"), ("con", "c1"), ("police", "p7"), ("police", "p5")]


def test_q6_licenses_per_day_per_city(store):  # noqa: F811
    rows = ask(store, 6, days=30)
    assert pick(rows, "day", "city", "licenses_issued", "branches") == [
        (dt.date(2026, 11, 23), "Астана", 1, 1),
        (dt.date(2026, 11, 24), "Астана", 2, 1),
        (dt.date(2026, 11, 24), "(unknown)", 1, 1),
        (dt.date(2026, 11, 24), "Алматы", 1, 1),
    ]
    assert ask(store, 6, days=1, day="2026-11-23") == [rows[0]]


def test_q7_load_profile(store):  # noqa: F811
    rows = ask(store, 7)
    assert pick(rows, "branch_id", "hour", "tickets_issued", "per_day") == [
        ("b1", 9, 1, 1.0), ("b1", 10, 1, 1.0), ("b1", 11, 1, 1.0),
        ("b2", 9, 1, 1.0), ("b2", 14, 1, 1.0),  # the deleted 08:00 UTC minute (5 tickets) is gone
        ("zz", 10, 1, 1.0),
    ]
    two_days = ask(store, 7, days=2, branch="b1")
    assert pick(two_days, "hour", "tickets_issued", "per_day") == [(9, 1, 0.5), (10, 2, 1.0), (11, 1, 0.5)]


def test_q8_rating_distribution(store):  # noqa: F811
    rows = ask(store, 8)
    assert pick(rows, "level", "branch_id", "staff_id", "party", "ratings", "mean_rating", "r1", "r2", "r3", "r4", "r5") == [
        ("national", "", "", "", 4, 3.25, 1, 1, 0, 0, 2),
        ("branch", "b1", "", "", 3, 4.0, 0, 1, 0, 0, 2),
        ("staff", "b1", "c1", "con", 1, 5.0, 0, 0, 0, 0, 1),
        ("staff", "b1", "p3", "police", 1, 5.0, 0, 0, 0, 0, 1),
        ("staff", "b1", "p7", "police", 1, 2.0, 0, 1, 0, 0, 0),
        ("branch", "b2", "", "", 1, 1.0, 1, 0, 0, 0, 0),
        ("staff", "b2", "p5", "police", 1, 1.0, 1, 0, 0, 0, 0),
    ]


@pytest.mark.parametrize("n", range(1, 9))
def test_questions_on_an_empty_store_return_no_rows(store, n):  # noqa: F811
    from dataclasses import replace

    from sinks import schema
    from sinks.clickhouse import Client

    empty = Client(store.raw, replace(store.dsn, database="sitcen_empty"))  # same engine, another database
    schema.ensure(empty)
    assert ask(empty, n) == []
