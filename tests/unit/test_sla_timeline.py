"""A ticket's timeline (jobs/sla/timeline.py `build`) and its abandonment instant (jobs/sla/closing.py).

DESIGN §4 "Segments", "Order within a ticket", "Closing", and docs/semantics.md "Events of one
ticket" / "Segments", one sentence at a time. Every expected instant is written out by hand.
"""

from __future__ import annotations

import random
from typing import Optional

import pytest

from jobs.sla.closing import abandonment
from jobs.sla.timeline import Segment, Timeline, build, next_stage
from jobs.sla.ticket import make_event

from tests.unit.sla_helpers import BRANCH, CATALOG, CFG, HOUR, MIN, T0, Ticket, utc_ms

ABANDON = abandonment(CATALOG, CFG)
# spec-astana, Tuesday 2026-03-10: closes 20:00 local = 15:00 UTC; + 60 min grace.
ABANDON_T0 = utc_ms(2026, 3, 10, 16, 0)


def tl_of(tk: Ticket, events: Optional[list] = None) -> Timeline:
    return build(tk.ticket_id, list(tk.events if events is None else events), CFG, ABANDON)


def seg(s: Segment, base: int = T0) -> tuple:
    """A segment as (label, party, limit min, start min, end min, attempt) relative to `base`."""
    end = None if s.end is None else (s.end - base) / MIN
    return (s.label, s.party, s.limit_ms / MIN, (s.start - base) / MIN, end, s.attempt)


def full_driver_license() -> Ticket:
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.stage("intake", 10 * MIN, 20 * MIN, staff="op-1")
    tk.stage("theory_exam", 30 * MIN, 60 * MIN, staff="ex-1", result="passed")
    tk.stage("practical_exam", 65 * MIN, 90 * MIN, staff="ex-2", result="passed")
    tk.stage("production", 95 * MIN, 110 * MIN, staff="pr-1")
    tk.document(115 * MIN)
    return tk


# --- segments ---------------------------------------------------------------------------------

def test_segments_of_a_completed_driver_license() -> None:
    tl = tl_of(full_driver_license())
    assert (tl.service, tl.branch_id, tl.issued_at) == ("driver_license", BRANCH, T0)
    assert (tl.close_kind, tl.close_at) == ("completed", T0 + 115 * MIN)
    assert tl.queue_called_at == T0 + 10 * MIN
    assert seg(tl.queue) == ("queue", "con", 30, 0, 10, 1)
    assert tl.queue.finished
    assert [seg(a) for a in tl.attempts] == [
        ("intake", "con", 15, 10, 20, 1),
        ("theory_exam", "police", 40, 30, 60, 1),
        ("practical_exam", "police", 45, 65, 90, 1),
        ("production", "police", 30, 95, 110, 1),
    ]
    assert [(a.staff_id, a.result, a.finished) for a in tl.attempts] == [
        ("op-1", "", True), ("ex-1", "passed", True), ("ex-2", "passed", True), ("pr-1", "", True)]
    # waits: before each attempt (party and wait limit of the next stage), then wait_document
    assert [seg(w) for w in tl.waits] == [
        ("wait_intake", "con", 15, 10, 10, 1),  # the first stage's wait is 0 s
        ("wait_theory_exam", "police", 15, 20, 30, 1),
        ("wait_practical_exam", "police", 15, 60, 65, 1),
        ("wait_production", "police", 15, 90, 95, 1),
        ("wait_document", "police", 15, 110, 115, 0),  # the last stage's party
    ]
    assert tl.ignored == 0
    assert tl.closed_by(T0)  # a document close is known as soon as it is applied


def test_timeline_is_a_function_of_the_event_set() -> None:
    tk = full_driver_license()
    tk.rate(116 * MIN, 4, staff="ex-2")
    ref = tl_of(tk)
    rnd = random.Random(7)
    for _ in range(20):
        shuffled = list(tk.events)
        rnd.shuffle(shuffled)
        assert tl_of(tk, shuffled) == ref


def test_queue_counts_from_ticket_issued_to_the_first_stage_started() -> None:
    tk = Ticket("T1", "plates_issue")
    tk.issue(0)
    tk.start("plates", 7 * MIN)  # off-order: the first stage started ends the queue, whatever it is
    tk.start("intake", 9 * MIN)
    tl = tl_of(tk)
    assert seg(tl.queue) == ("queue", "con", 30, 0, 7, 1)
    assert tl.queue_called_at == T0 + 7 * MIN


def test_queue_never_called_ends_at_close() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.cancel(50 * MIN)
    tl = tl_of(tk)
    assert seg(tl.queue) == ("queue", "con", 30, 0, 50, 1)
    assert not tl.queue.finished
    assert tl.queue_called_at is None
    assert tl.attempts == [] and tl.waits == []


def test_open_queue_runs_to_the_future_abandonment() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tl = tl_of(tk)
    assert (tl.close_kind, tl.close_at) == ("abandoned", ABANDON_T0)
    assert tl.queue.end == ABANDON_T0 and not tl.queue.finished
    assert not tl.closed_by(ABANDON_T0 - 1)
    assert tl.closed_by(ABANDON_T0)


def test_exam_retake_is_attempt_2_with_its_own_limit() -> None:
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.stage("intake", 5 * MIN, 15 * MIN)
    tk.stage("theory_exam", 20 * MIN, 50 * MIN, staff="ex-1", result="failed")
    tk.stage("theory_exam", 70 * MIN, 100 * MIN, staff="ex-3", result="passed")
    tl = tl_of(tk)
    theory = [a for a in tl.attempts if a.stage == "theory_exam"]
    assert [seg(a) for a in theory] == [
        ("theory_exam", "police", 40, 20, 50, 1),
        ("theory_exam", "police", 40, 70, 100, 2),
    ]
    assert [(a.result, a.staff_id) for a in theory] == [("failed", "ex-1"), ("passed", "ex-3")]
    waits = [seg(w) for w in tl.waits if w.stage == "theory_exam"]
    assert waits == [("wait_theory_exam", "police", 15, 15, 20, 1), ("wait_theory_exam", "police", 15, 50, 70, 2)]


def test_attempt_number_follows_event_time_not_arrival() -> None:
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    late_start = tk.start("theory_exam", 60 * MIN, staff="second")
    tk.finish("theory_exam", 70 * MIN)
    early_start = tk.start("theory_exam", 20 * MIN, staff="first")
    tk.finish("theory_exam", 50 * MIN, result="failed")
    tl = tl_of(tk)
    assert [(a.attempt, a.staff_id, (a.start - T0) // MIN) for a in tl.attempts] == [
        (1, "first", 20), (2, "second", 60)]
    assert late_start.ts > early_start.ts


def test_stage_finished_closes_the_latest_open_attempt() -> None:
    # two starts of the same exam with no finish in between: the finish closes attempt 2
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.start("theory_exam", 10 * MIN)
    tk.start("theory_exam", 20 * MIN)
    tk.finish("theory_exam", 30 * MIN)
    tk.document(40 * MIN)
    tl = tl_of(tk)
    a1, a2 = tl.attempts
    assert (a1.attempt, a1.finished, a1.end) == (1, False, T0 + 40 * MIN)  # never finished: ends at close
    assert (a2.attempt, a2.finished, a2.end) == (2, True, T0 + 30 * MIN)


def test_stage_finished_without_a_start_is_ignored_and_counted() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.finish("intake", 5 * MIN)  # no intake start at all
    tk.stage("production", 10 * MIN, 20 * MIN)
    tk.finish("production", 25 * MIN)  # its only attempt is already finished
    tk.document(30 * MIN)
    tl = tl_of(tk)
    assert tl.ignored == 2
    assert [seg(a) for a in tl.attempts] == [("production", "police", 30, 10, 20, 1)]


def test_stage_finished_before_its_start_in_event_time_is_ignored() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.finish("intake", 4 * MIN)
    tk.start("intake", 5 * MIN)
    tk.cancel(30 * MIN)
    tl = tl_of(tk)
    assert tl.ignored == 1
    (intake,) = tl.attempts
    assert (intake.finished, intake.end) == (False, T0 + 30 * MIN)


def test_stage_never_finished_stays_open_until_the_ticket_closes() -> None:
    tk = Ticket("T1", "vehicle_registration")
    tk.issue(0)
    tk.stage("intake", 5 * MIN, 15 * MIN)
    tk.start("vehicle_inspection", 20 * MIN, staff="insp-1")
    tk.cancel(80 * MIN)
    tl = tl_of(tk)
    insp = tl.attempts[1]
    assert seg(insp) == ("vehicle_inspection", "police", 30, 20, 80, 1)
    assert not insp.finished
    assert insp.staff_id == "insp-1"
    # an attempt is still open after the last end: no trailing wait
    assert [w.label for w in tl.waits] == ["wait_intake", "wait_vehicle_inspection"]


def test_stage_never_finished_on_an_abandoned_ticket_ends_at_the_abandonment() -> None:
    tk = Ticket("T1", "vehicle_registration")
    tk.issue(0)
    tk.start("intake", 5 * MIN)
    tl = tl_of(tk)
    assert tl.attempts[0].end == ABANDON_T0 and tl.close_kind == "abandoned"


def test_staff_comes_from_the_start_else_from_the_finish() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.start("intake", 1 * MIN, staff="from-start")
    tk.finish("intake", 2 * MIN, staff="from-finish")
    tk.start("production", 3 * MIN)
    tk.finish("production", 4 * MIN, staff="finisher")
    tl = tl_of(tk)
    assert [a.staff_id for a in tl.attempts] == ["from-start", "finisher"]


# --- order within a ticket: (ts, rank, event_id) -------------------------------------------------

def test_finish_applies_before_start_at_the_same_instant() -> None:
    # theory failed at 40 and retaken at 40: the finish closes attempt 1, not the new attempt 2
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.start("theory_exam", 10 * MIN)
    tk.start("theory_exam", 40 * MIN, staff="retake")  # created before the finish, same ts
    tk.finish("theory_exam", 40 * MIN, result="failed")
    tl = tl_of(tk)
    a1, a2 = tl.attempts
    assert (a1.attempt, a1.end, a1.result, a1.finished) == (1, T0 + 40 * MIN, "failed", True)
    assert (a2.attempt, a2.finished, a2.staff_id) == (2, False, "retake")
    # the retake's wait starts at the failed attempt's end (finished at or before the start): 0 s
    assert seg(tl.waits[-1]) == ("wait_theory_exam", "police", 15, 40, 40, 2)


def test_stage_started_at_the_close_instant_still_applies() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 1 * MIN, 2 * MIN)
    tk.document(20 * MIN)
    tk.start("production", 20 * MIN)  # rank 2 < document_issued 4
    tl = tl_of(tk)
    assert tl.ignored == 0
    assert seg(tl.attempts[-1]) == ("production", "police", 30, 20, 20, 1)


def test_stage_started_at_the_issue_instant_applies_after_it() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.start("intake", 0)
    tk.issue(0)
    tl = tl_of(tk)
    assert tl.ignored == 0
    assert seg(tl.queue)[3:5] == (0, 0)


def test_same_instant_same_type_orders_by_event_id() -> None:
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.start("theory_exam", 10 * MIN, staff="b-staff", eid="b")
    tk.start("theory_exam", 10 * MIN, staff="a-staff", eid="a")
    tl = tl_of(tk)
    assert [(a.attempt, a.staff_id) for a in tl.attempts] == [(1, "a-staff"), (2, "b-staff")]


# --- what is ignored (and counted) --------------------------------------------------------------

def test_ignored_events() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.start("intake", -5 * MIN)  # stage event before issued_at
    tk.issue(0)
    tk.issue(1 * MIN, service="license_exchange")  # a further ticket_issued
    tk.stage("intake", 2 * MIN, 4 * MIN)
    tk.document(30 * MIN)
    tk.cancel(31 * MIN)  # a further terminal event after the close
    tk.start("production", 32 * MIN)  # stage event after the close
    tk.rate(33 * MIN, 5)  # ratings still apply after the close
    tl = tl_of(tk)
    assert tl.ignored == 4
    assert (tl.issued_at, tl.close_kind, tl.close_at) == (T0, "completed", T0 + 30 * MIN)
    assert [a.stage for a in tl.attempts] == ["intake"]
    assert [r.rating for r in tl.ratings] == [5]


def test_first_terminal_event_closes() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.cancel(20 * MIN)
    tk.document(25 * MIN)
    tl = tl_of(tk)
    assert (tl.close_kind, tl.close_at, tl.ignored) == ("cancelled", T0 + 20 * MIN, 1)


def test_terminal_after_the_abandonment_is_ignored() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.document(11 * HOUR + 1)  # 16:00:00.001 UTC, after 20:00 local + 60 min
    tl = tl_of(tk)
    assert (tl.close_kind, tl.close_at, tl.ignored) == ("abandoned", ABANDON_T0, 1)


def test_terminal_exactly_at_the_abandonment_wins() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.document(11 * HOUR)
    tl = tl_of(tk)
    assert (tl.close_kind, tl.close_at, tl.ignored) == ("completed", ABANDON_T0, 0)


# --- service and branch -----------------------------------------------------------------------

def test_service_is_that_of_the_first_ticket_issued() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    second = tk.issue(1 * MIN, service="plates_issue")
    odd = tk.start("intake", 2 * MIN, service="driver_license")
    same = tk.finish("intake", 3 * MIN, service="license_exchange")
    tl = tl_of(tk)
    assert tl.service == "license_exchange"
    assert [e.event_id for e in tl.mismatched] == [second.event_id, odd.event_id]
    assert tl.attempts == []  # the start was not applied, so the finish has nothing to close
    assert tl.ignored == 1 and same.service == "license_exchange"


def test_service_without_ticket_issued_is_that_of_the_first_event_carrying_one() -> None:
    tk = Ticket("T1", None)
    tk.start("intake", 1 * MIN)
    tk.finish("intake", 2 * MIN, service="plates_issue")
    tk.document(3 * MIN, service="license_exchange")
    tl = tl_of(tk)
    assert tl.service == "plates_issue"
    assert tl.issued_at is None and tl.queue is None
    assert [e.type for e in tl.mismatched] == ["document_issued"]


def test_branch_is_that_of_the_ticket_issued() -> None:
    tk = Ticket("T1", "license_exchange", branch="spec-almaty")
    tk.issue(0)
    tk.start("intake", 1 * MIN, branch_id="spec-astana")
    assert tl_of(tk).branch_id == "spec-almaty"


# --- trailing wait -----------------------------------------------------------------------------

def test_wait_document_belongs_to_the_party_of_the_stage_that_ended_last() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 2 * MIN, 5 * MIN)
    tk.document(55 * MIN)  # no production: the last stage that ended is intake (con)
    tl = tl_of(tk)
    assert seg(tl.waits[-1]) == ("wait_document", "con", 15, 5, 55, 0)


@pytest.mark.parametrize("service, stages, close, label, party", [
    # cancelled after intake: waiting for the route's next stage
    ("license_exchange", [("intake", None)], "cancel", "wait_production", "police"),
    ("vehicle_registration", [("intake", None)], "cancel", "wait_vehicle_inspection", "police"),
    # a failed exam: waiting for that exam again
    ("driver_license", [("intake", None), ("theory_exam", "failed")], "cancel", "wait_theory_exam", "police"),
    ("driver_license", [("intake", None), ("theory_exam", "passed")], "cancel", "wait_practical_exam", "police"),
    # end of the route: the document, party of the last stage
    ("plates_issue", [("intake", None), ("plates", None)], "cancel", "wait_document", "police"),
    # a stage the route does not know: the document
    ("license_exchange", [("intake", None), ("plates", None)], "cancel", "wait_document", "police"),
    # still open (abandoned later): same labels as a cancellation
    ("license_exchange", [("intake", None)], None, "wait_production", "police"),
])
def test_trailing_wait_label(service: str, stages: list, close: Optional[str], label: str, party: str) -> None:
    tk = Ticket("T1", service)
    tk.issue(0)
    t = 1
    for stage, result in stages:
        tk.stage(stage, t * MIN, (t + 5) * MIN, result=result)
        t += 10
    if close == "cancel":
        tk.cancel(90 * MIN)
    tl = tl_of(tk)
    last = tl.waits[-1]
    end = T0 + 90 * MIN if close else ABANDON_T0
    assert (last.label, last.party, last.start, last.end, last.attempt) == (label, party, T0 + (t - 5) * MIN, end, 0)


def test_wait_before_a_stage_starts_at_the_latest_end_before_it() -> None:
    # production starts while vehicle_inspection is still running: its wait starts at intake's end
    tk = Ticket("T1", "vehicle_reregistration")
    tk.issue(0)
    tk.stage("intake", 10 * MIN, 20 * MIN)
    tk.stage("vehicle_inspection", 20 * MIN, 55 * MIN)
    tk.stage("production", 40 * MIN, 60 * MIN)
    tk.document(61 * MIN)
    tl = tl_of(tk)
    assert [seg(w) for w in tl.waits] == [
        ("wait_intake", "con", 15, 10, 10, 1),
        ("wait_vehicle_inspection", "police", 15, 20, 20, 1),
        ("wait_production", "police", 15, 20, 40, 1),
        ("wait_document", "police", 15, 60, 61, 0),
    ]


def test_a_second_intake_waits_for_con() -> None:
    tk = Ticket("T1", "vehicle_registration")
    tk.issue(0)
    tk.stage("intake", 5 * MIN, 10 * MIN)
    tk.stage("vehicle_inspection", 12 * MIN, 20 * MIN)
    tk.stage("intake", 45 * MIN, 50 * MIN)  # documents again
    tl = tl_of(tk)
    w = [x for x in tl.waits if x.label == "wait_intake" and x.attempt == 2]
    assert [seg(x) for x in w] == [("wait_intake", "con", 15, 20, 45, 2)]


def test_next_stage_helper() -> None:
    intake = Segment("stage", "intake", "intake", 1, "con", 1, 0, 1)
    failed = Segment("stage", "practical_exam", "practical_exam", 1, "police", 1, 0, 1, result="failed")
    assert next_stage("license_exchange", intake, CFG) == "production"
    assert next_stage("driver_license", failed, CFG) == "practical_exam"
    assert next_stage(None, intake, CFG) == "document"


# --- closing: branch hours at UTC+5, grace, horizon ---------------------------------------------

@pytest.mark.parametrize("branch, issued, expected", [
    # spec-astana Tue 2026-03-10 10:00 local: 20:00 local = 15:00 UTC, + 60 min
    ("spec-astana", utc_ms(2026, 3, 10, 5, 0), utc_ms(2026, 3, 10, 16, 0)),
    # 00:30 local on Tuesday is still Monday in UTC: the local date counts
    ("spec-astana", utc_ms(2026, 3, 9, 19, 30), utc_ms(2026, 3, 10, 16, 0)),
    # Saturday 2026-03-14: 09:00–18:00 local → 13:00 UTC + 60 min
    ("spec-astana", utc_ms(2026, 3, 14, 6, 0), utc_ms(2026, 3, 14, 14, 0)),
    # Sunday 2026-03-15: closed that weekday → issue + 12 h
    ("spec-astana", utc_ms(2026, 3, 15, 6, 0), utc_ms(2026, 3, 15, 18, 0)),
    # issued after closing + grace (21:30 local Tue) → issue + 12 h
    ("spec-astana", utc_ms(2026, 3, 10, 16, 30), utc_ms(2026, 3, 11, 4, 30)),
    # closing + grace exactly at the issue is not after it → issue + 12 h
    ("spec-astana", utc_ms(2026, 3, 10, 16, 0), utc_ms(2026, 3, 11, 4, 0)),
    # a millisecond before it still gets the branch's closing
    ("spec-astana", utc_ms(2026, 3, 10, 15, 59, 59, 999), utc_ms(2026, 3, 10, 16, 0)),
    # summer: no daylight saving time, still UTC+5
    ("spec-astana", utc_ms(2026, 7, 7, 4, 0), utc_ms(2026, 7, 7, 16, 0)),
    # Asia/Oral, Saturday 09:00–13:00 local → 08:00 UTC + 60 min
    ("zko-oral-1", utc_ms(2026, 3, 14, 4, 0), utc_ms(2026, 3, 14, 9, 0)),
    # zko-zhanibek is closed on Saturdays
    ("zko-zhanibek", utc_ms(2026, 3, 14, 4, 0), utc_ms(2026, 3, 14, 16, 0)),
    # ast-yesil-1 opens on Sunday 10:00–14:00 local → 09:00 UTC + 60 min
    ("ast-yesil-1", utc_ms(2026, 3, 15, 6, 0), utc_ms(2026, 3, 15, 10, 0)),
    # Asia/Aqtau, Friday 09:00–20:00 local
    ("spec-aktau", utc_ms(2026, 3, 13, 5, 0), utc_ms(2026, 3, 13, 16, 0)),
    # unknown branch → issue + 12 h
    ("no-such-branch", utc_ms(2026, 3, 10, 5, 0), utc_ms(2026, 3, 10, 17, 0)),
])
def test_abandonment_instant(branch: str, issued: int, expected: int) -> None:
    assert ABANDON(branch, issued) == expected
    tk = Ticket("T1", "license_exchange", t0=issued, branch=branch)
    tk.issue(0)
    tk.start("intake", 0)
    tl = tl_of(tk)
    assert (tl.close_kind, tl.close_at) == ("abandoned", expected)
    assert tl.attempts[0].end == expected


def test_abandonment_anchor_without_ticket_issued_is_the_first_applied_event() -> None:
    tk = Ticket("T1", None, branch="no-such-branch")
    tk.start("intake", 30 * MIN)
    tk.finish("intake", 40 * MIN)
    tl = tl_of(tk)
    assert (tl.close_kind, tl.close_at) == ("abandoned", T0 + 30 * MIN + 12 * HOUR)


def test_late_stage_event_after_abandonment_is_ignored() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.start("intake", 11 * HOUR + 1)
    tl = tl_of(tk)
    assert tl.attempts == [] and tl.ignored == 1
    assert tl.queue.end == ABANDON_T0


def test_make_event_ranks() -> None:
    ranks = {t: make_event("x", t, 0, BRANCH).rank for t in (
        "ticket_issued", "stage_finished", "stage_started", "rating_submitted", "document_issued",
        "ticket_cancelled")}
    assert ranks == {"ticket_issued": 0, "stage_finished": 1, "stage_started": 2, "rating_submitted": 3,
                     "document_issued": 4, "ticket_cancelled": 4}
