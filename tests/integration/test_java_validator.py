"""The job's Java validator (`jobs/udf/java/sitcen/udf/`) against the shared corpus and the Python
reference: same code for every line, same ts_ms and size for valid ones, same detail (except the
wording of JSON parse errors, which comes from each side's parser). Then the table function
itself, inside a PyFlink mini-cluster job that reads raw lines from a file."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from schemas.codes import VALIDATOR_CODES
from schemas.corpus import bad_cases, good_cases
from schemas.validate import DeadLetter, Event, validate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def java_cmd() -> list[str]:
    if shutil.which("java") is None:
        pytest.fail("java not found; install a JDK 17: apt-get install openjdk-17-jdk-headless")
    from jobs.udf import flink_lib_dir, jar_path

    return ["java", "-cp", f"{jar_path()}:{flink_lib_dir()}/*", "sitcen.udf.ValidateEvent"]


def run_java(java_cmd: list[str], lines: list[bytes], *, detail: bool = True) -> list[tuple[str, ...]]:
    for line in lines:
        assert b"\n" not in line
    proc = subprocess.run(
        java_cmd + (["--detail"] if detail else []),
        input=b"".join(line + b"\n" for line in lines),
        capture_output=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    out = proc.stdout.decode("utf-8").split("\n")
    assert out[-1] == ""
    rows = [tuple(row.split("\t", 3 if detail else 1)) for row in out[:-1]]
    assert len(rows) == len(lines)
    return rows


def python_row(raw: bytes) -> tuple[str, str, str, str]:
    r = validate(raw)
    size = str(len(raw) - raw.endswith(b"\r"))
    if type(r) is Event:
        return ("OK", str(r.ts_ms), size, "")
    assert type(r) is DeadLetter
    return (r.code, "", size, r.detail)


#: invalid_json details worded alike on both sides. Parse errors quote each side's JSON parser, and
#: of two duplicate keys Python names the one in the object that closes first, Jackson the one it
#: reads first (the corpus pins the details of its own cases on both sides).
SAME_WORDING = ("not valid UTF-8", "not strict JSON: unpaired")


def assert_same(raw: bytes, java: tuple[str, ...], name: str) -> None:
    code, ts_ms, size, detail = java
    p_code, p_ts, p_size, p_detail = python_row(raw)
    where = f"{name}: {raw[:160]!r}"
    assert code == p_code, f"{where}\n java: {code} {detail}\n python: {p_code} {p_detail}"
    assert size == p_size, where
    assert code == "OK" or code in VALIDATOR_CODES
    if code == "OK":
        assert ts_ms == p_ts, where
    elif code != "invalid_json" or p_detail.startswith(SAME_WORDING):
        assert detail == p_detail, f"{where}\n java: {detail}\n python: {p_detail}"
    assert not detail.startswith("validator error"), where


def test_corpus_same_codes_in_java_and_python(java_cmd):
    good = good_cases()
    bad = bad_cases()
    lines = [c.raw for c in good] + [c.raw for c in bad]
    rows = run_java(java_cmd, lines)
    for case, row in zip(good, rows[: len(good)]):
        assert_same(case.raw, row, case.name)
        assert row[0] == "OK", (case.name, row)
        assert int(row[1]) == case.ts_ms, case.name
    for case, row in zip(bad, rows[len(good) :]):
        assert_same(case.raw, row, case.name)
        assert row[0] == case.code, (case.name, case.why, row)
        if case.detail is not None:
            assert row[3] == case.detail, (case.name, row)


def test_plain_output_is_code_and_ts_ms(java_cmd):
    good = good_cases(generated=False)[:3]
    rows = run_java(java_cmd, [c.raw for c in good] + [b"[]", b""], detail=False)
    assert rows == [("OK", str(c.ts_ms)) for c in good] + [("not_object", ""), ("invalid_json", "")]


def _mutations(rnd: random.Random, n: int) -> list[bytes]:
    """Seeded random damage to the good corpus: the same kinds of edits as the property tests."""
    docs = [json.loads(c.raw) for c in good_cases(generated=False)]
    values = [None, True, 0, 1, 5, 6, -1, 2**63, 1.0, 5.5, "", "x" * 65, "🙂" * 65, [], {}, [1, {"a": "b"}],
              "queue", "theory_exam", "passed", "PASSED", "passport", "driver_license", "heartbeat", "ticket_issued",
              "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2026-11-24T09:00:00", "ж" * 1001, "\ud800",
              "2026-11-24T24:00:00+05:00", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999-23:59"]
    keys = ["event_id", "type", "ts", "branch_id", "ticket_id", "service", "stage", "staff_id", "result", "rating",
            "reason", "schema", "extra", "Type", "ключ"]
    out = []
    while len(out) < n:
        doc = dict(rnd.choice(docs))
        for _ in range(rnd.randint(1, 3)):
            op = rnd.random()
            if op < 0.1 and doc:
                doc.pop(rnd.choice(list(doc)))
            elif op < 0.2:
                key = "rating" if doc.get("type") == "rating_submitted" else "schema"
                doc[key] = rnd.choice([rnd.randint(-2, 8), 2**31, -(2**63), 2**64])
            elif op < 0.7:
                doc[rnd.choice(keys)] = rnd.choice(values)
            elif op < 0.9 and isinstance(doc.get("ts"), str) and doc["ts"]:
                ts = doc["ts"]
                i = rnd.randrange(len(ts))
                doc["ts"] = ts[:i] + rnd.choice("0123456789:-+.TZz ") + ts[i + 1 :]
            else:
                doc["type"] = rnd.choice(["ticket_issued", "stage_started", "stage_finished", "document_issued",
                                          "ticket_cancelled", "rating_submitted", "heartbeat", "other"])
        raw = json.dumps(doc, ensure_ascii=rnd.random() < 0.5).encode("utf-8", "surrogatepass")
        if rnd.random() < 0.15:
            i = rnd.randrange(len(raw) + 1)
            raw = raw[:i] + bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 3))) + raw[i + rnd.randint(0, 2) :]
        if rnd.random() < 0.05:
            raw += b"\r"
        out.append(raw.replace(b"\n", b" "))
    for _ in range(n // 10):
        out.append(bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 40))).replace(b"\n", b"\r"))
    for _ in range(n // 50):
        out.append(json.dumps(rnd.choice(values)).encode("utf-8"))
    return out


def test_random_mutations_agree(java_cmd):
    lines = _mutations(random.Random(20261124), 6000)
    rows = run_java(java_cmd, lines)
    codes = set()
    for i, (raw, row) in enumerate(zip(lines, rows)):
        assert_same(raw, row, f"mutation {i}")
        codes.add(row[0])
    assert codes >= set(VALIDATOR_CODES) - {"oversized"} | {"OK"}


# --------------------------------------------------------------------------------------------
# The table function in a PyFlink job
# --------------------------------------------------------------------------------------------


def test_table_function_in_pyflink(tmp_path: Path):
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from jobs.udf import jar_path

    lines = [
        b'{"event_id":"ev-1","type":"ticket_issued","ts":"2026-11-24T09:00:00.123+05:00","branch_id":"spec-almaty",'
        b'"ticket_id":"T-1","service":"driver_license"}',
        b'{"event_id":"ev-2","type":"heartbeat","ts":"2026-11-24T04:00:00Z","branch_id":"spec-almaty"}\r',
        b"not json",
        b'{"event_id":"ev-3","type":"heartbeat","ts":"2026-11-24T09:00:00","branch_id":"spec-almaty"}',
        b'{"event_id":"ev-4","type":"rating_submitted","ts":"2026-11-24T09:00:00Z","branch_id":"b","ticket_id":"T",'
        b'"staff_id":"s","rating":5.0}',
        b'{"event_id":"ev-\xff"}',
        b"[]",
    ]
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    config.set("pipeline.jars", jar_path().resolve().as_uri())
    config.set("restart-strategy.type", "none")
    config.set("parallelism.default", "1")
    t_env.create_java_temporary_function("validate_event", "sitcen.udf.ValidateEvent")
    t_env.execute_sql(
        f"CREATE TABLE con_lines (line BYTES) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'raw')"
    )
    result = t_env.execute_sql(
        "SELECT v.code, v.ts_ms, v.event_id, v.size, v.rating "
        "FROM con_lines AS l, LATERAL TABLE(validate_event(l.line)) AS v"
    )
    with result.collect() as rows:
        got = [tuple(r) for r in rows]
    assert got == [
        (None, 1795492800123, "ev-1", len(lines[0]), None),
        (None, 1795492800000, "ev-2", len(lines[1]) - 1, None),
        ("invalid_json", None, None, 8, None),
        ("bad_timestamp", None, "ev-3", len(lines[3]), None),
        ("wrong_type", None, "ev-4", len(lines[4]), None),
        ("invalid_json", None, None, len(lines[5]), None),
        ("not_object", None, None, 2, None),
    ]
    # the same answers as the reference
    for line, row in zip(lines, got):
        r = validate(line)
        assert row[0] == (None if type(r) is Event else r.code)
        if type(r) is Event:
            assert (row[1], row[2], row[3]) == (r.ts_ms, r.event_id, r.size)


# --------------------------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------------------------


def test_build_is_idempotent(java_cmd):
    from jobs.udf import jar_path
    from jobs.udf.__main__ import CLASSES_DIR, JAR, is_stale

    before = JAR.stat().st_mtime_ns
    assert jar_path() == JAR and not is_stale()
    assert JAR.stat().st_mtime_ns == before
    assert (CLASSES_DIR / "sitcen" / "udf" / "ValidateEvent.class").exists()


def test_build_without_javac_says_what_to_install(monkeypatch):
    from jobs.udf import __main__ as build_module

    monkeypatch.setattr(build_module.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(build_module.BuildError, match="apt-get install openjdk-17-jdk-headless"):
        build_module.build(force=True)
