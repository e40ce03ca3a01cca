"""Event contract v1 (DESIGN §3): the reference validator against the shared corpus and every rule,
the dead-letter code list, and the JSON Schema generated from the pydantic models."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from schemas import codes
from schemas.corpus import BAD, GOOD, bad_cases, good_cases
from schemas.events import con_event_adapter, json_schema, json_schema_text
from schemas.validate import (
    ALLOWED,
    EVENT_STAGES,
    FIELDS,
    REQUIRED,
    SERVICES,
    TYPES,
    DeadLetter,
    Event,
    loads_strict,
    parse_ts,
    validate,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "con_event.v1.schema.json"
GOOD_CASES = good_cases()
BAD_CASES = bad_cases()

#: Codes the JSON Schema cannot express at all: it sees a parsed document, never the bytes.
SCHEMA_BLIND_CODES = {
    "oversized": "a size in bytes of the raw message",
    "invalid_json": "the document must parse first (and parsers drop duplicate keys silently)",
}


def _result(raw: bytes):
    r = validate(raw)
    assert type(r) in (Event, DeadLetter), r
    return r


# --------------------------------------------------------------------------------------------
# Code list
# --------------------------------------------------------------------------------------------


def test_codes_are_pinned_in_order():
    assert codes.CODE_NAMES == (
        "oversized",
        "invalid_json",
        "not_object",
        "missing_field",
        "field_not_allowed",
        "wrong_type",
        "unknown_enum",
        "bad_timestamp",
        "bad_length",
        "rating_out_of_range",
        "bad_schema_version",
        "service_mismatch",
    )
    assert codes.VALIDATOR_CODES == codes.CODE_NAMES[:-1]
    assert all(c.description for c in codes.CODES)
    assert [codes.RANK[c] for c in codes.CODE_NAMES] == list(range(12))


def test_docs_list_the_codes_in_order():
    text = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    table = text[text.index("## Dead-letter codes") :]
    found = re.findall(r"^\| \d+ \| `([a-z_]+)` \|", table, flags=re.M)
    assert tuple(found) == codes.CODE_NAMES


# --------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------


def test_corpus_files_are_well_formed():
    assert len(GOOD_CASES) >= 20
    per_code = Counter(c.code for c in BAD_CASES)
    for code in codes.VALIDATOR_CODES:
        assert per_code[code] >= 2, code
    assert set(per_code) <= set(codes.VALIDATOR_CODES)
    for line in BAD.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        assert entry["why"]
        assert ("line" in entry) != ("line_b64" in entry), entry
        assert set(entry) <= {"code", "why", "line", "line_b64", "repeat", "pad_to", "pad_char", "detail",
                              "schema_blind"}
    # A line per message: no newline byte inside a line; nothing huge is committed.
    for c in GOOD_CASES + BAD_CASES:
        assert b"\n" not in c.raw, c.name
    for path in (GOOD, BAD):
        assert max(map(len, path.read_bytes().split(b"\n"))) < 8192


@pytest.mark.parametrize("case", GOOD_CASES, ids=lambda c: c.name)
def test_good_line(case):
    r = _result(case.raw)
    assert isinstance(r, Event), r
    assert r.event_id == case.event_id
    assert r.ts_ms == case.ts_ms
    assert r.size == case.size
    # The fields are the document's own values; absent ones are None.
    doc = json.loads(case.raw)
    for f in FIELDS:
        if f != "schema":
            assert getattr(r, f) == doc.get(f), f
    # A str of the same text gives the same event.
    assert validate(case.raw.decode("utf-8")) == r


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_bad_line(case):
    r = _result(case.raw)
    assert isinstance(r, DeadLetter), f"{case.why}: valid"
    assert (r.code, case.why) == (case.code, case.why)
    assert r.detail and not r.detail.startswith("validator error")
    if case.detail is not None:
        assert r.detail == case.detail
    try:
        text = case.raw.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert validate(text) == r


def test_good_corpus_covers_the_contract():
    events = [validate(c.raw) for c in GOOD_CASES]
    assert {e.type for e in events} == set(TYPES)
    assert {e.service for e in events} >= set(SERVICES)
    assert {e.stage for e in events if e.stage} == set(EVENT_STAGES)
    assert {e.result for e in events} >= {"passed", "failed", None}
    assert {e.rating for e in events} >= {1, 5}
    stamps = [e.ts for e in events]
    assert any(t.endswith("Z") for t in stamps)
    assert any(t.endswith("z") and "t" in t for t in stamps)
    assert any(t.endswith("+05:00") for t in stamps) and any(t.endswith("-03:30") for t in stamps)
    fractions = {len(m.group(1)) for t in stamps if (m := re.search(r"\.(\d+)", t))}
    assert {1, 3, 9} <= fractions
    assert any(b'"schema":1' in c.raw for c in GOOD_CASES)
    assert any(len(e.event_id) == 64 for e in events)
    assert any(e.staff_id and len(e.staff_id) == 64 and not e.staff_id.isascii() for e in events)
    assert any(len(e.event_id) == 64 and len(e.event_id.encode("utf-16-le")) == 256 for e in events)  # non-BMP
    assert any(e.reason and not e.reason.isascii() for e in events)
    # service repeated on later ticket events
    assert any(e.service and e.type != "ticket_issued" for e in events)
    assert max(e.size for e in events) == 65536


def test_every_code_has_a_case_that_exercises_the_order():
    # A line with several problems gets the earliest code: each code has at least one corpus case
    # whose line also breaks a rule checked later.
    ordered = [c for c in BAD_CASES if re.search(r"\b(before|wins)\b", c.why)]
    assert {c.code for c in ordered} >= set(codes.VALIDATOR_CODES) - {"not_object", "bad_schema_version"}


# --------------------------------------------------------------------------------------------
# DESIGN §3 rules, one by one
# --------------------------------------------------------------------------------------------

TS = "2026-11-24T09:00:00+05:00"
TS_MS = 1795492800000


def minimal(type_: str) -> dict:
    """The smallest valid event of a type."""
    doc = {"event_id": "ev-1", "type": type_, "ts": TS, "branch_id": "spec-astana"}
    for f in REQUIRED[type_]:
        doc[f] = {"ticket_id": "T-1", "service": "driver_license", "stage": "intake", "staff_id": "mvd-1",
                  "rating": 4}[f]
    return doc


def check(doc, **kw) -> Event | DeadLetter:
    raw = doc if isinstance(doc, (bytes, str)) else json.dumps(doc, ensure_ascii=False)
    return validate(raw, **kw)


def code_of(doc, **kw) -> str:
    r = check(doc, **kw)
    return "OK" if isinstance(r, Event) else r.code


@pytest.mark.parametrize("type_", TYPES)
def test_minimal_event_of_every_type(type_):
    r = check(minimal(type_))
    assert isinstance(r, Event) and r.type == type_ and r.ts_ms == TS_MS


@pytest.mark.parametrize("type_", TYPES)
def test_required_fields(type_):
    for f in ("event_id", "type", "ts", "branch_id", *REQUIRED[type_]):
        doc = minimal(type_)
        del doc[f]
        r = check(doc)
        assert r.code == "missing_field", (type_, f)
        assert f'"{f}"' in r.detail


@pytest.mark.parametrize("type_", TYPES)
def test_allowed_fields(type_):
    value = {
        "ticket_id": "T-1",
        "service": "driver_license",
        "stage": "intake",
        "staff_id": "mvd-1",
        "result": "passed",
        "rating": 3,
        "reason": "no show",
        "schema": 1,
    }
    for f, v in value.items():
        doc = {**minimal(type_), f: v}
        allowed = f in ALLOWED[type_]
        assert code_of(doc) == ("OK" if allowed else "field_not_allowed"), (type_, f)
    assert code_of({**minimal(type_), "extra": "x"}) == "field_not_allowed"


def test_allowed_sets_match_design():
    common = {"event_id", "type", "ts", "branch_id", "schema"}
    ticket = common | {"ticket_id", "service"}
    assert ALLOWED["heartbeat"] == common
    assert ALLOWED["ticket_issued"] == ALLOWED["document_issued"] == ticket
    assert ALLOWED["stage_started"] == ALLOWED["stage_finished"] == ticket | {"stage", "staff_id"}
    assert ALLOWED["ticket_cancelled"] == ticket | {"reason"}
    assert ALLOWED["rating_submitted"] == ticket | {"staff_id", "rating"}


@pytest.mark.parametrize("stage", EVENT_STAGES)
def test_result_only_on_exam_stage_finished(stage):
    doc = {**minimal("stage_finished"), "stage": stage, "result": "failed"}
    assert code_of(doc) == ("OK" if stage.endswith("_exam") else "field_not_allowed")
    assert code_of({**doc, "type": "stage_started"}) == "field_not_allowed"


def test_queue_has_no_events():
    for t in ("stage_started", "stage_finished"):
        r = check({**minimal(t), "stage": "queue"})
        assert r.code == "unknown_enum" and "queue" in r.detail and "no events of its own" in r.detail


@pytest.mark.parametrize("type_", [t for t in TYPES if t != "heartbeat"])
def test_service_may_repeat_on_any_ticket_event(type_):
    assert code_of({**minimal(type_), "service": "plates_issue"}) == "OK"
    assert code_of({**minimal(type_), "service": "passport"}) == "unknown_enum"


@pytest.mark.parametrize(
    "value, code",
    [(1, "OK"), (5, "OK"), (3, "OK"), (0, "rating_out_of_range"), (6, "rating_out_of_range"),
     (-5, "rating_out_of_range"),
     ("5", "wrong_type"), (5.0, "wrong_type"), (True, "wrong_type"), (None, "wrong_type"), ([5], "wrong_type")],
)
def test_rating_is_a_strict_integer_1_to_5(value, code):
    assert code_of({**minimal("rating_submitted"), "rating": value}) == code


@pytest.mark.parametrize(
    "value, code",
    [(1, "OK"), (2, "bad_schema_version"), (0, "bad_schema_version"), ("1", "wrong_type"), (1.0, "wrong_type"),
     (True, "wrong_type"), (None, "wrong_type")],
)
def test_schema_must_be_1(value, code):
    assert code_of({**minimal("heartbeat"), "schema": value}) == code


@pytest.mark.parametrize("field", ["event_id", "ts", "branch_id", "ticket_id", "service", "staff_id", "reason"])
@pytest.mark.parametrize("value", [None, 1, 1.5, True, [], {}])
def test_string_fields_reject_other_json_types(field, value):
    type_ = {"staff_id": "stage_started", "reason": "ticket_cancelled"}.get(field, "ticket_issued")
    r = check({**minimal(type_), field: value})
    assert r.code == "wrong_type" and f'"{field}"' in r.detail


def test_null_counts_as_present():
    assert check({**minimal("ticket_issued"), "service": None}).code == "wrong_type"
    assert check({**minimal("heartbeat"), "type": None}).code == "wrong_type"


def test_string_lengths_count_code_points():
    for f, type_ in (("event_id", "heartbeat"), ("branch_id", "heartbeat"), ("ticket_id", "document_issued"),
                     ("staff_id", "stage_started")):
        for ch in ("a", "ж", "🙂"):
            assert code_of({**minimal(type_), f: ch * 64}) == "OK", (f, ch)
            assert code_of({**minimal(type_), f: ch * 65}) == "bad_length", (f, ch)
        assert code_of({**minimal(type_), f: ""}) == "bad_length"
    assert code_of({**minimal("ticket_cancelled"), "reason": "🙂" * 1000}) == "OK"
    assert code_of({**minimal("ticket_cancelled"), "reason": "🙂" * 1001}) == "bad_length"
    assert code_of({**minimal("ticket_cancelled"), "reason": ""}) == "OK"


def _utc_ms(ts: str) -> int:
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))", ts)
    y, mo, d, h, mi, s, frac, sign, oh, om = m.groups()
    local = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=timezone.utc)
    off = timedelta(hours=int(oh or 0), minutes=int(om or 0)) * (-1 if sign == "-" else 1)
    return ((local - datetime(1970, 1, 1, tzinfo=timezone.utc)) - off) // timedelta(milliseconds=1) + int(
        (frac or "0")[:3].ljust(3, "0")
    )


@pytest.mark.parametrize(
    "ts",
    [
        "2026-11-24T04:00:00Z",
        "2026-11-24T09:00:00+05:00",
        "2026-11-24T09:00:00.1+05:00",
        "2026-11-24T09:00:00.12+05:00",
        "2026-11-24T09:00:00.123+05:00",
        "2026-11-24T09:00:00.1239+05:00",
        "2026-11-24T09:00:00.123456789+05:00",
        "2026-11-24T00:30:00-03:30",
        "2026-11-24t04:00:00z",
        "2024-02-29T00:00:00Z",
        "2000-02-29T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59.999-23:59",
        "2026-11-24T04:00:00-00:00",
    ],
)
def test_timestamps_become_utc_milliseconds(ts):
    assert parse_ts(ts) == _utc_ms(ts)
    r = check({**minimal("heartbeat"), "ts": ts})
    assert isinstance(r, Event) and r.ts_ms == _utc_ms(ts) and r.ts == ts


@pytest.mark.parametrize(
    "ts",
    [
        "2026-11-24T09:00:00",
        "2026-11-24T09:00:00.123",
        "2026-11-24 09:00:00Z",
        "2026-11-24T09:00:00+05",
        "2026-11-24T9:00:00Z",
        "2026-11-24T09:00:00Z ",
        "2026-11-24T09:00:00Z\n",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-06-31T00:00:00Z",
        "2026-11-24T23:59:60Z",
        "2026-11-24T09:00:00+23:60",
        "1969-12-31T23:59:59Z",
        "",
    ],
)
def test_bad_timestamps(ts):
    assert isinstance(parse_ts(ts), str)
    assert code_of({**minimal("heartbeat"), "ts": ts}) == "bad_timestamp"


def test_oversized_boundary_and_max_bytes():
    base = json.dumps(minimal("heartbeat"))[:-1]
    exact = base + " " * (65536 - len(base) - 1) + "}"
    assert len(exact) == 65536 and code_of(exact) == "OK"
    assert code_of(exact + " ") == "oversized"
    assert code_of(exact.encode() + b"\r") == "OK"
    assert code_of(exact.encode() + b"\r\r") == "oversized"
    assert code_of(json.dumps(minimal("heartbeat")), max_bytes=50) == "oversized"
    # a str is measured in UTF-8 bytes
    cyr = json.dumps({**minimal("ticket_cancelled"), "reason": "ж" * 40000}, ensure_ascii=False)
    assert len(cyr) < 65536 < len(cyr.encode())
    assert code_of(cyr) == "oversized"


def test_one_trailing_cr_is_stripped():
    line = json.dumps(minimal("heartbeat")).encode()
    plain = check(line)
    assert check(line + b"\r") == plain and plain.size == len(line)
    assert check(line.decode() + "\r") == plain
    # a second CR is JSON whitespace and counts in the size
    assert check(line + b"\r\r").size == len(line) + 1
    # only a trailing one: a CR elsewhere is JSON whitespace as usual
    assert isinstance(check(b"\r" + line), Event)


def test_strict_json():
    ok = json.dumps(minimal("rating_submitted"))
    assert code_of(ok.replace('"rating": 4', '"rating": NaN')) == "invalid_json"
    assert code_of(ok.replace('"rating": 4', '"rating": Infinity')) == "invalid_json"
    assert code_of(ok + " {}") == "invalid_json"
    assert code_of(ok[:-1] + ', "event_id": "again"}') == "invalid_json"
    assert code_of(ok[:-1] + ', "x": {"y": [{"z": 1, "z": 1}]}}') == "invalid_json"
    assert code_of(ok.encode("utf-16")) == "invalid_json"
    assert code_of(b"\xef\xbb\xbf" + ok.encode()) == "invalid_json"
    assert code_of(ok.replace('"ev-1"', '"ev-\\udfff"')) == "invalid_json"
    assert code_of(ok.replace('"ev-1"', '"ev-\\ud83d\\ude00"')) == "OK"


def test_not_object():
    for doc in ("[]", "1", '"x"', "null", "false", "[" + json.dumps(minimal("heartbeat")) + "]"):
        assert code_of(doc) == "not_object"


def test_unknown_type_needs_only_the_always_required_fields():
    r = check({"event_id": "e", "type": "shift_started", "ts": TS, "branch_id": "b", "staff_id": "x"})
    assert (r.code, r.detail) == ("unknown_enum", 'unknown type "shift_started"')


def test_never_raises_on_odd_inputs():
    for raw in (None, 5, 1.5, object(), [b"{}"], bytearray(b"{}"), memoryview(b"[]"), b"", "", "\ud800", b"\r", "\r"):
        r = validate(raw)
        assert type(r) in (Event, DeadLetter)
        assert r.code in codes.VALIDATOR_CODES
    assert validate(bytearray(json.dumps(minimal("heartbeat")).encode())).type == "heartbeat"


def test_event_and_dead_letter_are_frozen_and_slotted():
    ev = check(minimal("rating_submitted"))
    assert type(ev) is Event
    assert not hasattr(ev, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.rating = 5  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(Event)] == [
        "event_id", "type", "ts_ms", "ts", "branch_id", "ticket_id", "service", "stage", "staff_id", "result",
        "rating", "reason", "size",
    ]
    assert ev == Event("ev-1", "rating_submitted", TS_MS, TS, "spec-astana", "T-1", None, None, "mvd-1", None, 4, None,
                       ev.size)
    assert hash(ev) == hash(dataclasses.replace(ev))
    dl = check("[]")
    assert type(dl) is DeadLetter and not hasattr(dl, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        dl.code = "x"  # type: ignore[misc]


def test_loads_strict():
    assert loads_strict('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    deep = "[" * 20000 + "]" * 20000
    doc = loads_strict(deep)
    assert isinstance(doc, list)
    for bad in ('{"a":1,"a":1}', "NaN", "[1] 2", '"\\udc00"', "[" * 20000):
        with pytest.raises(ValueError):
            loads_strict(bad)


# --------------------------------------------------------------------------------------------
# JSON Schema and pydantic models
# --------------------------------------------------------------------------------------------


def test_committed_schema_matches_the_models():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema_text(), (
        "schemas/con_event.v1.schema.json drifted from schemas/events.py; regenerate it with "
        "`python -m schemas.events > schemas/con_event.v1.schema.json`"
    )


def test_schema_is_valid_draft_2020_12():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] and schema["title"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    defs = schema["$defs"]
    assert defs["RatingSubmitted"]["properties"]["rating"]["minimum"] == 1
    assert defs["RatingSubmitted"]["properties"]["rating"]["maximum"] == 5
    assert defs["Heartbeat"]["properties"]["schema"]["const"] == 1
    assert defs["Heartbeat"]["properties"]["event_id"]["maxLength"] == 64
    assert defs["TicketCancelled"]["properties"]["reason"]["maxLength"] == 1000
    assert "pattern" in defs["Heartbeat"]["properties"]["ts"]
    assert all(d.get("additionalProperties") is False for name, d in defs.items() if name != "StageFinishedEvent")


@pytest.fixture(scope="module")
def schema_validator():
    return jsonschema.Draft202012Validator(json_schema())


def schema_accepts(validator, doc) -> bool:
    try:
        return validator.is_valid(doc)
    except RecursionError:
        # jsonschema words its first error with repr(instance), which recurses on documents
        # nested thousands deep (the deep not_object cases): it had found an error.
        return False


def test_schema_accepts_every_good_line(schema_validator):
    for case in GOOD_CASES:
        doc = loads_strict(case.raw.decode("utf-8"))
        errors = list(schema_validator.iter_errors(doc))
        assert not errors, (case.name, errors[0].message)


def test_schema_rejects_every_bad_line_it_can_express(schema_validator):
    judged = 0
    for case in BAD_CASES:
        if case.code in SCHEMA_BLIND_CODES:
            continue
        doc = loads_strict(case.raw.decode("utf-8"))
        if case.schema_blind:
            # The exceptions are exact: the schema really accepts these lines.
            assert schema_accepts(schema_validator, doc), (case.name, case.why)
        else:
            assert not schema_accepts(schema_validator, doc), (case.name, case.why)
            judged += 1
    assert judged >= 100


def test_schema_blind_cases_are_listed():
    blind = {c.why: c.schema_blind for c in BAD_CASES if c.schema_blind}
    assert {c.code for c in BAD_CASES if c.schema_blind} == {"wrong_type", "bad_timestamp"}
    assert any("5.0" in why for why in blind) and any("February 30" in why for why in blind)


def test_models_accept_every_good_line():
    for case in GOOD_CASES:
        con_event_adapter.validate_json(case.raw.rstrip(b"\r"))


def test_models_reject_the_bad_lines_the_schema_rejects():
    from pydantic import ValidationError

    for case in BAD_CASES:
        if case.code in SCHEMA_BLIND_CODES or (case.schema_blind and case.code == "bad_timestamp"):
            continue
        with pytest.raises(ValidationError):
            con_event_adapter.validate_python(loads_strict(case.raw.decode("utf-8")), strict=True)


def test_b64_lines_are_not_utf8():
    for line in BAD.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if "line_b64" in entry:
            with pytest.raises(UnicodeDecodeError):
                base64.b64decode(entry["line_b64"]).decode("utf-8")
