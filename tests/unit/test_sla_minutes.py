"""Branch-minute facts (jobs/sla/rules.py `facts`) and their windows (jobs/sla/minutes.py).

docs/semantics.md "Branch minutes": facts of the applied events, counted in the UTC minute of their
instant, per branch; signed deltas so that a late event can take a fact back.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from jobs.sla import config
from jobs.sla.closing import abandonment
from jobs.sla.minutes import COUNT_COLUMNS, Bucket, MinuteCounter
from jobs.sla.rules import alert_id, evaluate, facts
from jobs.sla.timeline import build
from jobs.sla.ticket import make_event

from tests.unit.sla_helpers import (BRANCH, CATALOG, CFG, MIN, SEC, T0, Driver, Ticket, fold_minutes,
                                    run_in_order)

ABANDON = abandonment(CATALOG, CFG)
SERVICES = ("driver_license", "license_exchange", "vehicle_registration", "vehicle_reregistration", "plates_issue")
ALL_COLUMNS = (
    ["tickets_issued"] + [f"tickets_issued_{s}" for s in SERVICES]
    + ["documents_issued"] + [f"documents_issued_{s}" for s in SERVICES]
    + ["tickets_cancelled"] + [f"tickets_cancelled_{s}" for s in SERVICES]
    + ["licenses_issued", "registrations", "plates_issued", "queue_wait_count", "breaches_con", "breaches_police",
       "ratings_count", "ratings_sum"]
)


def zero_row(minute: int, branch: str = BRANCH) -> dict[str, Any]:
    row: dict[str, Any] = {"branch_id": branch, "window_start": minute}
    row.update({c: 0 for c in ALL_COLUMNS})
    row.update(queue_wait_sum_ms=0, queue_wait_max_ms=0)
    return row


# --- facts of one ticket -------------------------------------------------------------------------

def test_facts_of_a_completed_ticket() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(30 * SEC)  # 05:00:30 UTC → minute 05:00
    tk.stage("intake", 40 * MIN + 15 * SEC, 45 * MIN, staff="op-1")  # queue 39:45, overrun at 30:30
    tk.stage("production", 46 * MIN, 50 * MIN)
    tk.document(61 * MIN + 59 * SEC)  # ticket overrun at 60:30 (con: the queue's 9:45 excess is the worst)
    tk.rate(62 * MIN, 4, eid="r1")
    tk.rate(63 * MIN, 2, eid="r2")
    tl = build("T1", tk.events, CFG, ABANDON)
    ev = evaluate(tl, T0 + 3 * 60 * MIN, CFG)
    svc = "license_exchange"
    assert facts(tl, ev) == {
        "issued": (BRANCH, T0, "issued", svc, 1),
        "close": (BRANCH, T0 + 61 * MIN, "document", svc, 1),
        "queue": (BRANCH, T0 + 40 * MIN, "queue", svc, 40 * MIN + 15 * SEC - 30 * SEC),
        f"breach:{alert_id('T1', 'stage_overrun', 'queue', 1)}": (BRANCH, T0 + 30 * MIN, "breach_con", svc, 1),
        f"breach:{alert_id('T1', 'ticket_overrun', '', 0)}": (BRANCH, T0 + 60 * MIN, "breach_con", svc, 1),
        "rating:r1": (BRANCH, T0 + 62 * MIN, "rating", svc, 4),
        "rating:r2": (BRANCH, T0 + 63 * MIN, "rating", svc, 2),
    }


def test_police_breach_and_cancel_facts() -> None:
    tk = Ticket("T1", "plates_issue")
    tk.issue(0)
    tk.stage("intake", 1 * MIN, 5 * MIN)
    tk.start("plates", 6 * MIN)  # overrun at 21 (police); the at-risk at 18 is no breach
    tk.cancel(25 * MIN)
    tl = build("T1", tk.events, CFG, ABANDON)
    ev = evaluate(tl, T0 + 2 * 60 * MIN, CFG)
    f = facts(tl, ev)
    assert f["close"] == (BRANCH, T0 + 25 * MIN, "cancelled", "plates_issue", 1)
    breaches = {k: v for k, v in f.items() if k.startswith("breach:")}
    assert breaches == {f"breach:{alert_id('T1', 'stage_overrun', 'plates', 1)}":
                        (BRANCH, T0 + 21 * MIN, "breach_police", "plates_issue", 1)}
    assert f["queue"] == (BRANCH, T0 + 1 * MIN, "queue", "plates_issue", 1 * MIN)


def test_facts_wait_for_the_watermark() -> None:
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tl = build("T1", tk.events, CFG, ABANDON)
    f = facts(tl, evaluate(tl, T0 + 30 * MIN - 1, CFG))
    assert set(f) == {"issued"}  # no queue end, no overrun yet
    f = facts(tl, evaluate(tl, T0 + 30 * MIN, CFG))
    assert set(f) == {"issued", f"breach:{alert_id('T1', 'stage_overrun', 'queue', 1)}"}


def test_an_abandoned_ticket_has_no_close_fact() -> None:
    tk = Ticket("T1", "license_exchange", branch="no-such-branch")
    tk.issue(0)
    tk.stage("intake", 1 * MIN, 2 * MIN)
    tl = build("T1", tk.events, CFG, ABANDON)
    ev = evaluate(tl, T0 + 13 * 60 * MIN, CFG)
    assert ev.status == "abandoned"
    assert "close" not in facts(tl, ev)


def test_a_ticket_without_issue_or_service() -> None:
    tk = Ticket("T1", None)
    tk.start("intake", 0)
    tk.document(5 * MIN)
    tl = build("T1", tk.events, CFG, ABANDON)
    f = facts(tl, evaluate(tl, T0 + 10 * MIN, CFG))
    assert f == {"close": (BRANCH, T0 + 5 * MIN, "document", "", 1)}  # no issue, no queue


# --- MinuteCounter -----------------------------------------------------------------------------

def test_count_columns_are_the_branch_minute_columns() -> None:
    assert list(COUNT_COLUMNS) == ALL_COLUMNS


@pytest.mark.parametrize("service, extra", [
    ("driver_license", {"licenses_issued": 1}),
    ("license_exchange", {"licenses_issued": 1}),
    ("vehicle_registration", {"registrations": 1, "plates_issued": 1}),
    ("vehicle_reregistration", {"registrations": 1}),
    ("plates_issue", {"plates_issued": 1}),
])
def test_document_columns_per_service(service: str, extra: dict[str, int]) -> None:
    counter = MinuteCounter(CFG)
    b = Bucket()
    counter.apply(b, "document", service, 1, 1)
    want = zero_row(T0)
    want.update({"documents_issued": 1, f"documents_issued_{service}": 1, **extra, "version": 1, "is_deleted": 0})
    assert MinuteCounter.row(BRANCH, T0, b) == want


def test_plates_follow_the_route() -> None:
    doc = yaml.safe_load(config.default_path().read_text(encoding="utf-8"))
    doc["services"]["license_exchange"]["route"] = ["queue", "intake", "production", "plates"]
    doc["services"]["vehicle_registration"]["route"] = ["queue", "intake", "vehicle_inspection", "production"]
    counter = MinuteCounter(config.from_dict(doc))
    assert "plates_issued" in counter.columns("document", "license_exchange")
    assert "plates_issued" not in counter.columns("document", "vehicle_registration")
    assert counter.columns("document", "license_exchange") == [
        "documents_issued", "documents_issued_license_exchange", "licenses_issued", "plates_issued"]


def test_issue_cancel_breach_rating_columns() -> None:
    counter = MinuteCounter(CFG)
    b = Bucket()
    counter.apply(b, "issued", "plates_issue", 1, 1)
    counter.apply(b, "issued", "", 1, 1)  # service unknown: only the total
    counter.apply(b, "cancelled", "driver_license", 1, 1)
    counter.apply(b, "breach_con", "driver_license", 1, 1)
    counter.apply(b, "breach_police", "plates_issue", 1, 1)
    counter.apply(b, "breach_police", "plates_issue", 1, 1)
    counter.apply(b, "rating", "plates_issue", 5, 1)
    counter.apply(b, "rating", "plates_issue", 2, 1)
    want = zero_row(T0)
    want.update(tickets_issued=2, tickets_issued_plates_issue=1, tickets_cancelled=1,
                tickets_cancelled_driver_license=1, breaches_con=1, breaches_police=2, ratings_count=2,
                ratings_sum=7, version=8, is_deleted=0)
    assert MinuteCounter.row(BRANCH, T0, b) == want


def test_queue_max_is_taken_back_correctly() -> None:
    counter = MinuteCounter(CFG)
    b = Bucket()
    for v in (100_000, 300_000, 300_000):
        counter.apply(b, "queue", "license_exchange", v, 1)
    r = MinuteCounter.row(BRANCH, T0, b)
    assert (r["queue_wait_count"], r["queue_wait_sum_ms"], r["queue_wait_max_ms"]) == (3, 700_000, 300_000)
    counter.apply(b, "queue", "license_exchange", 300_000, -1)
    r = MinuteCounter.row(BRANCH, T0, b)
    assert (r["queue_wait_count"], r["queue_wait_sum_ms"], r["queue_wait_max_ms"]) == (2, 400_000, 300_000)
    counter.apply(b, "queue", "license_exchange", 300_000, -1)
    r = MinuteCounter.row(BRANCH, T0, b)
    assert (r["queue_wait_count"], r["queue_wait_sum_ms"], r["queue_wait_max_ms"]) == (1, 100_000, 100_000)
    counter.apply(b, "queue", "license_exchange", 100_000, -1)
    r = MinuteCounter.row(BRANCH, T0, b)
    assert (r["queue_wait_count"], r["queue_wait_sum_ms"], r["queue_wait_max_ms"]) == (0, 0, 0)
    assert (r["is_deleted"], r["version"]) == (1, 6)
    assert b.queue == {}


def test_an_all_zero_bucket_becomes_a_deletion() -> None:
    counter = MinuteCounter(CFG)
    b = Bucket()
    counter.apply(b, "breach_con", "license_exchange", 1, 1)
    assert MinuteCounter.row(BRANCH, T0, b)["is_deleted"] == 0
    counter.apply(b, "breach_con", "license_exchange", 1, -1)
    r = MinuteCounter.row(BRANCH, T0, b)
    want = zero_row(T0)
    want.update(version=2, is_deleted=1)
    assert r == want


def test_a_zero_rating_sum_alone_is_still_a_row() -> None:
    # is_deleted only when every count is zero: one rating keeps the row
    counter = MinuteCounter(CFG)
    b = Bucket()
    counter.apply(b, "rating", "", 1, 1)
    assert MinuteCounter.row(BRANCH, T0, b)["is_deleted"] == 0


# --- through the ticket operator ---------------------------------------------------------------

@pytest.mark.parametrize("service, route_stages, extra", [
    ("driver_license", ["intake", "theory_exam", "practical_exam", "production"], {"licenses_issued": 1}),
    ("license_exchange", ["intake", "production"], {"licenses_issued": 1}),
    ("vehicle_registration", ["intake", "vehicle_inspection", "production", "plates"],
     {"registrations": 1, "plates_issued": 1}),
    ("vehicle_reregistration", ["intake", "vehicle_inspection", "production"], {"registrations": 1}),
    ("plates_issue", ["intake", "plates"], {"plates_issued": 1}),
])
def test_minute_rows_of_a_completed_ticket(service: str, route_stages: list[str], extra: dict[str, int]) -> None:
    tk = Ticket("T1", service)
    tk.issue(10 * SEC)
    t = 3 * MIN
    for stage in route_stages:
        tk.stage(stage, t, t + 2 * MIN, result="passed" if stage.endswith("exam") else None)
        t += 3 * MIN
    tk.document(t)  # 3 + 3·n minutes: a minute of its own
    tk.rate(t + 10 * SEC, 5)
    rows = run_in_order(tk.events).minute_rows()
    issued = zero_row(T0)
    issued.update({"tickets_issued": 1, f"tickets_issued_{service}": 1})
    called = zero_row(T0 + 3 * MIN)
    called.update(queue_wait_count=1, queue_wait_sum_ms=3 * MIN - 10 * SEC, queue_wait_max_ms=3 * MIN - 10 * SEC)
    done = zero_row(T0 + t)
    done.update({"documents_issued": 1, f"documents_issued_{service}": 1, **extra, "ratings_count": 1,
                 "ratings_sum": 5})
    got = {k: {c: v for c, v in r.items() if c not in ("version", "is_deleted")} for k, r in rows.items()}
    assert got == {(BRANCH, T0): issued, (BRANCH, T0 + 3 * MIN): called, (BRANCH, T0 + t): done}
    assert all(r["is_deleted"] == 0 for r in rows.values())


def test_a_withdrawn_breach_empties_its_minute() -> None:
    tk = Ticket("T1", "license_exchange")
    issue = tk.issue(0)
    start = tk.start("intake", 2 * MIN)
    finish = tk.finish("intake", 16 * MIN)
    d = Driver()
    d.deliver([issue, start])
    d.heartbeat(T0 + 19 * MIN)  # the intake overrun fires at 17 (con)
    assert fold_minutes(d.deltas)[(BRANCH, T0 + 17 * MIN)]["breaches_con"] == 1
    d.feed(finish)  # late: the stage ended at 16, before the overrun
    row = fold_minutes(d.deltas)[(BRANCH, T0 + 17 * MIN)]
    assert (row["breaches_con"], row["is_deleted"], row["version"]) == (0, 1, 2)


def test_a_late_first_call_moves_the_queue_wait_and_its_max() -> None:
    # two tickets whose queues end in the same minute (10): 10 min and 4 min. A late, earlier
    # stage_started of the first ticket (at 6:30) moves its queue end to minute 6.
    a = Ticket("A", "license_exchange")
    a.issue(0)
    a.start("intake", 10 * MIN, staff="op-1")
    b = Ticket("B", "license_exchange", t0=T0 + 6 * MIN)
    b.issue(0)
    b.start("intake", 4 * MIN, staff="op-2")
    da, db = Driver(ticket_id="A"), Driver(ticket_id="B")
    da.deliver(a.events)
    db.deliver(b.events)
    rows = fold_minutes(da.deltas + db.deltas)
    r10 = rows[(BRANCH, T0 + 10 * MIN)]
    assert (r10["queue_wait_count"], r10["queue_wait_sum_ms"], r10["queue_wait_max_ms"]) == (2, 14 * MIN, 10 * MIN)
    da.heartbeat(T0 + 11 * MIN)
    assert da.feed(make_event("A-early", "stage_started", T0 + 6 * MIN + 30 * SEC, BRANCH, stage="intake")) == "late"
    rows = fold_minutes(da.deltas + db.deltas)
    r10 = rows[(BRANCH, T0 + 10 * MIN)]
    assert (r10["queue_wait_count"], r10["queue_wait_sum_ms"], r10["queue_wait_max_ms"]) == (1, 4 * MIN, 4 * MIN)
    r6 = rows[(BRANCH, T0 + 6 * MIN)]
    assert (r6["queue_wait_count"], r6["queue_wait_max_ms"], r6["tickets_issued"]) == (1, 6 * MIN + 30 * SEC, 1)
