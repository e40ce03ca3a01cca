"""The truth evaluator against hand-checked timelines (docs/semantics.md, rule by rule).

Every case is a small event list at spec-almaty on Tuesday 2026-11-24 (open 08:30-20:00 local,
+05:00), with the shipped SLA file: queue 30 min, intake 15, theory 40, practical 45, production 30,
waits 15, warning at 0.8, grace 60 min. Times in the cases are minutes after 10:00 local.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from jobs.sla import config as sla_config
from schemas.catalog import load_catalog
from simulators import rows as R
from simulators.events import from_wire
from simulators.truth import BadLine, evaluate_ticket, judge_delivery, minute_rows

CFG = sla_config.load()
CATALOG = load_catalog()
BRANCH = "spec-almaty"
T10 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone(timedelta(hours=5)))


def ts_text(minute: float) -> str:
    t = T10 + timedelta(minutes=minute)
    return t.isoformat(timespec="milliseconds")


def iso(minute: float) -> str:
    return R.iso(int((T10 + timedelta(minutes=minute)).timestamp() * 1000))


class Ticket:
    """Builds one ticket's events: t.issued(0, 'driver_license'); t.stage('intake', 2, 10, staff=...)."""

    def __init__(self, ticket_id: str = "T1") -> None:
        self.ticket_id = ticket_id
        self.events = []

    def add(self, type_: str, minute: float, **fields):
        obj = {"event_id": f"{self.ticket_id}-{len(self.events):02d}", "type": type_, "ts": ts_text(minute),
               "branch_id": BRANCH, "ticket_id": self.ticket_id, **fields}
        self.events.append(from_wire(obj))
        return self

    def issued(self, minute: float, service: str):
        return self.add("ticket_issued", minute, service=service)

    def stage(self, stage: str, start: float, end: float | None = None, staff: str | None = None,
              result: str | None = None):
        self.add("stage_started", start, stage=stage, **({"staff_id": staff} if staff else {}))
        if end is not None:
            self.add("stage_finished", end, stage=stage, **({"result": result} if result else {}))
        return self

    def document(self, minute: float):
        return self.add("document_issued", minute)

    def cancel(self, minute: float, reason: str = "citizen_request"):
        return self.add("ticket_cancelled", minute, reason=reason)

    def rating(self, minute: float, staff: str, value: int):
        return self.add("rating_submitted", minute, staff_id=staff, rating=value)

    def evaluate(self):
        return evaluate_ticket(self.ticket_id, self.events, CFG, CATALOG)


def alerts_by(truth) -> dict:
    return {(a["kind"], a["stage"], a["attempt"]): a for a in truth.alerts}


def test_queue_of_25_min_is_at_risk_at_24_and_never_overruns():
    t = (Ticket().issued(0, "license_exchange").stage("intake", 25, 33, staff="spec-almaty-op-03")
         .stage("production", 34, 44, staff="spec-almaty-pd-01").document(46)).evaluate()
    assert t.alerts == [{
        "alert_id": R.alert_id("T1", "stage_at_risk", "queue", 1), "kind": "stage_at_risk", "status": "resolved",
        "severity": "warning", "attempt": 1, "ticket_id": "T1", "branch_id": BRANCH, "service": "license_exchange",
        "stage": "queue", "cause_stage": "queue", "responsible": "con", "staff_id": "", "limit_s": 1800.0,
        "started_at": iso(0), "detected_at": iso(24), "resolved_at": iso(25), "overrun_s": None,
    }]
    row = t.ticket
    assert row["status"] == "completed" and row["finished_at"] == iso(46) and row["total_s"] == 2760.0
    assert (row["queue_s"], row["intake_s"], row["production_s"]) == (1500.0, 480.0, 600.0)
    assert (row["wait_intake_s"], row["wait_production_s"], row["wait_document_s"]) == (0.0, 60.0, 120.0)
    assert row["theory_exam_s"] is None and row["wait_theory_exam_s"] is None
    assert (row["breached"], row["cause_stage"], row["responsible"], row["rating"]) == (0, "", "", None)
    assert row["known_branch"] == 1 and row["issued_at"] == iso(0)
    assert [(s["stage"], s["attempt"], s["overrun_s"]) for s in t.stages] == [
        ("queue", 1, 0.0), ("intake", 1, 0.0), ("production", 1, 0.0)]


def test_theory_exam_of_41_min_warns_at_32_overruns_at_40_and_resolves_with_60_s():
    t = (Ticket().issued(0, "driver_license").stage("intake", 2, 10, staff="spec-almaty-op-01")
         .stage("theory_exam", 12, 53, staff="spec-almaty-ex-02", result="passed")
         .stage("practical_exam", 55, 75, staff="spec-almaty-ex-05", result="passed")
         .stage("production", 77, 87).document(90)).evaluate()
    a = alerts_by(t)
    assert set(a) == {("stage_at_risk", "theory_exam", 1), ("stage_overrun", "theory_exam", 1)}
    risk, over = a["stage_at_risk", "theory_exam", 1], a["stage_overrun", "theory_exam", 1]
    assert (risk["detected_at"], risk["resolved_at"], risk["overrun_s"]) == (iso(44), iso(52), None)
    assert (over["detected_at"], over["resolved_at"], over["overrun_s"]) == (iso(52), iso(53), 60.0)
    for alert in (risk, over):
        assert alert["responsible"] == "police" and alert["staff_id"] == "spec-almaty-ex-02"
        assert alert["limit_s"] == 2400.0 and alert["started_at"] == iso(12) and alert["status"] == "resolved"
    assert over["severity"] == "critical" and risk["severity"] == "warning"
    stages = {(s["stage"], s["attempt"]): s for s in t.stages}
    theory = stages["theory_exam", 1]
    assert theory == {"ticket_id": "T1", "branch_id": BRANCH, "stage": "theory_exam", "attempt": 1,
                      "result": "passed", "responsible": "police", "staff_id": "spec-almaty-ex-02",
                      "started_at": iso(12), "finished_at": iso(53), "duration_s": 2460.0, "limit_s": 2400.0,
                      "overrun_s": 60.0}
    assert stages["queue", 1]["overrun_s"] == 0.0 and stages["queue", 1]["finished_at"] == iso(2)
    assert t.ticket["breached"] == 0  # 90 min: not even at risk (96)


def test_driver_license_of_2h05_cause_is_the_largest_excess_frozen_at_each_deadline():
    # queue 40 min (excess 10); wait for the practical exam 73 -> 103 (excess 15 once it is over 25 min).
    t = (Ticket().issued(0, "driver_license").stage("intake", 40, 48, staff="spec-almaty-op-07")
         .stage("theory_exam", 48, 73, staff="spec-almaty-ex-01", result="passed")
         .stage("practical_exam", 103, 118, staff="spec-almaty-ex-04", result="passed")
         .stage("production", 120, 122).document(125)).evaluate()
    a = alerts_by(t)
    risk, over = a["ticket_at_risk", "", 0], a["ticket_overrun", "", 0]
    # at 96 the wait for the practical exam has run 23 min (excess 8): the queue's 10 still wins
    assert (risk["detected_at"], risk["cause_stage"], risk["responsible"]) == (iso(96), "queue", "con")
    assert risk["resolved_at"] == iso(120) and risk["overrun_s"] is None and risk["staff_id"] == ""
    # at 120 the wait is over at 30 min (excess 15)
    assert (over["detected_at"], over["cause_stage"], over["responsible"]) == (
        iso(120), "wait_practical_exam", "police")
    assert (over["resolved_at"], over["overrun_s"], over["limit_s"]) == (iso(125), 300.0, 7200.0)
    assert (over["stage"], over["attempt"], over["started_at"]) == ("", 0, iso(0))
    assert t.ticket["breached"] == 1 and t.ticket["total_s"] == 7500.0
    assert (t.ticket["cause_stage"], t.ticket["responsible"]) == ("wait_practical_exam", "police")
    assert t.ticket["wait_practical_exam_s"] == 1800.0
    q_over = a["stage_overrun", "queue", 1]
    assert (q_over["detected_at"], q_over["resolved_at"], q_over["overrun_s"]) == (iso(30), iso(40), 600.0)
    assert len(t.alerts) == 4
    breaches = [(f[1], f[3]) for f in t.facts if f[2] == "breach"]
    assert sorted(breaches) == sorted([(int((T10 + timedelta(minutes=30)).timestamp() * 1000), "con"),
                                       (int((T10 + timedelta(minutes=120)).timestamp() * 1000), "police")])


def test_cause_is_the_stage_in_progress_when_nothing_is_over_its_limit():
    t = (Ticket().issued(0, "license_exchange").stage("intake", 10, 24, staff="spec-almaty-op-02")
         .stage("production", 25, 54, staff="spec-almaty-pd-03").document(62)).evaluate()
    a = alerts_by(t)
    risk, over = a["ticket_at_risk", "", 0], a["ticket_overrun", "", 0]
    assert (risk["detected_at"], risk["cause_stage"], risk["responsible"], risk["staff_id"]) == (
        iso(48), "production", "police", "spec-almaty-pd-03")
    # at 60 production has ended (29 min, within 30) and the wait for the document (6 min) is running
    assert (over["detected_at"], over["cause_stage"], over["responsible"]) == (iso(60), "wait_document", "police")
    assert over["overrun_s"] == 120.0


def test_waits_belong_to_the_next_stages_party_and_the_trailing_wait_to_where_the_ticket_was_going():
    # documents incomplete: cancelled after intake -> the trailing wait is the wait for the theory exam
    t = Ticket().issued(0, "driver_license").stage("intake", 3, 12).cancel(14, "documents_incomplete").evaluate()
    assert t.ticket["status"] == "cancelled" and t.ticket["wait_theory_exam_s"] == 120.0
    assert t.ticket["wait_document_s"] is None
    # a failed theory exam then a cancellation: the citizen was waiting for the same exam again
    t = (Ticket().issued(0, "driver_license").stage("intake", 3, 12).stage("theory_exam", 15, 40, result="failed")
         .cancel(43)).evaluate()
    assert t.ticket["wait_theory_exam_s"] == 180.0 + 180.0  # before attempt 1, then the trailing wait
    # completed after the last route stage: wait_document, party of that stage
    t = (Ticket().issued(0, "plates_issue").stage("intake", 2, 8).stage("plates", 30, 36).document(40)).evaluate()
    assert (t.ticket["wait_plates_s"], t.ticket["wait_document_s"]) == (1320.0, 240.0)


def test_wait_for_a_police_stage_is_blamed_on_the_police():
    t = (Ticket().issued(0, "vehicle_registration").stage("intake", 2, 12)
         .stage("vehicle_inspection", 50, 65).stage("production", 67, 80).stage("plates", 82, 90).document(125)
         ).evaluate()
    over = alerts_by(t)["ticket_overrun", "", 0]
    # wait_vehicle_inspection 38 min (excess 23) beats the wait for the document, 30 min at D (excess 15)
    assert (over["cause_stage"], over["responsible"]) == ("wait_vehicle_inspection", "police")


def test_abandoned_ticket_closes_at_branch_closing_plus_grace():
    # issued 18:30 local, never called; spec-almaty closes 20:00 on Tuesdays -> closed at 21:00
    t = Ticket().issued(8 * 60 + 30, "license_exchange").evaluate()
    row = t.ticket
    assert row["status"] == "abandoned" and row["finished_at"] == iso(11 * 60)
    assert row["total_s"] == 9000.0 and row["queue_s"] == 9000.0
    assert [(s["stage"], s["attempt"], s["finished_at"]) for s in t.stages] == [("queue", 1, iso(11 * 60))]
    a = alerts_by(t)
    assert set(a) == {("stage_at_risk", "queue", 1), ("stage_overrun", "queue", 1),
                      ("ticket_at_risk", "", 0), ("ticket_overrun", "", 0)}
    over = a["ticket_overrun", "", 0]
    assert (over["cause_stage"], over["responsible"], over["detected_at"]) == ("queue", "con", iso(9 * 60 + 30))
    assert over["resolved_at"] == iso(11 * 60) and over["overrun_s"] == 5400.0
    # no queue-wait fact: the queue was not ended by a stage start
    assert not [f for f in t.facts if f[2] == "queue"]


def test_unfinished_attempt_ends_at_the_close_and_open_alerts_resolve_then():
    t = Ticket().issued(9 * 60, "driver_license").stage("intake", 9 * 60 + 5, 9 * 60 + 15).stage(
        "theory_exam", 9 * 60 + 20, staff="spec-almaty-ex-03").evaluate()
    close = iso(11 * 60)
    theory = [s for s in t.stages if s["stage"] == "theory_exam"][0]
    assert theory["finished_at"] == close and theory["result"] == "" and theory["duration_s"] == 100 * 60.0
    over = alerts_by(t)["stage_overrun", "theory_exam", 1]
    assert over["resolved_at"] == close and over["overrun_s"] == 60 * 60.0
    assert t.ticket["wait_theory_exam_s"] == 300.0 and t.ticket["wait_practical_exam_s"] is None


def test_retake_is_attempt_2_with_its_own_wait_and_limit():
    t = (Ticket().issued(0, "driver_license").stage("intake", 1, 9)
         .stage("theory_exam", 10, 35, staff="e1", result="failed")
         .stage("theory_exam", 45, 70, staff="e2", result="passed")
         .stage("practical_exam", 72, 92, result="passed").stage("production", 94, 104).document(106)).evaluate()
    stages = {(s["stage"], s["attempt"]): s for s in t.stages}
    assert stages["theory_exam", 1]["result"] == "failed" and stages["theory_exam", 2]["staff_id"] == "e2"
    assert stages["theory_exam", 2]["started_at"] == iso(45)
    assert t.ticket["theory_exam_s"] == 50 * 60.0 and t.ticket["wait_theory_exam_s"] == 10 * 60.0 + 60.0
    risk = alerts_by(t)["ticket_at_risk", "", 0]
    assert risk["detected_at"] == iso(96) and risk["cause_stage"] == "production"


def test_ignored_events_are_counted_and_ratings_after_close_still_apply():
    tk = (Ticket().issued(0, "license_exchange").add("stage_finished", 1, stage="plates")  # no start
          .stage("intake", 2, 9).stage("production", 10, 20).document(22)
          .add("ticket_issued", 23, service="license_exchange")  # a second issue
          .add("stage_started", 24, stage="production")  # after close
          .cancel(25)  # a second terminal
          .rating(27, "spec-almaty-op-01", 4))
    t = tk.evaluate()
    assert t.ignored == 4
    assert t.ticket["status"] == "completed" and t.ticket["rating"] == 4 and t.ticket["finished_at"] == iso(22)
    assert [(s["stage"], s["attempt"]) for s in t.stages] == [("queue", 1), ("intake", 1), ("production", 1)]
    assert [f[3] for f in t.facts if f[2] == "rating"] == [4]


def test_service_mismatch_is_split_off_and_not_applied():
    tk = Ticket().issued(0, "license_exchange").stage("intake", 2, 9).stage("production", 10, 20).document(22)
    tk.add("stage_started", 11, stage="production", service="plates_issue")
    tk.add("document_issued", 12, service="driver_license")
    t = tk.evaluate()
    assert [e.service for e in t.mismatched] == ["plates_issue", "driver_license"]
    assert t.ticket["finished_at"] == iso(22) and t.ticket["production_s"] == 600.0


def test_result_does_not_depend_on_arrival_order():
    tk = (Ticket().issued(0, "driver_license").stage("intake", 40, 48).stage("theory_exam", 48, 73, result="failed")
          .stage("theory_exam", 80, 105, result="passed").stage("practical_exam", 110, 130, result="passed")
          .stage("production", 131, 140).document(141).rating(145, "x", 2))
    want = tk.evaluate()
    rng = random.Random(3)
    for _ in range(5):
        rng.shuffle(tk.events)
        got = tk.evaluate()
        assert (got.ticket, got.stages, got.alerts, sorted(got.facts)) == (
            want.ticket, want.stages, want.alerts, sorted(want.facts))


def test_same_instant_finish_applies_before_start_and_events_before_timers():
    # intake finishes and production starts on the same millisecond: wait 0, not an overlap;
    # a stage that lasts exactly its limit does not overrun (events at t apply before timers at t)
    t = (Ticket().issued(0, "license_exchange").stage("intake", 1, 16).stage("production", 16, 46).document(46)
         ).evaluate()
    assert t.ticket["wait_production_s"] == 0.0 and t.ticket["wait_document_s"] == 0.0
    kinds = {(a["kind"], a["stage"]) for a in t.alerts}
    assert ("stage_overrun", "intake") not in kinds and ("stage_overrun", "production") not in kinds
    assert ("stage_at_risk", "intake") in kinds and ("stage_at_risk", "production") in kinds


def test_branch_minute_rows():
    a = (Ticket("A").issued(0, "driver_license").stage("intake", 0.5, 9).stage("theory_exam", 10, 30, result="passed")
         .stage("practical_exam", 31, 50, result="passed").stage("production", 51, 60).document(61.2)
         .rating(66, "p", 5))
    b = Ticket("B").issued(0.7, "plates_issue").stage("intake", 40, 45).stage("plates", 46, 50).document(61.9)
    c = Ticket("C").issued(1, "license_exchange").stage("intake", 2, 3).cancel(61.5)
    facts = [f for t in (a, b, c) for f in t.evaluate().facts]
    rows = {r["window_start"]: r for r in minute_rows(facts, CFG)}
    m0, m61 = rows[iso(0)], rows[iso(61)]
    assert (m0["tickets_issued"], m0["tickets_issued_driver_license"], m0["tickets_issued_plates_issue"]) == (2, 1, 1)
    assert (m0["queue_wait_count"], m0["queue_wait_sum_s"], m0["queue_wait_max_s"]) == (1, 30.0, 30.0)
    assert (m61["documents_issued"], m61["licenses_issued"], m61["plates_issued"], m61["registrations"]) == (2, 1, 1, 0)
    assert (m61["tickets_cancelled"], m61["tickets_cancelled_license_exchange"]) == (1, 1)
    assert rows[iso(40)]["queue_wait_max_s"] == 2358.0
    assert rows[iso(30)]["breaches_con"] == 1  # B's queue overran at 0.7 + 30
    assert (rows[iso(66)]["ratings_count"], rows[iso(66)]["ratings_sum"]) == (1, 5)
    assert all(set(r) == set(R.MINUTE_COLUMNS) for r in rows.values())


def _line_events(specs):
    """(event_id, minute) pairs -> SimEvents of one ticket, delivered in the given order."""
    out = []
    for eid, minute in specs:
        obj = {"event_id": eid, "type": "rating_submitted", "ts": ts_text(minute), "branch_id": BRANCH,
               "ticket_id": "T", "staff_id": "s", "rating": 3}
        out.append(from_wire(obj, line=str(obj)))
    return out


def test_judge_classifies_against_the_highest_ts_delivered_before():
    seq = _line_events([("a", 100), ("b", 99.5), ("c", 98.9), ("d", 89.1), ("e", 88.9), ("a", 0)])
    seq.insert(2, BadLine("{", "invalid_json"))
    j = judge_delivery(seq, CFG)
    # M = 100: b (30 s older) on time; c (66 s) late; d (10.9 min) late; e (11.1 min) too late; a again: duplicate
    assert j.out_of_order == [2] and j.late == [4, 5] and j.too_late == [6] and j.duplicates == [7]
    assert j.dead_letters == {"invalid_json": 1} and j.lines == 7 and j.events_valid == 6
    assert [e.event_id for e in j.applied] == ["a", "b", "c", "d"]
    # of two copies the earliest ts counts (the duplicate at minute 0 replaces the first copy)
    assert j.applied[0].ts == int(T10.timestamp() * 1000)


def test_ticket_issued_when_the_branch_is_closed_that_weekday_uses_the_horizon():
    sunday = T10 + timedelta(days=5)  # 2026-11-29: spec-almaty is closed on Sundays
    obj = {"event_id": "x", "type": "ticket_issued", "ts": sunday.isoformat(timespec="milliseconds"),
           "branch_id": BRANCH, "ticket_id": "S", "service": "license_exchange"}
    row = evaluate_ticket("S", [from_wire(obj)], CFG, CATALOG).ticket
    assert row["status"] == "abandoned" and row["total_s"] == CFG.abandon_horizon_ms / 1000


def test_without_ticket_issued_the_first_event_anchors_the_close_and_there_is_no_queue():
    tk = Ticket().add("stage_started", 8 * 60 + 30, stage="intake", service="plates_issue")
    t = tk.evaluate()
    row = t.ticket
    assert (row["service"], row["issued_at"], row["total_s"], row["queue_s"]) == ("plates_issue", None, None, None)
    assert row["finished_at"] == iso(11 * 60) and row["intake_s"] == 9000.0 and row["breached"] == 0
    assert [a["kind"] for a in t.alerts] == ["stage_at_risk", "stage_overrun"]


def test_unknown_branch_uses_the_horizon_and_is_flagged():
    obj = {"event_id": "x", "type": "ticket_issued", "ts": ts_text(0), "branch_id": "nowhere-1", "ticket_id": "U",
           "service": "plates_issue"}
    t = evaluate_ticket("U", [from_wire(obj)], CFG, CATALOG)
    assert t.ticket["known_branch"] == 0 and t.ticket["total_s"] == CFG.abandon_horizon_ms / 1000
