"""The SLA rules (jobs/sla/rules.py): deadlines, alert rows, causes, resolution, ticket and stage rows.

DESIGN §4 "stage_at_risk / stage_overrun", "ticket_at_risk / ticket_overrun", "Alert lifecycle" and
docs/semantics.md "Deadlines and alerts". `evaluate(timeline, now)` is called at hand-picked
watermarks; every expected instant, limit and overrun is written out by hand from the rules.
"""

from __future__ import annotations

import hashlib
from typing import Any, Optional

import pytest

from jobs.sla import rules
from jobs.sla.closing import abandonment
from jobs.sla.rules import alert_id, alert_row, cause_at, evaluate, stage_rows, ticket_row
from jobs.sla.timeline import Timeline, build

from tests.unit.sla_helpers import BRANCH, CATALOG, CFG, HOUR, MIN, T0, Ticket, utc_ms

ABANDON = abandonment(CATALOG, CFG)
ABANDON_T0 = utc_ms(2026, 3, 10, 16, 0)  # spec-astana closes 20:00 local (15:00 UTC) on Tuesdays; + 60 min
LATER = T0 + 5 * HOUR  # a watermark well after every deadline of a short ticket, before the abandonment


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def evaluated(tk: Ticket, now: int, events: Optional[list] = None) -> tuple[Timeline, rules.Evaluation]:
    tl = build(tk.ticket_id, list(tk.events if events is None else events), CFG, ABANDON)
    return tl, evaluate(tl, now, CFG)


def alerts_at(tk: Ticket, now: int, events: Optional[list] = None) -> dict[tuple[str, str, int], dict[str, Any]]:
    tl, ev = evaluated(tk, now, events)
    return {(a.kind, a.stage, a.attempt): alert_row(tl, a) for a in ev.alerts}


def rel(row: dict[str, Any]) -> tuple:
    """(detected, resolved, overrun) of an alert row in minutes after T0 (overrun: ms)."""
    res = None if row["resolved_at"] is None else (row["resolved_at"] - T0) / MIN
    return ((row["detected_at"] - T0) / MIN, res, row["overrun_ms"])


# --- stage alerts: detected_at = t0 + floor(0.8·L) and t0 + L -----------------------------------

@pytest.mark.parametrize("service, stage, party, at_risk_min, limit_min", [
    ("license_exchange", "intake", "con", 12, 15),
    ("driver_license", "theory_exam", "police", 32, 40),
    ("driver_license", "practical_exam", "police", 36, 45),
    ("vehicle_registration", "vehicle_inspection", "police", 24, 30),
    ("license_exchange", "production", "police", 24, 30),
    ("plates_issue", "plates", "police", 12, 15),
])
def test_stage_alerts_fire_at_0_8_limit_and_at_limit(service: str, stage: str, party: str, at_risk_min: int,
                                                      limit_min: int) -> None:
    tk = Ticket("T1", service)
    tk.issue(0)
    tk.start(stage, 1 * MIN, staff="staff-9")  # queue 1 min, then the stage runs and never finishes
    got = alerts_at(tk, LATER)
    risk, over = got[("stage_at_risk", stage, 1)], got[("stage_overrun", stage, 1)]
    assert risk == {
        "alert_id": sha(f"T1|stage_at_risk|{stage}|1"), "kind": "stage_at_risk", "status": "resolved",
        "severity": "warning", "attempt": 1, "ticket_id": "T1", "branch_id": BRANCH, "service": service,
        "stage": stage, "cause_stage": stage, "responsible": party, "staff_id": "staff-9",
        "limit_ms": limit_min * MIN, "started_at": T0 + 1 * MIN, "detected_at": T0 + (1 + at_risk_min) * MIN,
        # an at-risk alert is resolved when its overrun fires
        "resolved_at": T0 + (1 + limit_min) * MIN, "overrun_ms": None,
    }
    assert over == {
        "alert_id": sha(f"T1|stage_overrun|{stage}|1"), "kind": "stage_overrun", "status": "firing",
        "severity": "critical", "attempt": 1, "ticket_id": "T1", "branch_id": BRANCH, "service": service,
        "stage": stage, "cause_stage": stage, "responsible": party, "staff_id": "staff-9",
        "limit_ms": limit_min * MIN, "started_at": T0 + 1 * MIN, "detected_at": T0 + (1 + limit_min) * MIN,
        "resolved_at": None, "overrun_ms": None,
    }


def test_queue_alerts_count_from_ticket_issued() -> None:
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.start("intake", 50 * MIN, staff="op-1")
    got = alerts_at(tk, LATER)
    risk, over = got[("stage_at_risk", "queue", 1)], got[("stage_overrun", "queue", 1)]
    assert (risk["started_at"], risk["limit_ms"], risk["attempt"]) == (T0, 30 * MIN, 1)
    assert rel(risk) == (24, 30, None)
    assert rel(over) == (30, 50, 20 * MIN)  # resolved when the citizen is called, 20 min over
    assert (over["responsible"], over["cause_stage"], over["staff_id"]) == ("con", "queue", "")
    assert over["alert_id"] == sha("T1|stage_overrun|queue|1")


@pytest.mark.parametrize("service, standard_min, at_risk_min", [
    ("driver_license", 120, 96),
    ("license_exchange", 60, 48),
    ("vehicle_registration", 120, 96),
    ("vehicle_reregistration", 120, 96),
    ("plates_issue", 45, 36),
])
def test_ticket_alerts_fire_at_0_8_standard_and_at_standard(service: str, standard_min: int,
                                                             at_risk_min: int) -> None:
    tk = Ticket("T1", service)
    tk.issue(0)
    tk.stage("intake", 10 * MIN, 20 * MIN)
    got = alerts_at(tk, LATER)
    risk, over = got[("ticket_at_risk", "", 0)], got[("ticket_overrun", "", 0)]
    for row, kind in ((risk, "ticket_at_risk"), (over, "ticket_overrun")):
        assert row["alert_id"] == sha(f"T1|{kind}||0")
        assert (row["stage"], row["attempt"], row["limit_ms"], row["started_at"]) == ("", 0, standard_min * MIN, T0)
        assert row["service"] == service
    assert rel(risk) == (at_risk_min, standard_min, None) and risk["severity"] == "warning"
    assert rel(over) == (standard_min, None, None) and over["severity"] == "critical"
    assert over["status"] == "firing"


def test_no_service_no_ticket_alerts() -> None:
    tk = Ticket("T1", None)
    tk.issue(0)
    assert set(alerts_at(tk, LATER)) == {("stage_at_risk", "queue", 1), ("stage_overrun", "queue", 1)}


def test_an_alert_exists_only_once_the_watermark_reaches_its_deadline() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tl, ev = evaluated(tk, T0 + 24 * MIN - 1)
    assert ev.alerts == [] and ev.next_deadline == T0 + 24 * MIN
    tl, ev = evaluated(tk, T0 + 24 * MIN)
    assert [(a.kind, a.detected_at, a.status) for a in ev.alerts] == [("stage_at_risk", T0 + 24 * MIN, "firing")]
    assert ev.next_deadline == T0 + 30 * MIN
    # detected_at is the deadline, whatever the watermark when it is evaluated
    got = alerts_at(tk, T0 + 3 * HOUR)
    assert {k: rel(v)[0] for k, v in got.items()} == {
        ("stage_at_risk", "queue", 1): 24, ("stage_overrun", "queue", 1): 30,
        ("ticket_at_risk", "", 0): 48, ("ticket_overrun", "", 0): 60,
    }


# --- overrun means duration > limit -------------------------------------------------------------

def test_finishing_exactly_at_the_deadline_is_no_overrun() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 2 * MIN, 17 * MIN)  # exactly 15 min
    got = alerts_at(tk, LATER)
    assert ("stage_overrun", "intake", 1) not in got
    assert rel(got[("stage_at_risk", "intake", 1)]) == (14, 17, None)  # resolved by the stage ending
    tl, ev = evaluated(tk, LATER)
    row = next(r for r in stage_rows(tl, ev) if r["stage"] == "intake")
    assert (row["duration_ms"], row["limit_ms"], row["overrun_ms"]) == (15 * MIN, 15 * MIN, 0)


def test_one_millisecond_late_is_an_overrun() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 2 * MIN, 17 * MIN + 1)
    got = alerts_at(tk, LATER)
    over = got[("stage_overrun", "intake", 1)]
    assert (over["detected_at"], over["resolved_at"], over["overrun_ms"]) == (T0 + 17 * MIN, T0 + 17 * MIN + 1, 1)
    assert over["status"] == "resolved"
    # the at-risk alert is resolved by its overrun firing, which comes before the stage's end
    assert got[("stage_at_risk", "intake", 1)]["resolved_at"] == T0 + 17 * MIN
    tl, ev = evaluated(tk, LATER)
    row = next(r for r in stage_rows(tl, ev) if r["stage"] == "intake")
    assert (row["duration_ms"], row["overrun_ms"]) == (15 * MIN + 1, 1)


def test_at_risk_boundary() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 2 * MIN, 14 * MIN)  # exactly 0.8 · 15 min
    assert ("stage_at_risk", "intake", 1) not in alerts_at(tk, LATER)
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 2 * MIN, 14 * MIN + 1)
    got = alerts_at(tk, LATER)
    risk = got[("stage_at_risk", "intake", 1)]
    assert (risk["detected_at"], risk["resolved_at"]) == (T0 + 14 * MIN, T0 + 14 * MIN + 1)
    assert ("stage_overrun", "intake", 1) not in got


def test_ticket_closing_exactly_at_the_standard_is_not_breached() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 5 * MIN, 15 * MIN)
    tk.stage("production", 20 * MIN, 45 * MIN)
    tk.document(60 * MIN)
    tl, ev = evaluated(tk, LATER)
    got = {(a.kind, a.stage): a for a in ev.alerts}
    assert ("ticket_overrun", "") not in got
    assert (got[("ticket_at_risk", "")].detected_at, got[("ticket_at_risk", "")].resolved_at) == (
        T0 + 48 * MIN, T0 + 60 * MIN)
    row = ticket_row(tl, ev, CFG, True)
    assert (row["total_ms"], row["breached"], row["cause_stage"], row["responsible"]) == (60 * MIN, 0, "", "")


def test_ticket_closing_a_millisecond_after_the_standard_is_breached() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 5 * MIN, 15 * MIN)
    tk.stage("production", 20 * MIN, 45 * MIN)
    tk.document(60 * MIN + 1)
    tl, ev = evaluated(tk, LATER)
    over = next(a for a in ev.alerts if a.kind == "ticket_overrun")
    assert (over.detected_at, over.resolved_at, over.overrun_ms) == (T0 + 60 * MIN, T0 + 60 * MIN + 1, 1)
    risk = next(a for a in ev.alerts if a.kind == "ticket_at_risk")
    assert risk.resolved_at == T0 + 60 * MIN  # by its overrun, not by the close
    row = ticket_row(tl, ev, CFG, True)
    # at 60 min: wait_document [45, 60) 15 min — no excess anywhere; in progress: wait_document (police)
    assert (row["total_ms"], row["breached"], row["cause_stage"], row["responsible"]) == (
        60 * MIN + 1, 1, "wait_document", "police")


# --- resolution --------------------------------------------------------------------------------

def test_at_risk_resolved_by_the_stage_ending() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.start("intake", 2 * MIN)
    finish = tk.finish("intake", 15 * MIN)
    before = alerts_at(tk, T0 + 14 * MIN, [e for e in tk.events if e is not finish])
    assert before[("stage_at_risk", "intake", 1)]["status"] == "firing"
    after = alerts_at(tk, T0 + 15 * MIN)
    assert rel(after[("stage_at_risk", "intake", 1)]) == (14, 15, None)
    assert after[("stage_at_risk", "intake", 1)]["status"] == "resolved"


def test_overrun_resolved_at_the_stage_end_with_its_overrun() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.start("intake", 2 * MIN, staff="op-4")
    finish = tk.finish("intake", 22 * MIN)
    running = alerts_at(tk, T0 + 20 * MIN, [e for e in tk.events if e is not finish])
    assert rel(running[("stage_overrun", "intake", 1)]) == (17, None, None)
    assert running[("stage_overrun", "intake", 1)]["status"] == "firing"
    assert rel(running[("stage_at_risk", "intake", 1)]) == (14, 17, None)
    done = alerts_at(tk, T0 + 22 * MIN)
    assert rel(done[("stage_overrun", "intake", 1)]) == (17, 22, 5 * MIN)
    assert done[("stage_overrun", "intake", 1)]["status"] == "resolved"


def test_overrun_of_a_finish_ahead_of_the_watermark_is_resolved_when_it_fires() -> None:
    # the finish (at 22) is already applied while the watermark is at 16: nothing is due yet
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 2 * MIN, 22 * MIN)
    tl, ev = evaluated(tk, T0 + 16 * MIN)
    assert [(a.kind, a.status, a.resolved_at) for a in ev.alerts] == [("stage_at_risk", "firing", None)]
    assert ev.next_deadline == T0 + 17 * MIN


def test_stage_never_finished_is_resolved_when_the_ticket_closes() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.start("intake", 2 * MIN, staff="op-2")
    tk.document(40 * MIN)
    tl, ev = evaluated(tk, LATER)
    got = {(a.kind, a.stage, a.attempt): alert_row(tl, a) for a in ev.alerts}
    assert rel(got[("stage_at_risk", "intake", 1)]) == (14, 17, None)
    assert rel(got[("stage_overrun", "intake", 1)]) == (17, 40, 23 * MIN)
    row = next(r for r in stage_rows(tl, ev) if r["stage"] == "intake")
    assert (row["finished_at"], row["duration_ms"], row["overrun_ms"], row["staff_id"]) == (
        T0 + 40 * MIN, 38 * MIN, 23 * MIN, "op-2")


def test_stage_never_finished_is_resolved_at_the_abandonment() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.start("intake", 2 * MIN)
    tl, ev = evaluated(tk, ABANDON_T0 - 1)
    assert ev.status == "open" and ev.next_deadline == ABANDON_T0
    assert {(a.kind, a.stage): a.status for a in ev.alerts} == {
        ("stage_at_risk", "intake"): "resolved", ("stage_overrun", "intake"): "firing",
        ("ticket_at_risk", ""): "resolved", ("ticket_overrun", ""): "firing"}
    assert all(r["finished_at"] is None for r in stage_rows(tl, ev) if r["stage"] == "intake")
    tl, ev = evaluated(tk, ABANDON_T0)
    assert ev.status == "abandoned"
    got = {(a.kind, a.stage): (a.resolved_at, a.overrun_ms) for a in ev.alerts}
    assert got == {
        ("stage_at_risk", "intake"): (T0 + 17 * MIN, None),
        ("stage_overrun", "intake"): (ABANDON_T0, 11 * HOUR - 17 * MIN),  # 16:00 − 05:02 − 15 min
        ("ticket_at_risk", ""): (T0 + 60 * MIN, None),
        ("ticket_overrun", ""): (ABANDON_T0, 10 * HOUR),  # total 11 h − 60 min
    }
    row = ticket_row(tl, ev, CFG, True)
    assert (row["status"], row["finished_at"], row["total_ms"], row["breached"]) == (
        "abandoned", ABANDON_T0, 11 * HOUR, 1)
    assert ev.cleanup_at == ABANDON_T0 + 60_000 + 600_000


def test_a_deadline_at_or_after_the_close_never_fires() -> None:
    # issued 19:30 local (14:30 UTC): abandoned at 16:00 UTC, 90 min later; the 120-min standard
    # of a driver's license would come after the close, so neither ticket alert exists
    t0 = utc_ms(2026, 3, 10, 14, 30)
    tk = Ticket("T1", "driver_license", t0=t0)
    tk.issue(0)
    tk.stage("intake", 1 * MIN, 5 * MIN)
    tl = build("T1", tk.events, CFG, ABANDON)
    ev = evaluate(tl, t0 + 10 * HOUR, CFG)
    assert ev.status == "abandoned" and tl.close_at == t0 + 90 * MIN
    assert [a.kind for a in ev.alerts if a.stage == ""] == []


# --- exam retakes ------------------------------------------------------------------------------

def test_exam_retake_has_its_own_limit_and_alerts() -> None:
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.stage("intake", 5 * MIN, 15 * MIN)
    tk.stage("theory_exam", 20 * MIN, 65 * MIN, staff="ex-1", result="failed")
    tk.stage("theory_exam", 70 * MIN, 115 * MIN, staff="ex-2", result="passed")
    got = alerts_at(tk, LATER)
    a1 = {k: v for k, v in got.items() if k[1] == "theory_exam" and k[2] == 1}
    a2 = {k: v for k, v in got.items() if k[1] == "theory_exam" and k[2] == 2}
    assert {k[0]: rel(v) for k, v in a1.items()} == {
        "stage_at_risk": (52, 60, None), "stage_overrun": (60, 65, 5 * MIN)}
    assert {k[0]: rel(v) for k, v in a2.items()} == {
        "stage_at_risk": (102, 110, None), "stage_overrun": (110, 115, 5 * MIN)}
    assert {v["staff_id"] for v in a1.values()} == {"ex-1"} and {v["staff_id"] for v in a2.values()} == {"ex-2"}
    assert {v["limit_ms"] for v in (*a1.values(), *a2.values())} == {40 * MIN}
    assert got[("stage_overrun", "theory_exam", 2)]["alert_id"] == sha("T1|stage_overrun|theory_exam|2")
    assert got[("stage_overrun", "theory_exam", 1)]["alert_id"] == sha("T1|stage_overrun|theory_exam|1")
    tl, ev = evaluated(tk, LATER)
    rows = {(r["stage"], r["attempt"]): r for r in stage_rows(tl, ev)}
    assert (rows[("theory_exam", 1)]["result"], rows[("theory_exam", 1)]["overrun_ms"]) == ("failed", 5 * MIN)
    assert (rows[("theory_exam", 2)]["result"], rows[("theory_exam", 2)]["started_at"]) == ("passed", T0 + 70 * MIN)


# --- alert_id ----------------------------------------------------------------------------------

def test_alert_id_is_the_sha256_prefix_of_ticket_kind_stage_attempt() -> None:
    assert alert_id("T-42", "stage_overrun", "intake", 1) == sha("T-42|stage_overrun|intake|1")
    assert alert_id("T-42", "ticket_at_risk", "", 0) == sha("T-42|ticket_at_risk||0")
    assert len(alert_id("x", "stage_at_risk", "queue", 1)) == 32
    assert alert_id("T-42", "stage_overrun", "intake", 1) == alert_id("T-42", "stage_overrun", "intake", 1)
    ids = {alert_id(t, k, s, a) for t in ("T1", "T2") for k in ("stage_at_risk", "stage_overrun")
           for s in ("intake", "plates") for a in (1, 2)}
    assert len(ids) == 16


def test_alert_ids_are_the_same_in_every_evaluation() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    first = alerts_at(tk, T0 + 2 * HOUR)
    again = alerts_at(tk, T0 + 3 * HOUR)
    assert {k: v["alert_id"] for k, v in first.items()} == {k: v["alert_id"] for k, v in again.items()}


# --- cause_stage and responsible of ticket alerts --------------------------------------------

def ticket_alert(tk: Ticket, kind: str = "ticket_at_risk") -> dict[str, Any]:
    return alerts_at(tk, LATER)[(kind, "", 0)]


def test_cause_is_the_largest_excess_at_detection() -> None:
    # driver_license at risk at 96: queue 40 (excess 10) beats intake 20 (excess 5) and theory 36 (none)
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.stage("intake", 40 * MIN, 60 * MIN, staff="op-1")
    tk.start("theory_exam", 60 * MIN, staff="ex-1")
    a = ticket_alert(tk)
    assert (a["cause_stage"], a["responsible"], a["staff_id"]) == ("queue", "con", "")


def test_cause_ties_go_to_the_earliest_segment() -> None:
    # at 96: intake [20, 40) and theory [40, 85) both exceed by exactly 5 min → intake (earlier)
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.stage("intake", 20 * MIN, 40 * MIN, staff="op-1")
    tk.stage("theory_exam", 40 * MIN, 85 * MIN, staff="ex-1", result="passed")
    tk.start("practical_exam", 85 * MIN, staff="ex-2")
    a = ticket_alert(tk)
    assert (a["cause_stage"], a["responsible"], a["staff_id"]) == ("intake", "con", "op-1")


def test_cause_ties_at_the_same_start_go_to_the_stage_before_the_wait() -> None:
    # vehicle_inspection [20, 55) 35 min (limit 30) and wait_production [20, 40) 20 min (limit 15)
    # start together and exceed by 5 min each: queue < stage < wait
    tk = Ticket("T1", "vehicle_reregistration")
    tk.issue(0)
    tk.stage("intake", 10 * MIN, 20 * MIN)
    tk.stage("vehicle_inspection", 20 * MIN, 55 * MIN, staff="insp-1")
    tk.stage("production", 40 * MIN, 60 * MIN, staff="pr-1")
    tl = build("T1", tk.events, CFG, ABANDON)
    c = cause_at(tl, T0 + 56 * MIN)
    assert (c.label, c.party, c.staff_id) == ("vehicle_inspection", "police", "insp-1")


def test_a_wait_can_be_the_cause_and_belongs_to_the_next_stages_party() -> None:
    # vehicle_registration at risk at 96: intake done at 20, inspection only at 60 → wait 40 min
    # against 15 (excess 25); the citizen waits for the police inspector
    tk = Ticket("T1", "vehicle_registration")
    tk.issue(0)
    tk.stage("intake", 5 * MIN, 20 * MIN, staff="op-1")
    tk.stage("vehicle_inspection", 60 * MIN, 80 * MIN, staff="insp-1")
    tk.start("production", 85 * MIN, staff="pr-1")
    a = ticket_alert(tk)
    assert (a["cause_stage"], a["responsible"], a["staff_id"]) == ("wait_vehicle_inspection", "police", "")


def test_wait_document_is_the_cause_for_the_last_stages_party() -> None:
    # driver_license: production done at 50, document at 110; at 96 the trailing wait has run
    # 46 min against 15 (excess 31); the citizen waits for the police who made the license
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.stage("intake", 2 * MIN, 5 * MIN)
    tk.stage("theory_exam", 5 * MIN, 20 * MIN, result="passed")
    tk.stage("practical_exam", 20 * MIN, 40 * MIN, result="passed")
    tk.stage("production", 40 * MIN, 50 * MIN, staff="pr-1")
    tk.document(110 * MIN)
    a = ticket_alert(tk)
    assert (a["cause_stage"], a["responsible"], a["staff_id"]) == ("wait_document", "police", "")
    tl, ev = evaluated(tk, LATER)
    assert ticket_row(tl, ev, CFG, True)["wait_document_ms"] == 60 * MIN


def test_without_excess_the_cause_is_the_segment_in_progress() -> None:
    # license_exchange at risk at 48: queue 25, intake 14, wait 1, production running since 40
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 25 * MIN, 39 * MIN, staff="op-1")
    tk.start("production", 40 * MIN, staff="pr-7")
    a = ticket_alert(tk)
    assert (a["cause_stage"], a["responsible"], a["staff_id"]) == ("production", "police", "pr-7")


def test_without_excess_a_wait_in_progress_is_the_cause() -> None:
    # at 48 the citizen has waited 9 min for production (started only at 50)
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 25 * MIN, 39 * MIN, staff="op-1")
    tk.start("production", 50 * MIN, staff="pr-7")
    a = ticket_alert(tk)
    assert (a["cause_stage"], a["responsible"], a["staff_id"]) == ("wait_production", "police", "")


def test_several_segments_in_progress_the_latest_started_is_the_cause() -> None:
    tk = Ticket("T1", "vehicle_reregistration")
    tk.issue(0)
    tk.stage("intake", 10 * MIN, 20 * MIN)
    tk.start("vehicle_inspection", 20 * MIN, staff="insp-1")
    tk.start("production", 30 * MIN, staff="pr-1")
    tl = build("T1", tk.events, CFG, ABANDON)
    c = cause_at(tl, T0 + 40 * MIN)
    assert (c.label, c.party, c.staff_id) == ("production", "police", "pr-1")
    c = cause_at(tl, T0 + 5 * MIN)
    assert (c.label, c.party) == ("queue", "con")


def test_cause_is_measured_at_detection_not_at_the_end() -> None:
    # at 96: queue 40 (excess 10), theory running since 55 → 41 min (excess 1): the queue.
    # The theory exam then runs to 150 (excess 55) — after detection, so it changes nothing.
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.stage("intake", 40 * MIN, 55 * MIN)
    tk.stage("theory_exam", 55 * MIN, 150 * MIN, staff="ex-1", result="passed")
    got = alerts_at(tk, LATER)
    assert got[("ticket_at_risk", "", 0)]["cause_stage"] == "queue"
    # at 120 the theory exam has run 65 min (excess 25) > queue's 10
    assert (got[("ticket_overrun", "", 0)]["cause_stage"], got[("ticket_overrun", "", 0)]["staff_id"]) == (
        "theory_exam", "ex-1")


def _intake_then_long_wait() -> Ticket:
    # license_exchange: intake (con) done at 5; nothing else happens until 55
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 2 * MIN, 5 * MIN, staff="op-1")
    return tk


def test_cause_at_detection_of_an_open_trailing_wait() -> None:
    # at 48 the citizen has waited 43 min (limit 15) for production, the route's next stage (police)
    at_detection = alerts_at(_intake_then_long_wait(), T0 + 48 * MIN)[("ticket_at_risk", "", 0)]
    assert (at_detection["cause_stage"], at_detection["responsible"], at_detection["status"]) == (
        "wait_production", "police", "firing")


def test_cause_is_frozen_at_detection_even_when_the_close_relabels_the_wait() -> None:
    # The document, issued at 55 without a production stage, comes after detection (48) and must not
    # change the cause found then (test_cause_at_detection_of_an_open_trailing_wait).
    tk = _intake_then_long_wait()
    tk.document(55 * MIN)
    final = alerts_at(tk, LATER)[("ticket_at_risk", "", 0)]
    assert (final["detected_at"], final["resolved_at"]) == (T0 + 48 * MIN, T0 + 55 * MIN)
    assert (final["cause_stage"], final["responsible"]) == ("wait_production", "police")


def test_ticket_row_takes_cause_from_ticket_overrun() -> None:
    # driver_license with a failed theory exam and a retake, completed at 185 min
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.stage("intake", 12 * MIN, 20 * MIN, staff="op-1")
    tk.stage("theory_exam", 25 * MIN, 70 * MIN, staff="ex-1", result="failed")
    tk.stage("theory_exam", 80 * MIN, 110 * MIN, staff="ex-2", result="passed")
    tk.stage("practical_exam", 112 * MIN, 140 * MIN, staff="ex-3", result="passed")
    tk.stage("production", 150 * MIN, 175 * MIN, staff="pr-1")
    tk.document(185 * MIN)
    tk.rate(186 * MIN, 4, staff="ex-3")
    tk.rate(187 * MIN, 5, staff="pr-1")
    tl, ev = evaluated(tk, LATER)
    got = {(a.kind, a.stage, a.attempt): alert_row(tl, a) for a in ev.alerts}
    assert {k: rel(v) + (v["cause_stage"], v["responsible"], v["staff_id"]) for k, v in got.items()} == {
        ("stage_at_risk", "theory_exam", 1): (57, 65, None, "theory_exam", "police", "ex-1"),
        ("stage_overrun", "theory_exam", 1): (65, 70, 5 * MIN, "theory_exam", "police", "ex-1"),
        ("stage_at_risk", "production", 1): (174, 175, None, "production", "police", "pr-1"),
        # at 96 and at 120 the only excess is the failed attempt's 5 min
        ("ticket_at_risk", "", 0): (96, 120, None, "theory_exam", "police", "ex-1"),
        ("ticket_overrun", "", 0): (120, 185, 65 * MIN, "theory_exam", "police", "ex-1"),
    }
    row = ticket_row(tl, ev, CFG, True)
    assert row == {
        "ticket_id": "T1", "branch_id": BRANCH, "known_branch": 1, "service": "driver_license",
        "issued_at": T0, "finished_at": T0 + 185 * MIN, "status": "completed", "total_ms": 185 * MIN,
        "queue_ms": 12 * MIN, "intake_ms": 8 * MIN, "theory_exam_ms": 75 * MIN, "practical_exam_ms": 28 * MIN,
        "vehicle_inspection_ms": None, "production_ms": 25 * MIN, "plates_ms": None,
        "wait_intake_ms": 0, "wait_theory_exam_ms": 15 * MIN, "wait_practical_exam_ms": 2 * MIN,
        "wait_vehicle_inspection_ms": None, "wait_production_ms": 10 * MIN, "wait_plates_ms": None,
        "wait_document_ms": 10 * MIN,
        "breached": 1, "cause_stage": "theory_exam", "responsible": "police", "rating": 5,
    }
    stages = {(r["stage"], r["attempt"]): (r["duration_ms"], r["overrun_ms"], r["responsible"]) for r in
              stage_rows(tl, ev)}
    assert stages == {
        ("queue", 1): (12 * MIN, 0, "con"), ("intake", 1): (8 * MIN, 0, "con"),
        ("theory_exam", 1): (45 * MIN, 5 * MIN, "police"), ("theory_exam", 2): (30 * MIN, 0, "police"),
        ("practical_exam", 1): (28 * MIN, 0, "police"), ("production", 1): (25 * MIN, 0, "police"),
    }


def test_open_ticket_row() -> None:
    tk = Ticket("T1", "license_exchange", branch="no-such-branch")
    tk.issue(0)
    tk.stage("intake", 10 * MIN, 20 * MIN)
    tk.start("production", 25 * MIN)
    tl, ev = evaluated(tk, T0 + 26 * MIN)
    row = ticket_row(tl, ev, CFG, False)
    assert (row["status"], row["finished_at"], row["total_ms"], row["known_branch"]) == ("open", None, None, 0)
    assert (row["queue_ms"], row["intake_ms"], row["wait_production_ms"], row["production_ms"]) == (
        10 * MIN, 10 * MIN, 5 * MIN, None)
    assert (row["breached"], row["cause_stage"], row["rating"]) == (0, "", None)
    prod = next(r for r in stage_rows(tl, ev) if r["stage"] == "production")
    assert (prod["finished_at"], prod["duration_ms"], prod["overrun_ms"]) == (None, None, None)
    # pending: the ticket's at-risk at 48, production's at-risk at 25 + 24 = 49, … → 48
    assert ev.next_deadline == T0 + 48 * MIN


def test_next_deadline_after_close_is_the_cleanup() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 1 * MIN, 2 * MIN)
    tk.cancel(10 * MIN)
    tl, ev = evaluated(tk, T0 + 10 * MIN)
    assert ev.status == "cancelled"
    assert ev.cleanup_at == T0 + 10 * MIN + 60_000 + 600_000
    assert ev.next_deadline == ev.cleanup_at
