"""The ClickHouse client: DSNs, the embedded store and its lock, the schema, inserts."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sinks import schema
from sinks.clickhouse import (
    DsnError,
    connect,
    default_dsn,
    parse_dsn,
    parse_instant,
)

UTC = dt.timezone.utc
REPO = Path(__file__).resolve().parents[2]


# -- DSNs ----------------------------------------------------------------------------------------


def test_default_dsn_is_the_store_under_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_dsn() == f"chdb://{tmp_path}/.sitcen/store"
    d = parse_dsn(None)
    assert (d.kind, d.path, d.embedded) == ("chdb", f"{tmp_path}/.sitcen/store", True)


@pytest.mark.parametrize(
    "dsn, expected",
    [
        ("chdb:///var/lib/sitcen", ("chdb", "/var/lib/sitcen", "", 0, False, "", "sitcen")),
        ("chdb:///var/lib/sitcen/", ("chdb", "/var/lib/sitcen", "", 0, False, "", "sitcen")),
        ("chdb://memory", ("chdb", None, "", 0, False, "", "sitcen")),
        ("http://ops:s3cret@ch.local:8123", ("http", None, "ch.local", 8123, False, "ops", "sitcen")),
        ("http://ch.local", ("http", None, "ch.local", 8123, False, "", "sitcen")),
        ("https://ops:pw@ch.example.kz/loadtest", ("http", None, "ch.example.kz", 8443, True, "ops", "loadtest")),
        ("HTTPS://ops:p%40ss@ch:9443/", ("http", None, "ch", 9443, True, "ops", "sitcen")),
    ],
)
def test_accepted_dsns(dsn, expected):
    d = parse_dsn(dsn)
    assert (d.kind, d.path, d.host, d.port, d.secure, d.username, d.database) == expected


def test_password_is_kept_but_never_displayed():
    d = parse_dsn("https://ops:p%40ss@ch:9443/")
    assert d.password == "p@ss"
    assert "p@ss" not in d.display() and "p@ss" not in repr(d)
    assert d.display() == "https://ops@ch:9443"


@pytest.mark.parametrize(
    "dsn, problem",
    [
        ("", "empty"),
        ("chdb://relative/path", "absolute"),
        ("chdb:///", "absolute"),
        ("chdb:///x?y=1", "no query"),
        ("/var/lib/sitcen", "chdb:///var/lib/sitcen"),
        ("tcp://ch:9000", "unknown scheme"),
        ("ch.local:8123", "unknown scheme"),
        ("http://", "no host"),
        ("http://ch:port", "port"),
        ("http://ch:8123/bad-db", "identifier"),
    ],
)
def test_bad_dsns_name_the_accepted_forms(dsn, problem):
    with pytest.raises(DsnError) as err:
        parse_dsn(dsn)
    message = str(err.value)
    assert problem in message
    assert "chdb:///absolute/path" in message and "chdb://memory" in message and "http(s)://" in message


def test_parse_instant_forms():
    want = dt.datetime(2026, 11, 24, 4, 0, 0, 123000, tzinfo=UTC)
    assert parse_instant("2026-11-24 04:00:00.123") == want
    assert parse_instant("2026-11-24T04:00:00.123Z") == want
    assert parse_instant("2026-11-24T09:00:00.123+05:00") == want
    assert parse_instant(1795492800123) == want
    assert parse_instant(None) is None and parse_instant("") is None


# -- one in-memory engine for the in-process tests -----------------------------------------------


@pytest.fixture(scope="module")
def mem():
    client = connect("chdb://memory")
    try:
        client.command("DROP DATABASE IF EXISTS sitcen")
        yield client
    finally:
        client.close()


def test_schema_applies_twice(mem):
    schema.ensure(mem)
    schema.ensure(mem)
    tables = {r["name"] for r in mem.query_rows("SHOW TABLES FROM sitcen")}
    assert set(schema.TABLES) <= tables
    assert {"branch_hour", "branch_day", "tickets_open", "alerts_standing"} <= tables


def test_ddl_statements_split_on_semicolon_lines():
    stmts = schema.split_statements("-- c\nCREATE A\n;\n\n-- only a comment\n;\nCREATE B;\n  ;  \n")
    assert stmts == ["-- c\nCREATE A", "CREATE B;"]
    assert schema.ddl_statements()[0].endswith("CREATE DATABASE IF NOT EXISTS sitcen")


def test_a_second_client_on_another_store_in_the_same_process_is_refused(mem, tmp_path):
    from sinks.clickhouse import ClickHouseError

    with pytest.raises(ClickHouseError, match="one store per process"):
        connect(f"chdb://{tmp_path}/store")


def test_insert_rows_is_columnar_with_defaults_and_timestamp_strings(mem):
    schema.ensure(mem)
    rows = [
        {"event_id": "e1", "ticket_id": "T1", "branch_id": "b1", "staff_id": "s1", "rating": 5,
         "ts": "2026-11-24 04:00:00.123", "version": 1},
        {"event_id": "e2", "ticket_id": "T2", "branch_id": "b1", "staff_id": "s2", "rating": 3,
         "ts": "2026-11-24T09:00:01.5+05:00"},  # no version: default 0
    ]
    assert mem.insert_rows("ratings", rows, batch_rows=1) == 2
    got = mem.query_rows("SELECT event_id, rating, ts, version, is_deleted FROM sitcen.ratings FINAL ORDER BY event_id")
    assert got == [
        {"event_id": "e1", "rating": 5, "ts": dt.datetime(2026, 11, 24, 4, 0, 0, 123000, tzinfo=UTC), "version": 1,
         "is_deleted": 0},
        {"event_id": "e2", "rating": 3, "ts": dt.datetime(2026, 11, 24, 4, 0, 1, 500000, tzinfo=UTC), "version": 0,
         "is_deleted": 0},
    ]


def test_insert_rows_rejects_unknown_columns(mem):
    from sinks.clickhouse import ClickHouseError

    schema.ensure(mem)
    with pytest.raises(ClickHouseError, match="no column"):
        mem.insert_rows("ratings", [{"event_id": "x", "colour": "red"}])


def test_final_reads_the_latest_version_and_drops_deleted_rows(mem):
    schema.ensure(mem)
    base = {"branch_id": "b9", "window_start": "2026-11-24 04:00:00"}
    mem.insert_rows("branch_minute", [dict(base, tickets_issued=1, version=1)])
    mem.insert_rows("branch_minute", [dict(base, tickets_issued=3, version=2)])
    mem.insert_rows("branch_minute", [dict(base, tickets_issued=2, version=1)])  # an older replay: loses
    assert mem.query_value("SELECT tickets_issued FROM sitcen.branch_minute FINAL WHERE branch_id = 'b9'") == 3
    assert mem.query_value("SELECT sum(tickets_issued) FROM sitcen.branch_hour WHERE branch_id = 'b9'") == 3
    mem.insert_rows("branch_minute", [dict(base, version=3, is_deleted=1)])
    assert mem.query_value("SELECT count() FROM sitcen.branch_minute FINAL WHERE branch_id = 'b9'") == 0


def test_load_branches_from_hand_made_rows_twice(mem):
    schema.ensure(mem)
    row = {
        "branch_id": "b1", "name": "ЦОН", "city": "Астана", "region": "Астана", "kind": "general",
        "status": "planned", "planned_opening": "2027-01-01", "timezone": "Asia/Almaty", "windows": 3,
        "hours_mon": "09:00-18:00",
    }
    assert schema.load_branches(mem, [row]) == 1
    schema.load_branches(mem, [row])
    got = mem.query_rows("SELECT branch_id, planned_opening, hours_tue FROM sitcen.branches FINAL")
    assert got == [{"branch_id": "b1", "planned_opening": dt.date(2027, 1, 1), "hours_tue": ""}]


def test_load_the_shipped_catalog(mem):
    catalog = pytest.importorskip("schemas.catalog")
    schema.ensure(mem)
    rows = catalog.to_rows(catalog.load_catalog())
    assert schema.load_branches(mem, rows) == len(rows) >= 166
    ids = [r["branch_id"] for r in rows]
    assert mem.query_value("SELECT count() FROM sitcen.branches FINAL WHERE has({ids:Array(String)}, branch_id)", {"ids": ids}) == len(rows)


def test_a_database_named_in_the_dsn_rewrites_qualified_names(mem):
    from dataclasses import replace

    from sinks.clickhouse import Client

    other = Client(mem.raw, replace(mem.dsn, database="sitcen_b"))
    assert other.sql("SELECT * FROM sitcen.tickets FINAL -- sitcen report") == "SELECT * FROM sitcen_b.tickets FINAL -- sitcen report"
    schema.ensure(other)
    assert "tickets" in {r["name"] for r in mem.query_rows("SHOW TABLES FROM sitcen_b")}


# -- the lock: one process per store -------------------------------------------------------------

HOLD = textwrap.dedent(
    """
    import sys, time
    from sinks.clickhouse import connect
    c = connect(sys.argv[1])
    c.command("CREATE DATABASE IF NOT EXISTS sitcen")
    print("ready", flush=True)
    sys.stdin.readline()
    """
)
TRY = textwrap.dedent(
    """
    import sys
    from sinks.clickhouse import connect, StoreLockedError
    try:
        connect(sys.argv[1])
    except StoreLockedError as exc:
        print("LOCKED:", exc)
        sys.exit(3)
    print("OPENED")
    """
)


def _py(code: str, *args: str, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=env, text=True, **kw)


def test_a_store_held_by_another_process_gives_a_clear_error(tmp_path):
    store = tmp_path / "store"
    dsn = f"chdb://{store}"
    holder = _py(HOLD, dsn, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "ready"
        second = _py(TRY, dsn, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 3, (out, err)
        assert f"LOCKED: another sitcen process is using {store}; stop it or pass --clickhouse" in out
    finally:
        holder.communicate("\n", timeout=120)
    # released when the holder exits
    third = _py(TRY, dsn, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, _ = third.communicate(timeout=120)
    assert third.returncode == 0 and "OPENED" in out


def test_compact_keeps_the_answers(mem):
    schema.ensure(mem)
    base = {"branch_id": "b8", "window_start": "2026-11-24 05:00:00"}
    for v in (1, 3, 2):
        mem.insert_rows("branch_minute", [dict(base, tickets_issued=v, version=v)])
    before = mem.query_rows("SELECT * FROM sitcen.branch_minute FINAL ORDER BY branch_id, window_start")
    schema.compact(mem)
    assert mem.query_rows("SELECT * FROM sitcen.branch_minute FINAL ORDER BY branch_id, window_start") == before
    assert mem.query_value("SELECT count() FROM sitcen.branch_minute WHERE branch_id = 'b8'") == 1


def test_engine_errors_become_query_errors_naming_the_store(mem):
    from sinks.clickhouse import QueryError

    with pytest.raises(QueryError, match=r"ClickHouse \(chdb://memory\): .*UNKNOWN_TABLE|doesn't exist"):
        mem.query_rows("SELECT * FROM sitcen.no_such_table")
