"""Event contract v1: the reference validator.

One entry point, `validate(raw)`, turns one raw message (a Kafka value or a JSONL line) into either
an `Event` or a `DeadLetter(code, detail)`. It never raises. The codes and their order are in
`schemas.codes`; `docs/contract.md` states every rule. The Java validator of the job
(`jobs/udf/java/sitcen/udf/Validator.java`) implements the same rules, down to the `detail`
strings (JSON syntax errors aside), and `schemas/corpus/` proves that the two agree.

The hot path is hand-written: one `json` decode (duplicate keys are caught by an
`object_pairs_hook`), set operations on the keys, one precompiled regex for `ts` and integer
arithmetic for the instant. pydantic is not used here; `schemas.events` holds the models that
generate the JSON Schema.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from json.decoder import scanstring as _scanstring

from schemas.codes import (
    BAD_LENGTH,
    BAD_SCHEMA_VERSION,
    BAD_TIMESTAMP,
    FIELD_NOT_ALLOWED,
    INVALID_JSON,
    MISSING_FIELD,
    NOT_OBJECT,
    OVERSIZED,
    RATING_OUT_OF_RANGE,
    UNKNOWN_ENUM,
    WRONG_TYPE,
)

__all__ = [
    "MAX_BYTES",
    "FIELDS",
    "TYPES",
    "SERVICES",
    "STAGES",
    "EVENT_STAGES",
    "EXAM_STAGES",
    "RESULTS",
    "REQUIRED",
    "ALLOWED",
    "TS_REGEX",
    "Event",
    "DeadLetter",
    "validate",
    "loads_strict",
    "parse_ts",
]

# --------------------------------------------------------------------------------------------
# The contract's vocabulary
# --------------------------------------------------------------------------------------------

MAX_BYTES = 65536
MAX_ID_LENGTH = 64
MAX_REASON_LENGTH = 1000

#: Every contract field, in the order checks visit them within one code.
FIELDS: tuple[str, ...] = (
    "event_id",
    "type",
    "ts",
    "branch_id",
    "ticket_id",
    "service",
    "stage",
    "staff_id",
    "result",
    "rating",
    "reason",
    "schema",
)
ALWAYS_REQUIRED: tuple[str, ...] = ("event_id", "type", "ts", "branch_id")
INT_FIELDS = frozenset({"rating", "schema"})
LENGTH_CHECKED: tuple[str, ...] = ("event_id", "branch_id", "ticket_id", "staff_id")

TYPES: tuple[str, ...] = (
    "ticket_issued",
    "stage_started",
    "stage_finished",
    "document_issued",
    "ticket_cancelled",
    "rating_submitted",
    "heartbeat",
)
SERVICES: tuple[str, ...] = (
    "driver_license",
    "license_exchange",
    "vehicle_registration",
    "vehicle_reregistration",
    "plates_issue",
)
#: Every stage of a ticket; `queue` is ticket_issued -> first stage_started and has no events.
STAGES: tuple[str, ...] = (
    "queue",
    "intake",
    "theory_exam",
    "practical_exam",
    "vehicle_inspection",
    "production",
    "plates",
)
#: The stages a stage_started / stage_finished may name.
EVENT_STAGES: tuple[str, ...] = tuple(s for s in STAGES if s != "queue")
#: The stages whose stage_finished may carry `result`.
EXAM_STAGES: tuple[str, ...] = ("theory_exam", "practical_exam")
RESULTS: tuple[str, ...] = ("passed", "failed")

#: Fields required beyond ALWAYS_REQUIRED, per type (in FIELDS order).
REQUIRED: dict[str, tuple[str, ...]] = {
    "ticket_issued": ("ticket_id", "service"),
    "stage_started": ("ticket_id", "stage"),
    "stage_finished": ("ticket_id", "stage"),
    "document_issued": ("ticket_id",),
    "ticket_cancelled": ("ticket_id",),
    "rating_submitted": ("ticket_id", "staff_id", "rating"),
    "heartbeat": (),
}
_COMMON = frozenset({"event_id", "type", "ts", "branch_id", "schema"})
_TICKET = _COMMON | {"ticket_id", "service"}
#: Fields allowed per type. `stage_finished` also allows `result` when `stage` is an exam.
ALLOWED: dict[str, frozenset[str]] = {
    "ticket_issued": _TICKET,
    "stage_started": _TICKET | {"stage", "staff_id"},
    "stage_finished": _TICKET | {"stage", "staff_id"},
    "document_issued": _TICKET,
    "ticket_cancelled": _TICKET | {"reason"},
    "rating_submitted": _TICKET | {"staff_id", "rating"},
    "heartbeat": _COMMON,
}
_ALLOWED_EXAM_FINISHED = ALLOWED["stage_finished"] | {"result"}
_ALL_FIELDS = frozenset(FIELDS)
_ALWAYS = frozenset(ALWAYS_REQUIRED)
_REQUIRED_SETS = {t: frozenset(req) for t, req in REQUIRED.items()}
_JUST_STR = {str}

_TYPES = frozenset(TYPES)
_SERVICES = frozenset(SERVICES)
_EVENT_STAGES = frozenset(EVENT_STAGES)
_RESULTS = frozenset(RESULTS)

#: RFC 3339 date-time with an explicit offset, ASCII digits only. Matched with fullmatch, so a
#: trailing newline is not accepted. Groups: date, hour, minute, second, fraction, offset.
TS_REGEX = (
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_TS = re.compile(TS_REGEX)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """A valid event. Absent optional fields are None; `ts_ms` is the instant in UTC epoch ms
    (fraction truncated to ms), `ts` the original string, `size` the message length in bytes."""

    event_id: str
    type: str
    ts_ms: int
    ts: str
    branch_id: str
    ticket_id: str | None
    service: str | None
    stage: str | None
    staff_id: str | None
    result: str | None
    rating: int | None
    reason: str | None
    size: int


# Same slots as `Event`, not frozen: built with plain attribute stores, then given the class `Event`
# (a compatible layout, so `__class__` may be assigned). Three times faster than the frozen
# `__init__`, which pays an `object.__setattr__` per field. Derived from `Event`'s fields, so the
# two layouts cannot drift apart.
_EventBuilder = dataclass(slots=True)(type("_EventBuilder", (), {"__annotations__": dict(Event.__annotations__)}))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Bad input: `code` from `schemas.codes`, `detail` a short deterministic explanation."""

    code: str
    detail: str


# --------------------------------------------------------------------------------------------
# Strict JSON
# --------------------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _pairs(pairs: list) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return d


def _constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON")


#: Integers with more digits than Python converts by default stand in as a value outside every
#: range the contract checks (the validators only ask "is it 1..5", "is it 1").
_HUGE = 10**20


def _int(text: str) -> int:
    if len(text) <= 4000:
        return int(text)
    return -_HUGE if text[0] == "-" else _HUGE


_WS = re.compile(r"[ \t\n\r]*")
_scan_once = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_int=_int).scan_once


def _decode(s: str):
    """`json.JSONDecoder.decode` without its two Python-level wrappers: strict JSON, one value."""
    ws = _WS.match
    try:
        doc, end = _scan_once(s, ws(s, 0).end())
    except StopIteration as exc:
        raise json.JSONDecodeError("Expecting value", s, exc.value) from None
    end = ws(s, end).end()
    if end != len(s):
        raise json.JSONDecodeError("Extra data", s, end)
    return doc


_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _decode_deep(s: str):
    """The same strict JSON as `_decode`, without recursion: for documents nested deeper than
    the C decoder's recursion limit. Builds the same values (and raises the same way)."""
    ws = _WS.match
    n = len(s)
    # Each frame is [is_object, items, pending_key]
    stack: list[list] = []
    i = ws(s, 0).end()

    def key_at(i: int) -> tuple[str, int]:
        if i >= n or s[i] != '"':
            raise ValueError(f"Expecting property name enclosed in double quotes (char {i})")
        key, i = _scanstring(s, i + 1, True)
        i = ws(s, i).end()
        if i >= n or s[i] != ":":
            raise ValueError(f"Expecting ':' delimiter (char {i})")
        return key, ws(s, i + 1).end()

    while True:
        # A value starts at i.
        if i >= n:
            raise ValueError(f"Expecting value (char {i})")
        c = s[i]
        if c == "{":
            i = ws(s, i + 1).end()
            if i < n and s[i] == "}":
                value, i = {}, i + 1
            else:
                key, i = key_at(i)
                stack.append([True, [], key])
                continue
        elif c == "[":
            i = ws(s, i + 1).end()
            if i < n and s[i] == "]":
                value, i = [], i + 1
            else:
                stack.append([False, [], None])
                continue
        elif c == '"':
            value, i = _scanstring(s, i + 1, True)
        elif s.startswith("null", i):
            value, i = None, i + 4
        elif s.startswith("true", i):
            value, i = True, i + 4
        elif s.startswith("false", i):
            value, i = False, i + 5
        else:
            m = _NUMBER.match(s, i)
            if m is None:
                raise ValueError(f"Expecting value (char {i})")
            integer, frac, exp = m.groups()
            value = float(m.group()) if frac or exp else _int(integer)
            i = m.end()
        # A value ended at i: hand it to its container(s).
        while True:
            i = ws(s, i).end()
            if not stack:
                if i != n:
                    raise ValueError(f"Extra data (char {i})")
                return value
            frame = stack[-1]
            if frame[0]:
                frame[1].append((frame[2], value))
                if i < n and s[i] == ",":
                    frame[2], i = key_at(ws(s, i + 1).end())
                    break
                if i < n and s[i] == "}":
                    stack.pop()
                    value, i = _pairs(frame[1]), i + 1
                    continue
                raise ValueError(f"Expecting ',' delimiter (char {i})")
            frame[1].append(value)
            if i < n and s[i] == ",":
                i = ws(s, i + 1).end()
                break
            if i < n and s[i] == "]":
                stack.pop()
                value, i = frame[1], i + 1
                continue
            raise ValueError(f"Expecting ',' delimiter (char {i})")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_unpaired_surrogate(doc) -> bool:
    # json joins escaped pairs into one code point, so any surrogate left is unpaired.
    todo = [doc]
    while todo:
        v = todo.pop()
        t = type(v)
        if t is str:
            if _SURROGATE.search(v):
                return True
        elif t is dict:
            for k, x in v.items():
                if _SURROGATE.search(k):
                    return True
                todo.append(x)
        elif t is list:
            todo.extend(v)
    return False


def loads_strict(text: str):
    """Strict JSON (RFC 8259) as the contract reads it: no NaN/Infinity, no trailing data, no
    duplicate key anywhere, no unpaired surrogate escape, any nesting depth. Raises ValueError."""
    try:
        doc = _decode(text)
    except RecursionError:
        doc = _decode_deep(text)
    if _SURROGATE_ESCAPE.search(text) and _has_unpaired_surrogate(doc):
        raise ValueError("unpaired UTF-16 surrogate escape")
    return doc


# --------------------------------------------------------------------------------------------
# Details
# --------------------------------------------------------------------------------------------


def _q(s: str) -> str:
    """A value quoted for a detail: JSON string with ASCII escapes, cut at 40 code points."""
    if len(s) > 40:
        return json.dumps(s[:40]) + "…"
    return json.dumps(s)


def _jtype(v) -> str:
    t = type(v)
    if t is str:
        return "string"
    if t is bool:
        return "boolean"
    if t is int:
        return "integer"
    if t is float:
        return "number"
    if v is None:
        return "null"
    if t is list:
        return "array"
    return "object"


_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def _num(v: int) -> str:
    return str(v) if _LONG_MIN <= v <= _LONG_MAX else "a number outside the 64-bit range"


# --------------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------------


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Days since 1970-01-01 of a proleptic Gregorian date (y >= 1).
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_TS_FORMAT = "is not RFC 3339 with an explicit offset"
_TS_YEAR = "has a year outside 1970-9999"
_TS_REAL = "is not a real date and time"


def _date_days(date: str) -> int | str:
    """"YYYY-MM-DD" (ASCII digits) -> days since the epoch, or the reason it is not a date."""
    y, mo, d = int(date[:4]), int(date[5:7]), int(date[8:10])
    if y < 1970:
        return _TS_YEAR
    if not 1 <= mo <= 12 or d < 1:
        return _TS_REAL
    if d > _DAYS_IN_MONTH[mo] and not (mo == 2 and d == 29 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        return _TS_REAL
    return _days_from_civil(y, mo, d)


def _offset_seconds(offset: str) -> int | str:
    """"Z" / "+hh:mm" / "-hh:mm" -> seconds east of UTC, or the reason it is not an offset."""
    if len(offset) == 1:
        return 0
    oh, om = int(offset[1:3]), int(offset[4:6])
    if oh > 23 or om > 59:
        return _TS_REAL
    sec = oh * 3600 + om * 60
    return -sec if offset[0] == "-" else sec


# Table lookups instead of int() on the hot path.
_TWO_DIGITS = {f"{i:02d}": i for i in range(100)}
#: The first 1-3 fraction digits -> milliseconds ("5" -> 500, "05" -> 50, "123" -> 123).
_MILLIS = {f"{i:0{n}d}": i * 10 ** (3 - n) for n in (1, 2, 3) for i in range(10**n)}

# Events of a day share a handful of dates and offsets: remember what they mean.
_DATES: dict[str, int | str] = {}
_OFFSETS: dict[str, int | str] = {}
_CACHE_LIMIT = 4096


def parse_ts(ts: str) -> int | str:
    """`ts` -> UTC epoch milliseconds (fraction truncated), or why it is not a contract
    timestamp (a str). The year check comes first, then the calendar and clock checks."""
    m = _TS.fullmatch(ts)
    if m is None:
        return _TS_FORMAT
    date, hs, mis, ss, frac, off = m.groups()
    days = _DATES.get(date)
    if days is None:
        days = _date_days(date)
        if len(_DATES) >= _CACHE_LIMIT:
            _DATES.clear()
        _DATES[date] = days
    if type(days) is str:
        return days
    h, mi, s = _TWO_DIGITS[hs], _TWO_DIGITS[mis], _TWO_DIGITS[ss]
    if h > 23 or mi > 59 or s > 59:
        return _TS_REAL
    offset = _OFFSETS.get(off)
    if offset is None:
        offset = _offset_seconds(off)
        if len(_OFFSETS) >= _CACHE_LIMIT:
            _OFFSETS.clear()
        _OFFSETS[off] = offset
    if type(offset) is str:
        return offset
    ms = _MILLIS[frac[:3]] if frac else 0
    return (days * 86400 + h * 3600 + mi * 60 + s - offset) * 1000 + ms


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate(raw: bytes | str, *, max_bytes: int = MAX_BYTES) -> Event | DeadLetter:
    """Validate one message. Never raises: any input gives an `Event` or a `DeadLetter`.

    One trailing carriage return is stripped first (a CRLF-terminated JSONL line); `size` and the
    oversized check measure the message without it. A `str` is measured as UTF-8.
    """
    try:
        if type(raw) is bytes:
            data = raw
        elif type(raw) is str or isinstance(raw, str):
            return _validate_str(str(raw), max_bytes)
        elif isinstance(raw, (bytes, bytearray, memoryview)):
            data = bytes(raw)
        else:
            return DeadLetter(INVALID_JSON, f"input is {type(raw).__name__}, not bytes or str")
        if data[-1:] == b"\r":
            data = data[:-1]
        size = len(data)
        if size > max_bytes:
            return DeadLetter(OVERSIZED, f"message is {size} bytes, over the {max_bytes}-byte limit")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return DeadLetter(INVALID_JSON, f"not valid UTF-8 (byte {exc.start})")
        return _validate_text(text, size)
    except Exception as exc:  # a bug must not stop a job; the tests assert this never happens
        return DeadLetter(INVALID_JSON, f"validator error: {type(exc).__name__}: {exc}")


def _validate_str(text: str, max_bytes: int) -> Event | DeadLetter:
    if text[-1:] == "\r":
        text = text[:-1]
    if text.isascii():
        size = len(text)
        encodable = True
    else:
        try:
            size = len(text.encode("utf-8"))
            encodable = True
        except UnicodeEncodeError:
            size = len(text.encode("utf-8", "surrogatepass"))
            encodable = False
    if size > max_bytes:
        return DeadLetter(OVERSIZED, f"message is {size} bytes, over the {max_bytes}-byte limit")
    if not encodable:
        pos = _SURROGATE.search(text).start()
        return DeadLetter(INVALID_JSON, f"not valid UTF-8 (unpaired surrogate at character {pos})")
    return _validate_text(text, size)


def _validate_text(text: str, size: int) -> Event | DeadLetter:
    try:
        doc = _decode(text)
    except _DuplicateKey as exc:
        return DeadLetter(INVALID_JSON, f"duplicate key {_q(exc.key)}")
    except RecursionError:
        try:
            doc = _decode_deep(text)
        except _DuplicateKey as exc:
            return DeadLetter(INVALID_JSON, f"duplicate key {_q(exc.key)}")
        except ValueError as exc:
            return DeadLetter(INVALID_JSON, f"not strict JSON: {exc}")
    except ValueError as exc:
        return DeadLetter(INVALID_JSON, f"not strict JSON: {exc}")
    if _SURROGATE_ESCAPE.search(text) and _has_unpaired_surrogate(doc):
        return DeadLetter(INVALID_JSON, "not strict JSON: unpaired UTF-16 surrogate escape")
    if type(doc) is not dict:
        return DeadLetter(NOT_OBJECT, f"JSON {_jtype(doc)}, not an object")
    return _check(doc, size)


def _check(doc: dict, size: int) -> Event | DeadLetter:
    keys = doc.keys()
    # 4. missing_field
    if not keys >= _ALWAYS:
        for f in ALWAYS_REQUIRED:
            if f not in doc:
                return DeadLetter(MISSING_FIELD, f'missing field "{f}"')
    t = doc["type"]
    known = type(t) is str and t in _TYPES
    if known:
        if not keys >= _REQUIRED_SETS[t]:
            for f in REQUIRED[t]:
                if f not in doc:
                    return DeadLetter(MISSING_FIELD, f'missing field "{f}" (required for {t})')
        allowed = ALLOWED[t]
        if t == "stage_finished" and doc["stage"] in EXAM_STAGES:
            allowed = _ALLOWED_EXAM_FINISHED
    else:
        allowed = _ALL_FIELDS
    # 5. field_not_allowed
    if not keys <= allowed:
        return _not_allowed(doc, allowed, t if known else None)
    # 6. wrong_type: every value a string, except integer rating and schema
    if set(map(type, doc.values())) != _JUST_STR or "rating" in keys or "schema" in keys:
        for k, v in doc.items():
            if (type(v) is not int) if k in INT_FIELDS else (type(v) is not str):
                return _wrong_type(doc)
    # 7. unknown_enum (every present field now has its JSON type)
    if not known:
        return DeadLetter(UNKNOWN_ENUM, f"unknown type {_q(t)}")
    get = doc.get
    service = get("service")
    if service is not None and service not in _SERVICES:
        return DeadLetter(UNKNOWN_ENUM, f"unknown service {_q(service)}")
    stage = get("stage")
    if stage is not None and stage not in _EVENT_STAGES:
        if stage == "queue":
            return DeadLetter(
                UNKNOWN_ENUM,
                'stage "queue" has no events of its own (it runs from ticket_issued to the first stage_started)',
            )
        return DeadLetter(UNKNOWN_ENUM, f"unknown stage {_q(stage)}")
    result = get("result")
    if result is not None and result not in _RESULTS:
        return DeadLetter(UNKNOWN_ENUM, f"unknown result {_q(result)} (passed or failed)")
    # 8. bad_timestamp
    ts = doc["ts"]
    ts_ms = parse_ts(ts)
    if type(ts_ms) is str:
        return DeadLetter(BAD_TIMESTAMP, f'field "ts" {ts_ms}: {_q(ts)}')
    # 9. bad_length
    event_id = doc["event_id"]
    branch_id = doc["branch_id"]
    ticket_id = get("ticket_id")
    staff_id = get("staff_id")
    reason = get("reason")
    if (
        not 0 < len(event_id) <= MAX_ID_LENGTH
        or not 0 < len(branch_id) <= MAX_ID_LENGTH
        or (ticket_id is not None and not 0 < len(ticket_id) <= MAX_ID_LENGTH)
        or (staff_id is not None and not 0 < len(staff_id) <= MAX_ID_LENGTH)
        or (reason is not None and len(reason) > MAX_REASON_LENGTH)
    ):
        return _bad_length(doc)
    # 10. rating_out_of_range
    rating = get("rating")
    if rating is not None and not 1 <= rating <= 5:
        return DeadLetter(RATING_OUT_OF_RANGE, f'field "rating" must be 1-5, got {_num(rating)}')
    # 11. bad_schema_version
    schema = get("schema")
    if schema is not None and schema != 1:
        return DeadLetter(BAD_SCHEMA_VERSION, f'field "schema" must be 1, got {_num(schema)}')
    ev = _EventBuilder(
        event_id, t, ts_ms, ts, branch_id, ticket_id, service, stage, staff_id, result, rating, reason, size
    )
    ev.__class__ = Event
    return ev


def _bad_length(doc: dict) -> DeadLetter:
    for f in LENGTH_CHECKED:
        v = doc.get(f)
        if v is not None and not 0 < len(v) <= MAX_ID_LENGTH:
            return DeadLetter(BAD_LENGTH, f'field "{f}" must be 1-{MAX_ID_LENGTH} characters, got {len(v)}')
    reason = doc["reason"]
    return DeadLetter(BAD_LENGTH, f'field "reason" must be at most {MAX_REASON_LENGTH} characters, got {len(reason)}')


def _not_allowed(doc: dict, allowed: frozenset[str], t: str | None) -> DeadLetter:
    for f in FIELDS:  # contract fields first, in field order
        if f in doc and f not in allowed:
            break
    else:
        for f in doc:  # then keys outside the contract, in document order
            if f not in allowed:
                break
    if t is None:
        return DeadLetter(FIELD_NOT_ALLOWED, f"field {_q(f)} is not part of the contract")
    if f == "result" and t == "stage_finished":
        return DeadLetter(
            FIELD_NOT_ALLOWED, 'field "result" is allowed only on stage_finished of theory_exam or practical_exam'
        )
    return DeadLetter(FIELD_NOT_ALLOWED, f"field {_q(f)} is not allowed on {t}")


def _wrong_type(doc: dict) -> DeadLetter:
    for f in FIELDS:
        if f in doc:
            v = doc[f]
            if f in INT_FIELDS:
                if type(v) is not int:
                    return DeadLetter(WRONG_TYPE, f'field "{f}" must be an integer, got {_jtype(v)}')
            elif type(v) is not str:
                return DeadLetter(WRONG_TYPE, f'field "{f}" must be a string, got {_jtype(v)}')
    raise AssertionError("no field with a wrong type")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Command line: validate JSONL files, or measure throughput on synthetic lines
# --------------------------------------------------------------------------------------------


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import time
    from collections import Counter

    parser = argparse.ArgumentParser(
        prog="python -m schemas.validate",
        description="Validate JSONL lines against event contract v1: counts per dead-letter code and lines/s.",
    )
    parser.add_argument("files", nargs="*", help="JSONL files (one message per line)")
    parser.add_argument("--synthetic", type=int, metavar="N", help="validate N realistic generated lines instead")
    parser.add_argument("--write", metavar="PATH", help="with --synthetic: also write the lines to PATH")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the fastest is reported (default 3)")
    args = parser.parse_args(argv)
    if args.synthetic:
        from schemas.corpus import synthetic_lines

        lines = synthetic_lines(args.synthetic)
        if args.write:
            with open(args.write, "wb") as f:
                f.write(b"\n".join(lines) + b"\n")
    elif args.files:
        lines = []
        for path in args.files:
            with open(path, "rb") as f:
                data = f.read()
            lines += data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")
    else:
        parser.error("give JSONL files or --synthetic N")
    best = best_cpu = float("inf")
    for _ in range(max(1, args.repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        results = [validate(line) for line in lines]
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    counts = Counter("valid" if type(r) is Event else r.code for r in results)
    size = sum(map(len, lines))
    print(
        f"validated {len(lines)} lines ({size} bytes) in {best:.3f} s wall, {best_cpu:.3f} s CPU: "
        f"{len(lines) / best:,.0f} lines/s ({len(lines) / best_cpu:,.0f} per CPU second)"
    )
    for code, n in counts.most_common():
        print(f"  {code:20} {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
