"""The bulk loader: finished part files in, hidden in-progress files skipped, loading twice is harmless."""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import test_clickhouse_fixtures as day  # noqa: E402

from sinks import schema  # noqa: E402
from sinks.clickhouse import connect  # noqa: E402
from sinks.loader import OUTPUT_TABLES, OutputLoader, finished_parts, write_synthetic  # noqa: E402


@pytest.fixture(scope="module")
def mem():
    client = connect("chdb://memory")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def fresh(mem):
    mem.command("DROP DATABASE IF EXISTS sitcen")
    schema.ensure(mem)
    schema.load_branches(mem, day.BRANCHES)
    return mem


def answers(client) -> dict:
    """What the questions and verify read: every table with FINAL, in a stable order."""
    out = {}
    for table in ("tickets", "ticket_stages", "alerts", "branch_minute", "ratings", "dead_letters", "late_events"):
        cols = [n for n, _ in client.columns(table) if n not in ("version", "raw")]
        out[table] = client.query_rows(f"SELECT {', '.join(cols)} FROM sitcen.{table} FINAL ORDER BY {', '.join(cols[:4])}")
    return out


def test_finished_parts_skip_hidden_and_bookkeeping_files(tmp_path):
    b = tmp_path / "2026-11-24--09"
    b.mkdir()
    (b / "part-a-0.jsonl").write_text("{}\n")
    (b / ".part-a-1.jsonl.inprogress.1234").write_text("{}\n")
    (b / "_SUCCESS").write_text("")
    (b / "part-a-0.jsonl.crc").write_text("")
    (tmp_path / ".staging").mkdir()
    (tmp_path / ".staging" / "part-x-0.jsonl").write_text("{}\n")
    assert [os.path.basename(p.path) for p in finished_parts(tmp_path)] == ["part-a-0.jsonl"]
    assert finished_parts(tmp_path / "missing") == []


def test_loads_a_hand_made_output_dir_like_direct_inserts(fresh, tmp_path):
    out = tmp_path / "out"
    day.write_output_dir(out, files=3)
    hidden = out / "2026-11-24--09" / ".part-0000-3.jsonl.inprogress.0f1e"
    hidden.write_text(json.dumps({"_t": "tickets", "ticket_id": "HIDDEN", "version": 99}) + "\n")
    loader = OutputLoader(fresh, out)
    counts = loader.load_new()
    rows = day.all_rows()
    assert counts == {t: len(rows.get(t, [])) for t in OUTPUT_TABLES}
    assert fresh.query_value("SELECT count() FROM sitcen.tickets WHERE ticket_id = 'HIDDEN'") == 0
    loaded = answers(fresh)

    # the same day inserted row by row gives the same answers
    fresh.command("DROP DATABASE sitcen")
    day.load_dataset(fresh)
    assert answers(fresh) == loaded

    # nothing new: nothing read
    assert sum(loader.load_new().values()) == 0


def test_the_same_file_twice_gives_the_same_answers(fresh, tmp_path):
    out = tmp_path / "out"
    day.write_output_dir(out, files=2)
    OutputLoader(fresh, out).load_new()
    once = answers(fresh)
    again = OutputLoader(fresh, out).load_new()  # a new loader does not know the files: loads them again
    assert sum(again.values()) > 0
    assert answers(fresh) == once
    # a copy of a part under another name (a replay after recovery) changes nothing either
    src = next(iter(finished_parts(out)))
    os.link(src.path, out / "2026-11-24--09" / "part-replay-0.jsonl")
    OutputLoader(fresh, out).load_new()
    assert answers(fresh) == once


def test_new_files_are_picked_up_incrementally(fresh, tmp_path):
    out = tmp_path / "out"
    loader = OutputLoader(fresh, out)
    assert loader.load_new() == {t: 0 for t in OUTPUT_TABLES}  # the directory does not exist yet
    b = out / "2026-11-24--09"
    b.mkdir(parents=True)
    t1 = dict(day.TICKETS[0], _t="tickets")
    (b / ".part-u-0.jsonl.inprogress.1").write_text(json.dumps(t1) + "\n")
    assert loader.load_new()["tickets"] == 0
    os.rename(b / ".part-u-0.jsonl.inprogress.1", b / "part-u-0.jsonl")  # Flink commits the part
    assert loader.load_new()["tickets"] == 1
    (b / "part-u-1.jsonl").write_text(json.dumps(dict(day.TICKETS[1], _t="tickets")) + "\n\n")
    assert loader.load_new()["tickets"] == 1
    assert loader.totals["tickets"] == 2 and loader.files_loaded == 2


def test_missing_columns_take_defaults_and_unknown_keys_are_skipped(fresh, tmp_path):
    b = tmp_path / "out" / "x"
    b.mkdir(parents=True)
    (b / "part-0.jsonl").write_text(
        json.dumps({"_t": "dead_letters", "source": "f.jsonl", "offset": 3, "code": "bad_json", "extra": [1, 2]}) + "\n"
        + json.dumps({"_t": "job_stats", "run_id": "r1", "subtask": 0, "seq": 5, "watermark": None, "open_tickets": 7}) + "\n"
        + json.dumps({"_t": "not_a_table", "x": 1}) + "\n"
        + "not json at all\n"
    )
    counts = OutputLoader(fresh, tmp_path / "out").load_new()
    assert counts["dead_letters"] == 1 and counts["job_stats"] == 1
    got = fresh.query_rows("SELECT source, partition, offset, code, detail, raw FROM sitcen.dead_letters")
    assert got == [{"source": "f.jsonl", "partition": 0, "offset": 3, "code": "bad_json", "detail": "", "raw": ""}]
    js = fresh.query_rows("SELECT run_id, seq, watermark, open_tickets, pending_timers FROM sitcen.job_stats")
    assert js == [{"run_id": "r1", "seq": 5, "watermark": None, "open_tickets": 7, "pending_timers": 0}]


def test_odd_file_names_are_read_one_by_one(fresh, tmp_path):
    b = tmp_path / "out" / "bucket,{1}"
    b.mkdir(parents=True)
    (b / "part-[a]-0.jsonl").write_text(json.dumps(dict(day.RATINGS[0], _t="ratings")) + "\n")
    (b / "part-b-1.jsonl").write_text(json.dumps(dict(day.RATINGS[1], _t="ratings")) + "\n")
    assert OutputLoader(fresh, tmp_path / "out").load_new()["ratings"] == 2
    assert fresh.query_value("SELECT count() FROM sitcen.ratings FINAL") == 2


def test_synthetic_output_loads_completely(fresh, tmp_path):
    written = write_synthetic(tmp_path / "out", rows=5000, files=4)
    counts = OutputLoader(fresh, tmp_path / "out").load_new()
    assert counts == written
    assert fresh.query_value("SELECT count() FROM sitcen.tickets WHERE ticket_id = 'IN-PROGRESS'") == 0


def test_streaming_the_lines_gives_the_same_answers_as_reading_the_files(fresh, tmp_path):
    """The server path (lines split by table in Python, raw JSONEachRow inserts), run on chDB."""
    out = tmp_path / "out"
    day.write_output_dir(out, files=3)
    (out / "2026-11-24--09" / ".part-9.inprogress").write_text('{"_t":"tickets","ticket_id":"HIDDEN"}\n')
    streamed = OutputLoader(fresh, out, mode="stream")
    counts = streamed.load_new()
    assert counts == {t: len(day.all_rows().get(t, [])) for t in OUTPUT_TABLES}
    got = answers(fresh)
    fresh.command("DROP DATABASE sitcen")
    schema.ensure(fresh)
    schema.load_branches(fresh, day.BRANCHES)
    OutputLoader(fresh, out, mode="file").load_new()
    assert answers(fresh) == got


def test_file_mode_needs_the_embedded_engine():
    class Server:
        embedded = False

    with pytest.raises(ValueError, match="embedded"):
        OutputLoader(Server(), "/tmp", mode="file")
    assert OutputLoader(Server(), "/tmp").mode == "stream"
