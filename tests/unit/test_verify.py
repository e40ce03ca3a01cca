"""`sitcen verify`: ok on identical data, and each kind of difference reported on a mutated truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import test_clickhouse_fixtures as day  # noqa: E402
from test_clickhouse_fixtures import store  # noqa: E402,F401

from sinks.verify import TruthError, expected_dir, format_text, verify  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def run_verify(store, tmp_path, layers=None):  # noqa: F811
    truth = day.write_truth(tmp_path / "day.jsonl.truth", layers)
    return verify(store, truth)


def squash(text: str) -> str:
    return " ".join(text.split())


def table(result, name):
    return next(t for t in result.tables if t.table == name)


def test_identical_data_is_ok(store, tmp_path):  # noqa: F811
    result = run_verify(store, tmp_path)
    assert result.ok, format_text(result)
    assert [(t.table, t.expected_rows, t.actual_rows) for t in result.tables] == [
        ("tickets", 7, 7), ("ticket_stages", 19, 19), ("alerts", 8, 8), ("branch_minute", 17, 17),
    ]
    assert result.withdrawn_alerts == 1  # a6: counted, never compared
    assert result.dead_letters.actual == {"bad_json": 2, "unknown_type": 1}
    text = squash(format_text(result))
    assert "verify: OK" in text and "withdrawn 1 alerts (counted, not compared)" in text
    j = result.to_json()
    assert j["ok"] is True and j["tables"]["tickets"]["ok"] is True and j["too_late"] == {
        "ok": True, "expected": 1, "actual": 1}


def test_the_expected_dir_itself_is_accepted(store, tmp_path):  # noqa: F811
    truth = day.write_truth(tmp_path / "t")
    assert verify(store, truth / "expected").ok


def test_instants_compare_as_instants_and_durations_within_a_millisecond(store, tmp_path):  # noqa: F811
    layers = day.truth_layers()
    t1 = layers["tickets.jsonl"][0]
    t1["issued_at"] = "2026-11-24T09:00:00+05:00"  # the same instant, another spelling
    t1["total_s"] = 9000.0009  # within 1 ms
    t1["breached"] = True  # booleans are 0/1
    layers["branch_minute.jsonl"][0]["window_start"] = "2026-11-23T05:00:00Z"
    assert run_verify(store, tmp_path, layers).ok


def test_missing_unexpected_and_changed_rows(store, tmp_path):  # noqa: F811
    layers = day.truth_layers()
    # missing: the truth has a ticket ClickHouse lacks
    layers["tickets.jsonl"].append(dict(layers["tickets.jsonl"][1], ticket_id="T99"))
    # unexpected: ClickHouse has a stage attempt the truth lacks
    layers["ticket_stages.jsonl"] = [
        r for r in layers["ticket_stages.jsonl"] if (r["ticket_id"], r["stage"]) != ("T4", "plates")
    ]
    # different: a duration 2 ms off, an instant 1 ms off, a party swapped
    a = layers["alerts.jsonl"][0]
    a["overrun_s"] = 900.002
    a["detected_at"] = "2026-11-24T06:05:00.001Z"
    layers["alerts.jsonl"][1]["responsible"] = "con"
    # a branch-minute count
    layers["branch_minute.jsonl"][2]["tickets_issued"] = 7
    result = run_verify(store, tmp_path, layers)
    assert not result.ok

    tickets = table(result, "tickets")
    assert (tickets.missing, tickets.unexpected, tickets.different) == (1, 0, 0)
    assert tickets.missing_examples == [{"ticket_id": "T99"}]

    stages = table(result, "ticket_stages")
    assert (stages.missing, stages.unexpected, stages.different) == (0, 1, 0)
    assert stages.unexpected_examples == [{"ticket_id": "T4", "stage": "plates", "attempt": 1}]

    alerts = table(result, "alerts")
    assert (alerts.missing, alerts.unexpected, alerts.different) == (0, 0, 2)
    assert dict(alerts.columns) == {"overrun_s": 1, "detected_at": 1, "responsible": 1}
    first = alerts.different_examples[0]
    assert first["key"] == {"alert_id": "a1", "ticket_id": "T1", "kind": "stage_overrun", "stage": "practical_exam",
                            "attempt": 1}
    assert first["columns"] == {
        "detected_at": {"expected": "2026-11-24T06:05:00.001Z", "actual": "2026-11-24T06:05:00.000Z"},
        "overrun_s": {"expected": 900.002, "actual": 900.0},
    }

    minutes = table(result, "branch_minute")
    assert (minutes.different, dict(minutes.columns)) == (1, {"tickets_issued": 1})
    assert minutes.different_examples[0]["key"] == {"branch_id": "b1", "window_start": "2026-11-24T04:00:00.000Z"}

    text = squash(format_text(result))
    assert "tickets DIFFERS 8 expected, 7 in ClickHouse: 1 missing, 0 unexpected, 0 different" in text
    assert "missing T99" in text
    assert "unexpected T4 plates 1" in text
    assert "different a1 T1 stage_overrun practical_exam 1: detected_at: expected 2026-11-24T06:05:00.001Z, got 2026-11-24T06:05:00.000Z" in text
    assert "verify: DIFFERENCES in tickets, ticket_stages, alerts, branch_minute" in text

    j = result.to_json()
    assert j["ok"] is False
    assert j["tables"]["alerts"]["columns"] == {"overrun_s": 1, "detected_at": 1, "responsible": 1}
    assert j["dead_letters"]["ok"] is True


def test_a_missing_alert_names_what_it_is(store, tmp_path):  # noqa: F811
    layers = day.truth_layers()
    layers["alerts.jsonl"].append(dict(layers["alerts.jsonl"][0], alert_id="f00d", stage="theory_exam"))
    alerts = table(run_verify(store, tmp_path, layers), "alerts")
    assert alerts.missing_examples == [
        {"alert_id": "f00d", "ticket_id": "T1", "kind": "stage_overrun", "stage": "theory_exam", "attempt": 1}
    ]


def test_a_withdrawn_alert_in_the_truth_is_missing_from_what_stands(store, tmp_path):  # noqa: F811
    layers = day.truth_layers()
    a6 = next(a for a in day.ALERTS if a["alert_id"] == "a6")
    layers["alerts.jsonl"].append({k: day._iso(v) for k, v in a6.items() if k != "version"} | {"status": "firing"})
    alerts = table(run_verify(store, tmp_path, layers), "alerts")
    assert (alerts.missing, alerts.missing_examples[0]["alert_id"]) == (1, "a6")


def test_dead_letter_and_too_late_counts(store, tmp_path):  # noqa: F811
    layers = day.truth_layers()
    layers["dead_letters.json"] = {"bad_json": 3, "unknown_type": 1, "service_mismatch": 0}  # zero counts are no codes
    layers["summary.json"]["too_late"] = 4
    result = run_verify(store, tmp_path, layers)
    assert all(t.ok for t in result.tables)
    assert not result.dead_letters.ok and result.dead_letters.differing() == [("bad_json", 3, 2)]
    assert not result.too_late.ok
    text = squash(format_text(result))
    assert "dead_letters DIFFERS bad_json: expected 3, got 2" in text
    assert "too_late DIFFERS expected 4, got 1 late_events rows" in text
    j = result.to_json()
    assert j["too_late"] == {"ok": False, "expected": 4, "actual": 1}
    assert j["dead_letters"]["expected"] == {"bad_json": 3, "unknown_type": 1}


def test_examples_are_capped_and_counted(store, tmp_path):  # noqa: F811
    layers = day.truth_layers()
    layers["tickets.jsonl"] += [dict(layers["tickets.jsonl"][0], ticket_id=f"X{i}") for i in range(8)]
    truth = day.write_truth(tmp_path / "t", layers)
    result = verify(store, truth, examples=2)
    tickets = table(result, "tickets")
    assert tickets.missing == 8 and len(tickets.missing_examples) == 2
    assert "X0; X1 (+6 more)" in format_text(result)


@pytest.mark.parametrize("damage, message", [
    (lambda p: None, "not found"),
    (lambda p: p.mkdir(), "no expected/"),
    (lambda p: (day.write_truth(p), (p / "expected" / "summary.json").unlink()), "missing summary.json"),
    (lambda p: (day.write_truth(p), (p / "expected" / "tickets.jsonl").write_text("{nope\n")), "not JSON"),
    (lambda p: (day.write_truth(p), (p / "expected" / "summary.json").write_text("{}")), "too_late"),
])
def test_bad_truth_directories_are_usage_errors(store, tmp_path, damage, message):  # noqa: F811
    p = tmp_path / "truth"
    damage(p)
    with pytest.raises(TruthError, match=message):
        verify(store, p)


def test_a_file_is_not_a_truth_directory(tmp_path):
    f = tmp_path / "day.jsonl"
    f.write_text("")
    with pytest.raises(TruthError, match="not a file"):
        expected_dir(f)


# -- the command, in subprocesses (each needs its own embedded store) ---------------------------


def sitcen(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "sitcen", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def build_store(path: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); import test_clickhouse_fixtures as d; "
        "from sinks.clickhouse import connect; c = connect('chdb://' + sys.argv[1]); d.load_dataset(c); c.close()"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", code, str(path), os.path.dirname(__file__)], check=True, env=env, cwd=REPO,
                   timeout=300)


def test_the_command_exit_codes_and_json(tmp_path):
    store_path = tmp_path / "store"
    build_store(store_path)
    dsn = f"chdb://{store_path}"
    good = day.write_truth(tmp_path / "good.truth")
    layers = day.truth_layers()
    layers["dead_letters.json"]["bad_json"] = 5
    bad = day.write_truth(tmp_path / "bad.truth", layers)

    ok = sitcen("verify", "--truth", str(good), "--clickhouse", dsn, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "verify: OK" in ok.stdout

    diff = sitcen("verify", "--truth", str(bad), "--clickhouse", dsn, "--format", "json", cwd=tmp_path)
    assert diff.returncode == 1, diff.stderr
    j = json.loads(diff.stdout)
    assert j["ok"] is False and j["dead_letters"]["ok"] is False and j["tables"]["tickets"]["ok"] is True

    missing = sitcen("verify", "--truth", str(tmp_path / "nope"), "--clickhouse", dsn, cwd=tmp_path)
    assert missing.returncode == 2 and "truth directory not found" in missing.stderr

    no_arg = sitcen("verify", cwd=tmp_path)
    assert no_arg.returncode == 2 and "--truth" in no_arg.stderr

    bad_dsn = sitcen("verify", "--truth", str(good), "--clickhouse", "mysql://x", cwd=tmp_path)
    assert bad_dsn.returncode == 2 and "accepted forms" in bad_dsn.stderr


def test_the_command_on_an_empty_default_store_reports_everything_missing(tmp_path):
    truth = day.write_truth(tmp_path / "day.jsonl.truth")
    out = sitcen("verify", "--truth", str(truth), cwd=tmp_path)  # default store: ./.sitcen/store, created empty
    assert out.returncode == 1, out.stderr
    assert "7 expected, 0 in ClickHouse: 7 missing" in out.stdout
    assert (tmp_path / ".sitcen" / "store").is_dir()


def test_null_strings_equal_empty_and_null_instants_differ_from_values(store, tmp_path):  # noqa: F811
    layers = day.truth_layers()
    queue = next(r for r in layers["ticket_stages.jsonl"] if (r["ticket_id"], r["stage"]) == ("T1", "queue"))
    queue["result"], queue["staff_id"] = None, None  # ClickHouse has '' for both: the same
    assert run_verify(store, tmp_path / "a", layers).ok
    queue["finished_at"] = None  # ClickHouse has 04:10: a difference
    stages = table(run_verify(store, tmp_path / "b", layers), "ticket_stages")
    assert stages.different == 1
    assert stages.different_examples[0]["columns"] == {
        "finished_at": {"expected": None, "actual": "2026-11-24T04:10:00.000Z"}}
