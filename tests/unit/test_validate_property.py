"""Property tests of `schemas.validate.validate`: it never raises, always answers with an `Event` or
a `DeadLetter` whose code is in the list, and agrees with a slow, independent reading of the
contract (datetime for the calendar, plain loops for the order of checks) on mutated events."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codes import VALIDATOR_CODES
from schemas.validate import (
    EVENT_STAGES,
    RESULTS,
    SERVICES,
    STAGES,
    TYPES,
    DeadLetter,
    Event,
    _decode,
    _decode_deep,
    validate,
)

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_answer(r) -> None:
    assert type(r) in (Event, DeadLetter)
    if type(r) is DeadLetter:
        assert r.code in VALIDATOR_CODES
        assert r.detail and not r.detail.startswith("validator error"), r.detail


# --------------------------------------------------------------------------------------------
# An independent oracle, written from the rules as stated (docs/contract.md)
# --------------------------------------------------------------------------------------------

ORDER = ["event_id", "type", "ts", "branch_id", "ticket_id", "service", "stage", "staff_id", "result", "rating",
         "reason", "schema"]
REQ = {
    "ticket_issued": ["ticket_id", "service"],
    "stage_started": ["ticket_id", "stage"],
    "stage_finished": ["ticket_id", "stage"],
    "document_issued": ["ticket_id"],
    "ticket_cancelled": ["ticket_id"],
    "rating_submitted": ["ticket_id", "staff_id", "rating"],
    "heartbeat": [],
}
TS_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def allowed_for(doc: dict) -> set[str]:
    t = doc["type"]
    if not (isinstance(t, str) and t in REQ):
        return set(ORDER)
    allowed = {"event_id", "type", "ts", "branch_id", "schema"}
    if t != "heartbeat":
        allowed |= {"ticket_id", "service"}
    if t in ("stage_started", "stage_finished"):
        allowed |= {"stage", "staff_id"}
    if t == "stage_finished" and doc.get("stage") in ("theory_exam", "practical_exam"):
        allowed.add("result")
    if t == "ticket_cancelled":
        allowed.add("reason")
    if t == "rating_submitted":
        allowed |= {"staff_id", "rating"}
    return allowed


def oracle_ts(ts: str) -> int | None:
    m = TS_RE.fullmatch(ts)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, off = m.groups()
    if int(y) < 1970:
        return None
    try:
        local = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=timezone.utc)
    except ValueError:
        return None
    if off in "Zz":
        delta = timedelta(0)
    else:
        oh, om = int(off[1:3]), int(off[4:6])
        if oh > 23 or om > 59:
            return None
        delta = timedelta(hours=oh, minutes=om) * (1 if off[0] == "+" else -1)
    ms = int(((frac or ".")[1:] + "000")[:3])
    return ((local - datetime(1970, 1, 1, tzinfo=timezone.utc)) - delta) // timedelta(milliseconds=1) + ms


def oracle(raw: bytes) -> str:
    """The expected code of a raw line ('OK' for valid), for documents of ordinary depth."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if len(raw) > 65536:
        return "oversized"
    try:
        text = raw.decode("utf-8")

        def pairs(ps):
            keys = [k for k, _ in ps]
            if len(set(keys)) != len(keys):
                raise ValueError("dup")
            return dict(ps)

        def no_constants(name):
            raise ValueError(name)

        doc = json.loads(text, object_pairs_hook=pairs, parse_constant=no_constants)
    except ValueError:
        return "invalid_json"

    def strings(v):
        if isinstance(v, str):
            yield v
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)
        elif isinstance(v, dict):
            for k, x in v.items():
                yield k
                yield from strings(x)

    if any(re.search("[\ud800-\udfff]", s) for s in strings(doc)):
        return "invalid_json"
    if not isinstance(doc, dict):
        return "not_object"
    for f in ["event_id", "type", "ts", "branch_id"]:
        if f not in doc:
            return "missing_field"
    t = doc["type"]
    if isinstance(t, str) and t in REQ:
        if any(f not in doc for f in REQ[t]):
            return "missing_field"
    if any(k not in allowed_for(doc) for k in doc):
        return "field_not_allowed"
    for f in ORDER:
        if f in doc:
            v = doc[f]
            if f in ("rating", "schema"):
                if not (isinstance(v, int) and not isinstance(v, bool)):
                    return "wrong_type"
            elif not isinstance(v, str):
                return "wrong_type"
    if t not in TYPES:
        return "unknown_enum"
    if "service" in doc and doc["service"] not in SERVICES:
        return "unknown_enum"
    if "stage" in doc and (doc["stage"] not in STAGES or doc["stage"] == "queue"):
        return "unknown_enum"
    if "result" in doc and doc["result"] not in RESULTS:
        return "unknown_enum"
    if oracle_ts(doc["ts"]) is None:
        return "bad_timestamp"
    for f in ("event_id", "branch_id", "ticket_id", "staff_id"):
        if f in doc and not 1 <= len(doc[f]) <= 64:
            return "bad_length"
    if len(doc.get("reason", "")) > 1000:
        return "bad_length"
    if "rating" in doc and not 1 <= doc["rating"] <= 5:
        return "rating_out_of_range"
    if "schema" in doc and doc["schema"] != 1:
        return "bad_schema_version"
    return "OK"


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
ids = st.text(min_size=1, max_size=64)


@st.composite
def timestamps(draw) -> str:
    dt = draw(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)))
    digits = draw(st.integers(0, 9))
    frac = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits)))
    frac = "." + frac if frac else ""
    off = draw(st.one_of(st.just("Z"), st.just("z"),
                         st.builds(lambda s, h, m: f"{s}{h:02d}:{m:02d}", st.sampled_from("+-"), st.integers(0, 23),
                                   st.integers(0, 59))))
    sep = draw(st.sampled_from("Tt"))
    return dt.strftime("%Y-%m-%d") + sep + dt.strftime("%H:%M:%S") + frac + off


@st.composite
def valid_events(draw) -> dict:
    t = draw(st.sampled_from(TYPES))
    doc = {"event_id": draw(ids), "type": t, "ts": draw(timestamps()), "branch_id": draw(ids)}
    if t != "heartbeat":
        doc["ticket_id"] = draw(ids)
        if t == "ticket_issued" or draw(st.booleans()):
            doc["service"] = draw(st.sampled_from(SERVICES))
    if t in ("stage_started", "stage_finished"):
        doc["stage"] = draw(st.sampled_from(EVENT_STAGES))
        if draw(st.booleans()):
            doc["staff_id"] = draw(ids)
        if t == "stage_finished" and doc["stage"].endswith("_exam") and draw(st.booleans()):
            doc["result"] = draw(st.sampled_from(RESULTS))
    if t == "ticket_cancelled" and draw(st.booleans()):
        doc["reason"] = draw(st.text(max_size=1000))
    if t == "rating_submitted":
        doc["staff_id"] = draw(ids)
        doc["rating"] = draw(st.integers(1, 5))
    if draw(st.booleans()):
        doc["schema"] = 1
    keys = list(doc)
    order = draw(st.permutations(keys))
    return {k: doc[k] for k in order}


def dumps(doc, ascii_: bool) -> bytes:
    return json.dumps(doc, ensure_ascii=ascii_).encode("utf-8")


CONTRACT_KEYS = ["event_id", "type", "ts", "branch_id", "ticket_id", "service", "stage", "staff_id", "result",
                 "rating", "reason", "schema"]
NEAR_VALUES = st.one_of(
    json_values, st.sampled_from(TYPES + SERVICES + STAGES + RESULTS), st.integers(-2, 8), ids,
    st.text(max_size=70), timestamps(), st.sampled_from(["", "2026-02-29T00:00:00Z", "2026-11-24T09:00:00"]),
)


@st.composite
def mutated_events(draw) -> bytes:
    doc = dict(draw(valid_events()))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "set", "set_present", "extra", "retype", "ts", "ts", "int", "length"]))
        if op == "drop" and doc:
            doc.pop(draw(st.sampled_from(sorted(doc))))
        elif op == "set":
            doc[draw(st.sampled_from(CONTRACT_KEYS))] = draw(NEAR_VALUES)
        elif op == "set_present" and doc:
            doc[draw(st.sampled_from(sorted(doc)))] = draw(NEAR_VALUES)
        elif op == "extra":
            doc[draw(st.text(max_size=10))] = draw(json_values)
        elif op == "retype":
            doc["type"] = draw(st.one_of(st.sampled_from(TYPES), json_values))
        elif op == "ts" and isinstance(doc.get("ts"), str) and doc["ts"]:
            ts = doc["ts"]
            pos = draw(st.integers(0, len(ts) - 1))
            doc["ts"] = ts[:pos] + draw(st.sampled_from(list("0123456789:-+.TZ ") + ["", "99", "\n"])) + ts[pos + 1:]
        elif op == "int":
            keys = ["rating", "schema"] if doc.get("type") == "rating_submitted" else ["schema", "schema", "rating"]
            doc[draw(st.sampled_from(keys))] = draw(st.one_of(st.integers(-3, 8), st.integers()))
        elif op == "length":
            doc[draw(st.sampled_from(["event_id", "branch_id", "ticket_id", "staff_id", "reason"]))] = draw(
                st.one_of(st.just(""), st.text(min_size=60, max_size=70), st.text(min_size=995, max_size=1005))
            )
    raw = dumps(doc, draw(st.booleans()))
    if draw(st.integers(0, 6)) == 0:  # and sometimes damage the bytes
        pos = draw(st.integers(0, len(raw)))
        junk = draw(st.binary(max_size=3))
        cut = draw(st.integers(0, 2))
        raw = raw[:pos] + junk + raw[pos + cut:]
    return raw


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw):
    r = validate(raw)
    assert_answer(r)
    assert (r.code if type(r) is DeadLetter else "OK") == oracle(raw)


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text(text):
    assert_answer(validate(text))


@SETTINGS
@given(json_values, st.booleans())
def test_arbitrary_json_values(value, ascii_):
    raw = dumps(value, ascii_)
    r = validate(raw)
    assert_answer(r)
    if not isinstance(value, dict):
        assert r.code == "not_object"
    assert (r.code if type(r) is DeadLetter else "OK") == oracle(raw)


@SETTINGS
@given(valid_events(), st.booleans())
def test_valid_events_are_events(doc, ascii_):
    raw = dumps(doc, ascii_)
    r = validate(raw)
    assert type(r) is Event, r
    assert r.ts_ms == oracle_ts(doc["ts"])
    assert r.size == len(raw)
    for f in CONTRACT_KEYS:
        if f != "schema":
            assert getattr(r, f) == doc.get(f)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_events())
def test_mutated_events_match_the_oracle(raw):
    r = validate(raw)
    assert_answer(r)
    assert (r.code if type(r) is DeadLetter else "OK") == oracle(raw), getattr(r, "detail", r)


@SETTINGS
@given(mutated_events())
def test_same_answer_for_bytes_str_and_crlf(raw):
    r = validate(raw)
    assert validate(raw + b"\r") == r
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert validate(text) == r


@SETTINGS
@given(timestamps())
def test_timestamps(ts):
    from schemas.validate import parse_ts

    assert parse_ts(ts) == oracle_ts(ts)


@SETTINGS
@given(st.text(alphabet="0123456789-:+.TtZz ", max_size=35))
def test_timestamp_like_strings(ts):
    from schemas.validate import parse_ts

    got = parse_ts(ts)
    want = oracle_ts(ts)
    assert (None if isinstance(got, str) else got) == want


# The iterative decoder (documents nested beyond the recursion limit) must read JSON exactly as the
# C decoder does.

json_alphabet = st.sampled_from(list('{}[],:"\\ \t0123456789.eE+-truefalsn') + ["\\u00e9", "\\ud800", "NaN"])


@st.composite
def json_texts(draw) -> str:
    text = json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(json_alphabet) + text[pos + draw(st.integers(0, 1)):]
    return text


def _outcome(decode, text):
    try:
        return ("ok", decode(text))
    except ValueError as exc:
        return ("error", type(exc).__name__ == "_DuplicateKey")


@settings(max_examples=1000, deadline=None)
@given(json_texts())
def test_iterative_decoder_matches_the_c_decoder(text):
    assert _outcome(_decode_deep, text) == _outcome(_decode, text)


@pytest.mark.parametrize("depth", [10, 900, 5000, 30000])
def test_deep_documents(depth):
    arr = b"[" * depth + b"]" * depth
    assert validate(arr).code == "not_object"
    rest = b',"type":"heartbeat","ts":"2026-11-24T04:00:00Z","branch_id":"b"}'
    obj = b'{"event_id":' + b"[" * depth + b"]" * depth + rest
    assert validate(obj).code == "wrong_type"
    dup = b'{"x":' + b"[" * depth + b'{"a":1,"a":2}' + b"]" * depth + b"}"
    assert validate(dup).code == "invalid_json"
    unclosed = b"[" * depth
    assert validate(unclosed).code == "invalid_json"
