"""Hand-written tickets through the real job (mini-cluster → chDB), checked to the millisecond.

Every expected instant below is worked out by hand from DESIGN §4 and docs/semantics.md (the
comments show the arithmetic); none is produced by the code under test. One delivered file
carries all cases, so the mini-cluster starts once; a second delivery of the same events in
another order (within the out-of-orderness) must give identical tables, and loading the same
input twice into one store must change no answer.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.integration.conftest import Day, query, sitcen, write_jsonl

pytestmark = pytest.mark.integration

D = Day("2026-11-24")  # a Tuesday; spec-almaty 08:30-20:00, ala-almaly-1 09:00-20:00 (UTC+5)
BR = "spec-almaty"


def ev(eid, type_, hhmm, ticket=None, branch=BR, sec=0, **fields):
    e = {"event_id": eid, "type": type_, "ts": D.ts(hhmm, sec), "branch_id": branch}
    if ticket:
        e["ticket_id"] = ticket
    e.update(fields)
    return e


def ticket(tid, service, steps, branch=BR):
    """steps: (hhmm, type, stage_or_None, extra) in world order."""
    out = [ev(f"{tid}-0", "ticket_issued", steps[0][0], tid, branch, service=service)]
    for i, (hhmm, type_, stage, extra) in enumerate(steps[1:], 1):
        fields = dict(extra)
        if stage:
            fields["stage"] = stage
        out.append(ev(f"{tid}-{i}", type_, hhmm, tid, branch, **fields))
    return out


def S(hhmm, stage, staff=None):
    return (hhmm, "stage_started", stage, {"staff_id": staff} if staff else {})


def F(hhmm, stage, result=None):
    return (hhmm, "stage_finished", stage, {"result": result} if result else {})


WORLD = (
    # A: queue 25 min -> queue at-risk at 09:24 (0.8*30), no overrun; ticket at-risk at 09:48 (0.8*60)
    #    with nothing over its limit -> cause = segment in progress (production, police).
    ticket("A", "license_exchange", [("09:00", None, None, {}), S("09:25", "intake", "op-01"), F("09:35", "intake"),
                                     S("09:40", "production"), F("09:50", "production"),
                                     ("09:52", "document_issued", None, {}),
                                     ("09:55", "rating_submitted", None, {"staff_id": "op-01", "rating": 5})])
    # B: theory 10:20-11:01 -> at-risk 10:52 (+32), overrun 11:00 (+40) resolved 11:01 overrun 60 s;
    #    ticket at-risk 11:36 (+96) caused by the theory exam (+60 s over), no ticket overrun (115 min).
    + ticket("B", "driver_license", [("10:00", None, None, {}), S("10:05", "intake", "op-02"), F("10:15", "intake"),
                                     S("10:20", "theory_exam", "ex-01"), F("11:01", "theory_exam", "passed"),
                                     S("11:05", "practical_exam", "ex-02"), F("11:30", "practical_exam", "passed"),
                                     S("11:35", "production"), F("11:50", "production"),
                                     ("11:55", "document_issued", None, {})])
    # C: 40 min wait for the theory exam (limit 15) -> ticket at-risk 13:36 and overrun 14:00 both caused by
    #    wait_theory_exam (police); resolved at 14:25, overrun 145-120 = 25 min.
    + ticket("C", "driver_license", [("12:00", None, None, {}), S("12:02", "intake"), F("12:10", "intake"),
                                     S("12:50", "theory_exam"), F("13:20", "theory_exam", "passed"),
                                     S("13:25", "practical_exam"), F("14:00", "practical_exam", "passed"),
                                     S("14:05", "production"), F("14:20", "production"),
                                     ("14:25", "document_issued", None, {})])
    # D: never finished -> abandoned at closing 20:00 + 60 min grace = 21:00; the trailing wait after intake
    #    waits for `plates` (police): at-risk 20:06 (+36 of 45), overrun 20:15, overrun 90-45 = 45 min.
    + ticket("D", "plates_issue", [("19:30", None, None, {}), S("19:35", "intake"), F("19:45", "intake")])
    # E: intake 15:05-15:19 -> at-risk 15:17 (+12), resolved 15:19; its finish is delivered late, so an
    #    intake overrun at 15:20 may have been written first, and must not stand.
    + ticket("E", "vehicle_reregistration", [("15:00", None, None, {}), S("15:05", "intake"), F("15:19", "intake"),
                                              S("15:25", "vehicle_inspection"), F("15:45", "vehicle_inspection"),
                                              S("15:50", "production"), F("16:10", "production"),
                                              ("16:15", "document_issued", None, {})])
    # J: a finish without a start is ignored; the real intake attempt is attempt 1 from 13:10.
    + ticket("J", "license_exchange", [("13:00", None, None, {}), F("13:05", "intake"), S("13:10", "intake"),
                                       F("13:20", "intake"), S("13:25", "production"), F("13:40", "production"),
                                       ("13:45", "document_issued", None, {})])
    # K: theory failed and retaken (attempt 2); at the ticket overrun 10:40 the practical exam has just ended
    #    (events at t apply before timers at t) so the cause is the wait for production, in progress.
    + ticket("K", "driver_license", [("08:40", None, None, {}), S("08:45", "intake"), F("08:55", "intake"),
                                     S("09:00", "theory_exam"), F("09:30", "theory_exam", "failed"),
                                     S("09:40", "theory_exam"), F("10:05", "theory_exam", "passed"),
                                     S("10:10", "practical_exam"), F("10:40", "practical_exam", "passed"),
                                     S("10:45", "production"), F("11:00", "production"),
                                     ("11:05", "document_issued", None, {})])
    # Q: a ticket at a branch that sends nothing else: only other branches' heartbeats move time.
    #    queue at-risk 17:24, overrun 17:30; ticket at-risk 17:48, overrun 18:00; abandoned 21:00.
    + ticket("Q", "license_exchange", [("17:00", None, None, {})], branch="ala-almaly-1")
    # U: unknown branch -> kept and flagged, abandoned at issue + 12 h = 22:00.
    + ticket("U", "license_exchange", [("10:00", None, None, {})], branch="zz-unknown")
    # W1, W2: both queues end in minute 16:40 (10 min and 4 min); then W1's real first call at 16:36:30
    #    arrives late, moving W1's queue wait (6 min 30 s) to minute 16:36 and taking it out of 16:40.
    + ticket("W1", "license_exchange", [("16:30", None, None, {}), S("16:40", "intake")])
    + ticket("W2", "license_exchange", [("16:36", None, None, {}), S("16:40", "intake")])
)
HEARTBEATS = [ev(f"hb-{h:02d}{m:02d}", "heartbeat", f"{h:02d}:{m:02d}") for h in range(8, 24) for m in range(60)]
TOO_LATE = ev("A-late-rating", "rating_submitted", "09:56", "A", staff_id="op-01", rating=1)
DUPLICATE = next(e for e in WORLD if e["event_id"] == "B-3")
LATE_FINISH = next(e for e in WORLD if e["event_id"] == "E-2")
OUT_OF_ORDER = next(e for e in WORLD if e["event_id"] == "C-2")
EARLY_CALL = ev("W1-early", "stage_started", "16:36", "W1", sec=30, stage="intake")


def deliver(seed: int | None) -> list:
    """The delivered file: world order (or jittered by < 30 s when seeded), with the planned faults."""
    specials = {TOO_LATE["event_id"], LATE_FINISH["event_id"], OUT_OF_ORDER["event_id"]}
    base = [e for e in WORLD + HEARTBEATS if e["event_id"] not in specials]
    rnd = random.Random(seed)
    jitter = {e["event_id"]: (rnd.uniform(0, 30) if seed is not None else 0) for e in base}
    base.sort(key=lambda e: (D.at(e["ts"][11:16], int(e["ts"][17:19])).timestamp() + jitter[e["event_id"]], e["event_id"]))
    out: list = []
    for e in base:
        out.append(e)
        if e["event_id"] == "hb-1010":
            out.append(TOO_LATE)  # ts 09:56 < M(10:10) - 1 min - 10 min: too late
        if e["event_id"] == "hb-1025":
            out.append(DUPLICATE)  # theory start of B again, same event_id
        if e["event_id"] == "hb-1525":
            out.append(LATE_FINISH)  # ts 15:19 < M(15:25) - 1 min, >= 15:14: late but allowed
        if e["event_id"] == "hb-1210":
            out.append(OUT_OF_ORDER)  # intake finish 12:10 after heartbeat 12:10: on time
        if e["event_id"] == "hb-1641":
            out.append(EARLY_CALL)  # ts 16:36:30 < M(16:41) - 1 min, >= 16:30: late but allowed
        if e["event_id"] == "hb-0900":
            out.append("{not json")
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory, built):
    work = tmp_path_factory.mktemp("cases")
    path = write_jsonl(work / "cases.jsonl", deliver(None))
    dsn = f"chdb://{work / 'store'}"
    # hourly watermarks, so that one passes every close before the end of input (the drain test);
    # the runs compared with this one take the default step: answers do not depend on it
    run = sitcen("run", "--input", str(path), "--clickhouse", dsn, "--watermark-step", "3600", "--quiet", cwd=work)
    return {"dsn": dsn, "work": work, "path": path, "summary": run.stdout}


def alerts(dsn, ticket_id):
    (rows,) = query(dsn, f"SELECT kind, stage, attempt, status, detected_at, resolved_at, overrun_s, cause_stage, "
                         f"responsible, staff_id FROM sitcen.alerts FINAL WHERE ticket_id = '{ticket_id}' "
                         f"AND status != 'withdrawn' ORDER BY detected_at, kind")
    return [(r["kind"], r["stage"], r["attempt"], r["status"], r["detected_at"], r["resolved_at"], r["overrun_s"],
             r["cause_stage"], r["responsible"]) for r in rows]


def tickets(dsn, ticket_id):
    (rows,) = query(dsn, f"SELECT * FROM sitcen.tickets FINAL WHERE ticket_id = '{ticket_id}'")
    assert len(rows) == 1
    return rows[0]


def test_queue_at_risk_and_cause_in_progress(store):
    assert alerts(store["dsn"], "A") == [
        ("stage_at_risk", "queue", 1, "resolved", D.utc("09:24"), D.utc("09:25"), None, "queue", "con"),
        ("ticket_at_risk", "", 0, "resolved", D.utc("09:48"), D.utc("09:52"), None, "production", "police"),
    ]
    t = tickets(store["dsn"], "A")
    assert (t["status"], t["total_s"], t["queue_s"], t["intake_s"], t["production_s"]) == ("completed", 3120.0, 1500.0, 600.0, 600.0)
    assert (t["wait_intake_s"], t["wait_production_s"], t["wait_document_s"], t["breached"]) == (0.0, 300.0, 120.0, 0)
    assert t["rating"] == 5  # the too-late rating of 1 changed nothing


def test_stage_overrun_exact_and_ticket_cause(store):
    assert alerts(store["dsn"], "B") == [
        ("stage_at_risk", "theory_exam", 1, "resolved", D.utc("10:52"), D.utc("11:00"), None, "theory_exam", "police"),
        ("stage_overrun", "theory_exam", 1, "resolved", D.utc("11:00"), D.utc("11:01"), 60.0, "theory_exam", "police"),
        ("ticket_at_risk", "", 0, "resolved", D.utc("11:36"), D.utc("11:55"), None, "theory_exam", "police"),
    ]


def test_wait_is_the_next_stage_partys(store):
    assert alerts(store["dsn"], "C") == [
        ("ticket_at_risk", "", 0, "resolved", D.utc("13:36"), D.utc("14:00"), None, "wait_theory_exam", "police"),
        ("ticket_overrun", "", 0, "resolved", D.utc("14:00"), D.utc("14:25"), 1500.0, "wait_theory_exam", "police"),
    ]
    t = tickets(store["dsn"], "C")
    assert (t["breached"], t["cause_stage"], t["responsible"], t["wait_theory_exam_s"]) == (1, "wait_theory_exam", "police", 2400.0)


def test_abandoned_at_closing_plus_grace(store):
    t = tickets(store["dsn"], "D")
    assert (t["status"], t["finished_at"], t["total_s"], t["breached"]) == ("abandoned", D.utc("21:00"), 5400.0, 1)
    assert alerts(store["dsn"], "D") == [
        ("ticket_at_risk", "", 0, "resolved", D.utc("20:06"), D.utc("20:15"), None, "wait_plates", "police"),
        ("ticket_overrun", "", 0, "resolved", D.utc("20:15"), D.utc("21:00"), 2700.0, "wait_plates", "police"),
    ]


def test_late_event_still_applies_and_disproved_alert_does_not_stand(store):
    assert alerts(store["dsn"], "E") == [
        ("stage_at_risk", "intake", 1, "resolved", D.utc("15:17"), D.utc("15:19"), None, "intake", "con"),
    ]
    assert tickets(store["dsn"], "E")["intake_s"] == 840.0


def test_finish_without_start_ignored_and_retake_is_attempt_2(store):
    (j,) = query(store["dsn"], "SELECT stage, attempt, started_at FROM sitcen.ticket_stages FINAL WHERE ticket_id = 'J' ORDER BY started_at")
    assert [(r["stage"], r["attempt"], r["started_at"]) for r in j] == [
        ("queue", 1, D.utc("13:00")), ("intake", 1, D.utc("13:10")), ("production", 1, D.utc("13:25"))]
    (k,) = query(store["dsn"], "SELECT attempt, result, duration_s FROM sitcen.ticket_stages FINAL WHERE ticket_id = 'K' AND stage = 'theory_exam' ORDER BY attempt")
    assert [(r["attempt"], r["result"], r["duration_s"]) for r in k] == [(1, "failed", 1800.0), (2, "passed", 1500.0)]
    assert alerts(store["dsn"], "K")[-1] == (
        "ticket_overrun", "", 0, "resolved", D.utc("10:40"), D.utc("11:05"), 1500.0, "wait_production", "police")


def test_quiet_branch_alerts_fire_on_time(store):
    assert [a[:5] for a in alerts(store["dsn"], "Q")] == [
        ("stage_at_risk", "queue", 1, "resolved", D.utc("17:24")),
        ("stage_overrun", "queue", 1, "resolved", D.utc("17:30")),
        ("ticket_at_risk", "", 0, "resolved", D.utc("17:48")),
        ("ticket_overrun", "", 0, "resolved", D.utc("18:00")),
    ]
    assert tickets(store["dsn"], "Q")["finished_at"] == D.utc("21:00")


def test_unknown_branch_kept_flagged_and_closed_at_horizon(store):
    t = tickets(store["dsn"], "U")
    assert (t["known_branch"], t["status"], t["finished_at"]) == (0, "abandoned", D.utc("22:00"))


def test_dead_letters_late_events_and_counts(store):
    dead, late = query(store["dsn"], "SELECT code, offset FROM sitcen.dead_letters FINAL",
                       "SELECT event_id, ticket_id FROM sitcen.late_events FINAL")
    assert [(d["code"]) for d in dead] == ["invalid_json"]
    assert [(r["event_id"]) for r in late] == ["A-late-rating"]
    assert "duplicates                 1" in store["summary"].replace(",", "")


def minute(dsn, hhmm, branch=BR):
    (rows,) = query(dsn, f"SELECT tickets_issued, queue_wait_count, queue_wait_sum_s, queue_wait_max_s, "
                         f"breaches_con FROM sitcen.branch_minute FINAL WHERE branch_id = '{branch}' "
                         f"AND window_start = parseDateTimeBestEffort('{D.utc(hhmm)}')")
    return tuple(rows[0].values()) if rows else None


def test_minute_windows_take_back_a_moved_queue_wait_and_its_max(store):
    # 16:36: W2 issued; W1's queue 16:30 -> 16:36:30 = 390 s. 16:40: only W2's queue 16:36 -> 16:40 = 240 s
    # (before the late call it held both: 2 waits, 840 s, max 600 s).
    assert minute(store["dsn"], "16:36") == (1, 1, 390.0, 390.0, 0)
    assert minute(store["dsn"], "16:40") == (0, 1, 240.0, 240.0, 0)
    assert minute(store["dsn"], "16:30") == (1, 0, 0.0, 0.0, 0)


def test_minute_window_of_a_disproved_breach_is_empty(store):
    # E's intake overrun (15:05 + 15 min = 15:20, con) was counted in minute 15:20, then the late finish
    # at 15:19 took it back: the window holds nothing and reads as absent.
    assert minute(store["dsn"], "15:20") is None


def test_state_drains_before_end_of_input(store):
    (rows,) = query(store["dsn"], "SELECT argMax(open_tickets, seq) AS o, argMax(pending_timers, seq) AS p, "
                                  "max(watermark) AS w FROM sitcen.job_stats WHERE watermark IS NOT NULL")
    # the last heartbeat is 23:59 local, past every ticket's close + 1 min + 10 min
    assert (rows[0]["o"], rows[0]["p"]) == (0, 0)
    assert rows[0]["w"] < D.utc("23:59")


TABLES = {
    "tickets": "SELECT * EXCEPT version FROM sitcen.tickets FINAL ORDER BY ticket_id",
    "ticket_stages": "SELECT * EXCEPT (version, is_deleted) FROM sitcen.ticket_stages FINAL ORDER BY ticket_id, stage, attempt",
    "alerts": "SELECT * EXCEPT version FROM sitcen.alerts FINAL WHERE status != 'withdrawn' ORDER BY alert_id",
    "branch_minute": "SELECT * EXCEPT (version, is_deleted) FROM sitcen.branch_minute FINAL ORDER BY branch_id, window_start",
    "dead_letters": "SELECT code, count() FROM sitcen.dead_letters FINAL GROUP BY code ORDER BY code",
    "late_events": "SELECT event_id FROM sitcen.late_events FINAL ORDER BY event_id",
}


def answers(dsn):
    return dict(zip(TABLES, query(dsn, *TABLES.values())))


def test_arrival_order_within_out_of_orderness_changes_nothing_and_replay_is_idempotent(store, tmp_path):
    first = answers(store["dsn"])
    shuffled = write_jsonl(tmp_path / "shuffled.jsonl", deliver(seed=11))
    dsn = f"chdb://{tmp_path / 'store'}"
    sitcen("run", "--input", str(shuffled), "--clickhouse", dsn, "--quiet", cwd=tmp_path)
    assert answers(dsn) == first
    # the same input again into the same store: every answer unchanged
    sitcen("run", "--input", str(shuffled), "--clickhouse", dsn, "--quiet", cwd=tmp_path)
    again = answers(dsn)
    assert again == first
    assert json.dumps(first["branch_minute"])  # non-empty minute windows were compared
    assert len(first["branch_minute"]) > 10


def test_process_mode_gives_the_same_answers(store, tmp_path):
    # PyFlink's process mode runs the Python operator in a separate worker with its own coders
    dsn = f"chdb://{tmp_path / 'store'}"
    sitcen("run", "--input", str(store["path"]), "--clickhouse", dsn, "--python-mode", "process", "--quiet",
           cwd=tmp_path)
    assert answers(dsn) == answers(store["dsn"])


def test_two_subtasks_give_the_same_answers(store, tmp_path):
    # at parallelism 1 the lines are judged in the reader's chain; with more they are shuffled by
    # source, and tickets and minutes spread over two subtasks
    dsn = f"chdb://{tmp_path / 'store'}"
    sitcen("run", "--input", str(store["path"]), "--clickhouse", dsn, "--parallelism", "2", "--quiet", cwd=tmp_path)
    assert answers(dsn) == answers(store["dsn"])
