"""A small hand-built Situation Center day, shared by the ClickHouse tests.

Day 2026-11-24 in Kazakhstan (UTC+5); every timestamp below is UTC. Two catalog branches (b1 in
Астана, b2 in Алматы) and one unknown branch (zz). The expected answers of the questions are
worked out by hand in test_clickhouse_questions.py from these rows; the comments give the story.

Also here: the same rows as job output part files (for the loader) and as a simulator truth
(for verify), plus an in-process store fixture. chDB hosts one engine per process, so the fixture
closes its client at the end of each test module.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

DAY = "2026-11-24"
NOW = "2026-11-24 07:00:00.000"  # 12:00 local
TZ = "Asia/Almaty"


def _branch(branch_id: str, name: str, city: str) -> dict:
    row = {
        "branch_id": branch_id, "name": name, "city": city, "region": city, "kind": "general",
        "status": "connected", "planned_opening": None, "timezone": TZ,
        "windows": 10, "exam_seats": 10, "examiners": 2, "inspectors": 2,
    }
    for d in ("mon", "tue", "wed", "thu", "fri"):
        row[f"hours_{d}"] = "09:00-18:00"
    row.update(hours_sat="", hours_sun="")
    return row


BRANCHES = [_branch("b1", "ЦОН №1 Астана", "Астана"), _branch("b2", "ЦОН №2 Алматы", "Алматы")]

_NULL_SEGMENTS = {
    c: None
    for c in (
        "queue_s", "intake_s", "theory_exam_s", "practical_exam_s", "vehicle_inspection_s", "production_s", "plates_s",
        "wait_intake_s", "wait_theory_exam_s", "wait_practical_exam_s", "wait_vehicle_inspection_s",
        "wait_production_s", "wait_plates_s", "wait_document_s",
    )
}


def _ticket(ticket_id, branch_id, service, issued_at, finished_at, status, total_s, version, *, known=1, breached=0,
            cause="", responsible="", rating=None, **segments):
    row = {
        "ticket_id": ticket_id, "branch_id": branch_id, "known_branch": known, "service": service,
        "issued_at": issued_at, "finished_at": finished_at, "status": status, "total_s": total_s,
        **_NULL_SEGMENTS, "breached": breached, "cause_stage": cause, "responsible": responsible,
        "rating": rating, "version": version,
    }
    row.update(segments)
    return row


TICKETS = [
    # T1 driver_license at b1: 9000 s, over the 2 h standard during the practical exam (police, p7).
    _ticket("T1", "b1", "driver_license", "2026-11-24 04:00:00.000", "2026-11-24 06:30:00.000", "completed", 9000.0, 20,
            breached=1, cause="practical_exam", responsible="police", rating=2,
            queue_s=600.0, intake_s=900.0, wait_intake_s=0.0, wait_theory_exam_s=300.0, theory_exam_s=2400.0,
            wait_practical_exam_s=600.0, practical_exam_s=3600.0, wait_production_s=300.0, production_s=300.0,
            wait_document_s=0.0),
    # T2 license_exchange at b1: 40 min, within the standard.
    _ticket("T2", "b1", "license_exchange", "2026-11-24 05:00:00.000", "2026-11-24 05:40:00.000", "completed", 2400.0, 9,
            rating=5, queue_s=1200.0, wait_intake_s=0.0, intake_s=900.0, wait_production_s=0.0, production_s=300.0,
            wait_document_s=0.0),
    # T3 plates_issue at b1: still in the queue.
    _ticket("T3", "b1", "plates_issue", "2026-11-24 06:00:00.000", None, "open", None, 1),
    # T4 vehicle_registration at b2: 3 h, breached while waiting for production (police).
    _ticket("T4", "b2", "vehicle_registration", "2026-11-24 04:30:00.000", "2026-11-24 07:30:00.000", "completed",
            10800.0, 25, breached=1, cause="wait_production", responsible="police", rating=1,
            queue_s=2400.0, wait_intake_s=0.0, intake_s=600.0, wait_vehicle_inspection_s=0.0, vehicle_inspection_s=1200.0,
            wait_production_s=3600.0, production_s=2400.0, wait_plates_s=300.0, plates_s=300.0, wait_document_s=0.0),
    # T5 driver_license at b2, issued after NOW, cancelled.
    _ticket("T5", "b2", "driver_license", "2026-11-24 09:00:00.000", "2026-11-24 09:30:00.000", "cancelled", 1800.0, 3,
            queue_s=300.0, wait_intake_s=0.0, intake_s=900.0, wait_theory_exam_s=600.0),
    # T6 license_exchange at an unknown branch: open, past its 60 min standard.
    _ticket("T6", "zz", "license_exchange", "2026-11-24 05:00:00.000", None, "open", None, 4, known=0, queue_s=60.0,
            wait_intake_s=0.0),
    # T7 the day before at b1.
    _ticket("T7", "b1", "driver_license", "2026-11-23 05:00:00.000", "2026-11-23 07:00:00.000", "completed", 7200.0, 12,
            queue_s=300.0, intake_s=600.0),
]
# An older version of T1 (still open): FINAL must return version 20 only.
OLD_VERSIONS = {
    "tickets": [_ticket("T1", "b1", "driver_license", "2026-11-24 04:00:00.000", None, "open", None, 7, queue_s=600.0)],
}


def _stage(ticket_id, branch_id, stage, attempt, responsible, staff, started, finished, duration, limit, version,
           result="", deleted=0):
    over = None if duration is None else max(0.0, duration - limit)
    return {
        "ticket_id": ticket_id, "branch_id": branch_id, "stage": stage, "attempt": attempt, "result": result,
        "responsible": responsible, "staff_id": staff, "started_at": started, "finished_at": finished,
        "duration_s": duration, "limit_s": limit, "overrun_s": over, "version": version, "is_deleted": deleted,
    }


D = "2026-11-24 "
STAGES = [
    _stage("T1", "b1", "queue", 1, "con", "", D + "04:00:00.000", D + "04:10:00.000", 600.0, 1800.0, 2),
    _stage("T1", "b1", "intake", 1, "con", "c1", D + "04:10:00.000", D + "04:25:00.000", 900.0, 900.0, 4),
    _stage("T1", "b1", "theory_exam", 1, "police", "p3", D + "04:30:00.000", D + "05:10:00.000", 2400.0, 2400.0, 6,
           result="passed"),
    _stage("T1", "b1", "practical_exam", 1, "police", "p7", D + "05:20:00.000", D + "06:20:00.000", 3600.0, 2700.0, 9,
           result="passed"),
    _stage("T1", "b1", "production", 1, "police", "p9", D + "06:25:00.000", D + "06:30:00.000", 300.0, 1800.0, 19),
    _stage("T2", "b1", "queue", 1, "con", "", D + "05:00:00.000", D + "05:20:00.000", 1200.0, 1800.0, 2),
    _stage("T2", "b1", "intake", 1, "con", "c1", D + "05:20:00.000", D + "05:35:00.000", 900.0, 900.0, 4),
    _stage("T2", "b1", "production", 1, "police", "p9", D + "05:35:00.000", D + "05:40:00.000", 300.0, 1800.0, 6),
    _stage("T3", "b1", "queue", 1, "con", "", D + "06:00:00.000", None, None, 1800.0, 1),
    _stage("T4", "b2", "queue", 1, "con", "", D + "04:30:00.000", D + "05:10:00.000", 2400.0, 1800.0, 3),
    _stage("T4", "b2", "intake", 1, "con", "c2", D + "05:10:00.000", D + "05:20:00.000", 600.0, 900.0, 5),
    _stage("T4", "b2", "vehicle_inspection", 1, "police", "p4", D + "05:20:00.000", D + "05:40:00.000", 1200.0, 1800.0, 7),
    _stage("T4", "b2", "production", 1, "police", "p5", D + "06:40:00.000", D + "07:20:00.000", 2400.0, 1800.0, 12),
    _stage("T4", "b2", "plates", 1, "police", "p6", D + "07:25:00.000", D + "07:30:00.000", 300.0, 900.0, 14),
    _stage("T5", "b2", "queue", 1, "con", "", D + "09:00:00.000", D + "09:05:00.000", 300.0, 1800.0, 2),
    _stage("T5", "b2", "intake", 1, "con", "c2", D + "09:05:00.000", D + "09:20:00.000", 900.0, 900.0, 3),
    _stage("T6", "zz", "queue", 1, "con", "", D + "05:00:00.000", D + "05:01:00.000", 60.0, 1800.0, 2),
    _stage("T6", "zz", "intake", 1, "con", "c9", D + "05:01:00.000", None, None, 900.0, 3),
    _stage("T7", "b1", "intake", 1, "con", "c1", "2026-11-23 05:10:00.000", "2026-11-23 05:20:00.000", 600.0, 900.0, 3),
]
# A stage attempt that a late event proved wrong: written, then deleted (is_deleted = 1, higher version).
DELETED_STAGE = _stage("T4", "b2", "theory_exam", 1, "police", "p8", D + "05:00:00.000", None, None, 2400.0, 4)
OLD_VERSIONS["ticket_stages"] = [
    DELETED_STAGE,
    _stage("T1", "b1", "production", 1, "police", "p9", D + "06:25:00.000", None, None, 1800.0, 18),
]
DELETIONS = {"ticket_stages": [dict(DELETED_STAGE, version=8, is_deleted=1)]}


def _alert(alert_id, kind, status, ticket_id, branch_id, service, stage, attempt, cause, responsible, staff, limit_s,
           started, detected, resolved, overrun_s, version):
    return {
        "alert_id": alert_id, "kind": kind, "status": status,
        "severity": "critical" if kind.endswith("overrun") else "warning", "attempt": attempt,
        "ticket_id": ticket_id, "branch_id": branch_id, "service": service, "stage": stage, "cause_stage": cause,
        "responsible": responsible, "staff_id": staff, "limit_s": limit_s, "started_at": started,
        "detected_at": detected, "resolved_at": resolved, "overrun_s": overrun_s, "version": version,
    }


ALERTS = [
    _alert("a1", "stage_overrun", "resolved", "T1", "b1", "driver_license", "practical_exam", 1, "practical_exam",
           "police", "p7", 2700.0, D + "05:20:00.000", D + "06:05:00.000", D + "06:20:00.000", 900.0, 10),
    _alert("a2", "ticket_overrun", "resolved", "T1", "b1", "driver_license", "", 0, "practical_exam", "police", "p7",
           7200.0, D + "04:00:00.000", D + "06:00:00.000", D + "06:30:00.000", 1800.0, 20),
    _alert("a3", "ticket_overrun", "resolved", "T4", "b2", "vehicle_registration", "", 0, "wait_production", "police",
           "", 7200.0, D + "04:30:00.000", D + "06:30:00.000", D + "07:30:00.000", 3600.0, 25),
    _alert("a4", "stage_overrun", "resolved", "T4", "b2", "vehicle_registration", "queue", 1, "queue", "con", "",
           1800.0, D + "04:30:00.000", D + "05:00:00.000", D + "05:10:00.000", 600.0, 3),
    _alert("a5", "ticket_overrun", "firing", "T6", "zz", "license_exchange", "", 0, "intake", "con", "c9", 3600.0,
           D + "05:00:00.000", D + "06:00:00.000", None, None, 4),
    _alert("a6", "ticket_overrun", "withdrawn", "T3", "b1", "plates_issue", "", 0, "queue", "con", "", 2700.0,
           D + "06:00:00.000", D + "06:45:00.000", None, None, 2),
    _alert("a7", "stage_overrun", "resolved", "T7", "b1", "driver_license", "queue", 1, "queue", "con", "", 1800.0,
           "2026-11-23 05:00:00.000", "2026-11-23 05:30:00.000", "2026-11-23 05:40:00.000", 600.0, 3),
    _alert("a8", "stage_at_risk", "resolved", "T2", "b1", "license_exchange", "queue", 1, "queue", "con", "", 1800.0,
           D + "05:00:00.000", D + "05:24:00.000", D + "05:20:00.000", None, 3),
    _alert("a9", "stage_overrun", "resolved", "T4", "b2", "vehicle_registration", "production", 1, "production",
           "police", "p5", 1800.0, D + "06:40:00.000", D + "07:10:00.000", D + "07:20:00.000", 600.0, 12),
]
OLD_VERSIONS["alerts"] = [dict(ALERTS[4], status="firing", cause_stage="queue", version=2)]


def _minute(branch_id, window_start, version, deleted=0, **counts):
    row = {"branch_id": branch_id, "window_start": window_start, "version": version, "is_deleted": deleted}
    row.update(counts)
    return row


MINUTES = [
    _minute("b1", "2026-11-23 05:00:00", 1, tickets_issued=1, tickets_issued_driver_license=1),
    _minute("b1", "2026-11-23 07:00:00", 1, documents_issued=1, documents_issued_driver_license=1, licenses_issued=1),
    _minute("b1", D + "04:00:00", 3, tickets_issued=1, tickets_issued_driver_license=1),
    _minute("b1", D + "04:10:00", 1, queue_wait_sum_s=600.0, queue_wait_count=1, queue_wait_max_s=600.0),
    _minute("b1", D + "05:00:00", 1, tickets_issued=1, tickets_issued_license_exchange=1),
    _minute("b1", D + "05:20:00", 1, queue_wait_sum_s=1200.0, queue_wait_count=1, queue_wait_max_s=1200.0),
    _minute("b1", D + "05:40:00", 1, documents_issued=1, documents_issued_license_exchange=1, licenses_issued=1),
    _minute("b1", D + "06:00:00", 2, tickets_issued=1, tickets_issued_plates_issue=1, breaches_police=1),
    _minute("b1", D + "06:05:00", 1, breaches_police=1),
    _minute("b1", D + "06:30:00", 1, documents_issued=1, documents_issued_driver_license=1, licenses_issued=1,
            ratings_count=1, ratings_sum=2),
    _minute("b2", "2026-11-23 19:30:00", 1, documents_issued=1, documents_issued_license_exchange=1, licenses_issued=1),
    _minute("b2", D + "04:30:00", 1, tickets_issued=1, tickets_issued_vehicle_registration=1),
    _minute("b2", D + "05:00:00", 1, breaches_con=1),
    _minute("b2", D + "07:30:00", 1, documents_issued=1, documents_issued_vehicle_registration=1, registrations=1,
            plates_issued=1, breaches_police=1),
    _minute("b2", D + "09:00:00", 1, tickets_issued=1, tickets_issued_driver_license=1),
    _minute("zz", D + "05:00:00", 1, tickets_issued=1, tickets_issued_license_exchange=1),
    _minute("zz", D + "06:10:00", 1, documents_issued=1, documents_issued_license_exchange=1, licenses_issued=1),
]
OLD_VERSIONS["branch_minute"] = [
    _minute("b1", D + "04:00:00", 1, tickets_issued=2, tickets_issued_driver_license=2),
    _minute("b2", D + "08:00:00", 1, tickets_issued=5, licenses_issued=5),
]
DELETIONS["branch_minute"] = [_minute("b2", D + "08:00:00", 2, deleted=1)]


def _rating(event_id, ticket_id, branch_id, staff, rating, ts, version=1, deleted=0):
    return {"event_id": event_id, "ticket_id": ticket_id, "branch_id": branch_id, "staff_id": staff, "rating": rating,
            "ts": ts, "version": version, "is_deleted": deleted}


RATINGS = [
    _rating("e1", "T1", "b1", "p7", 2, D + "06:30:30.000"),
    _rating("e2", "T2", "b1", "c1", 5, D + "05:41:00.000"),
    _rating("e3", "T4", "b2", "p5", 1, D + "07:31:00.000"),
    _rating("e4", "T1", "b1", "p3", 5, D + "06:31:00.000"),
    _rating("e5", "T7", "b1", "c1", 1, "2026-11-23 07:01:00.000"),
]
OLD_VERSIONS["ratings"] = [_rating("e6", "T2", "b1", "c1", 3, D + "05:42:00.000")]
DELETIONS["ratings"] = [_rating("e6", "T2", "b1", "c1", 3, D + "05:42:00.000", version=2, deleted=1)]

DEAD_LETTERS = [
    {"source": "day.jsonl", "partition": 0, "offset": 17, "code": "bad_json", "detail": "not JSON", "event_id": "",
     "raw": "{oops"},
    {"source": "day.jsonl", "partition": 0, "offset": 42, "code": "bad_json", "detail": "not JSON", "event_id": "",
     "raw": "]"},
    {"source": "day.jsonl", "partition": 0, "offset": 99, "code": "unknown_type", "detail": "type 'x'",
     "event_id": "ev99", "raw": '{"type":"x"}'},
]
LATE_EVENTS = [
    {"source": "day.jsonl", "partition": 0, "offset": 120, "event_id": "ev120", "type": "stage_finished",
     "ticket_id": "T2", "branch_id": "b1", "ts": D + "05:30:00.000", "max_seen_ts": D + "05:50:00.000",
     "late_by_s": 1200.0, "raw": "{}"},
]

FINAL_ROWS = {
    "tickets": TICKETS, "ticket_stages": STAGES, "alerts": ALERTS, "branch_minute": MINUTES, "ratings": RATINGS,
    "dead_letters": DEAD_LETTERS, "late_events": LATE_EVENTS,
}


def all_rows() -> dict[str, list[dict]]:
    """Every row as the job would write it over time: old versions, final versions, deletions."""
    out: dict[str, list[dict]] = {}
    for table, rows in FINAL_ROWS.items():
        out[table] = OLD_VERSIONS.get(table, []) + rows + DELETIONS.get(table, [])
    return out


def load_dataset(client, branches: bool = True) -> None:
    """Apply the schema and insert the day, old versions first, into `client`'s store."""
    from sinks import schema

    schema.ensure(client)
    if branches:
        schema.load_branches(client, BRANCHES)
    for table, rows in all_rows().items():
        client.insert_rows(table, rows)


def write_output_dir(out_dir: str | os.PathLike, files: int = 3) -> None:
    """The day as Flink FileSink output: JSON lines tagged with `_t`, spread over part files."""
    bucket = Path(out_dir) / "2026-11-24--09"
    bucket.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"_t": t, **row}, ensure_ascii=False) for t, rows in all_rows().items() for row in rows]
    for i in range(files):
        (bucket / f"part-0000-{i}.jsonl").write_text("".join(l + "\n" for l in lines[i::files]), encoding="utf-8")


def _iso(value):
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == " ":
        text = value if "." in value else value + ".000"
        return text.replace(" ", "T") + "Z"
    return value


TRUTH_DROP = {"version", "is_deleted"}


def truth_layers() -> dict[str, object]:
    """The `expected/` layer a simulator would write for this day (ISO `…Z` instants)."""

    def clean(rows, drop=TRUTH_DROP):
        return [{k: _iso(v) for k, v in r.items() if k not in drop} for r in rows]

    dead: dict[str, int] = {}
    for r in DEAD_LETTERS:
        dead[r["code"]] = dead.get(r["code"], 0) + 1
    return {
        "tickets.jsonl": clean(TICKETS),
        "ticket_stages.jsonl": clean(STAGES),
        "alerts.jsonl": clean([a for a in ALERTS if a["status"] != "withdrawn"]),
        "branch_minute.jsonl": clean(MINUTES),
        "dead_letters.json": dead,
        "summary.json": {"too_late": len(LATE_EVENTS), "duplicates": 0, "lines": 100},
    }


def write_truth(truth_dir: str | os.PathLike, layers: dict | None = None) -> Path:
    layers = copy.deepcopy(layers if layers is not None else truth_layers())
    exp = Path(truth_dir) / "expected"
    exp.mkdir(parents=True, exist_ok=True)
    for name, content in layers.items():
        if name.endswith(".jsonl"):
            (exp / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in content), encoding="utf-8")
        else:
            (exp / name).write_text(json.dumps(content), encoding="utf-8")
    return Path(truth_dir)


@pytest.fixture(scope="module")
def store():
    """An in-memory chDB store holding the day (one per test module; closed at its end)."""
    from sinks.clickhouse import connect

    client = connect("chdb://memory")
    try:
        client.command("DROP DATABASE IF EXISTS sitcen")
        load_dataset(client)
        yield client
    finally:
        client.close()


def test_dataset_final_state(store):
    got = store.query_rows("SELECT ticket_id, status, version FROM sitcen.tickets FINAL ORDER BY ticket_id")
    assert [(r["ticket_id"], r["status"], r["version"]) for r in got] == [
        (t["ticket_id"], t["status"], t["version"]) for t in sorted(TICKETS, key=lambda t: t["ticket_id"])
    ]
    assert store.query_value("SELECT count() FROM sitcen.ticket_stages FINAL") == len(STAGES)
    assert store.query_value("SELECT count() FROM sitcen.branch_minute FINAL") == len(MINUTES)
    assert store.query_value("SELECT count() FROM sitcen.ratings FINAL") == len(RATINGS)
