"""Dead-letter codes of event contract v1, in the order they are checked.

A line that breaks several rules gets the code of the earliest failing check, so one input always
gets one code. This list is the single source for `docs/contract.md`, the validators
(`schemas.validate`, `jobs/udf/java/sitcen/udf/Validator.java`) and the corpus tests.
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    name: str
    description: str
    produced_by_validators: bool = True


CODES: tuple[Code, ...] = (
    Code("oversized", "the raw message is longer than 65536 bytes"),
    Code(
        "invalid_json",
        "not valid UTF-8, not strict JSON (RFC 8259: no NaN/Infinity, no trailing garbage, no unpaired "
        "surrogate escapes), or an object with a duplicate key anywhere in the document",
    ),
    Code("not_object", "valid JSON, but not an object"),
    Code("missing_field", "a required field is absent (null counts as present)"),
    Code("field_not_allowed", "a key outside the fields allowed for the event's type"),
    Code("wrong_type", "a field with the wrong JSON type (strings, except integer `rating` and `schema`)"),
    Code("unknown_enum", "`type`, `service`, `stage` or `result` outside its enumeration"),
    Code("bad_timestamp", "`ts` is not an RFC 3339 date-time with an explicit offset, years 1970-9999"),
    Code("bad_length", "an id empty or over 64 characters, or `reason` over 1000 characters"),
    Code("rating_out_of_range", "`rating` not in 1..5"),
    Code("bad_schema_version", "`schema` present and not 1"),
    Code(
        "service_mismatch",
        "the event's `service` differs from its ticket's (checked by the ticket operator, not the validators)",
        produced_by_validators=False,
    ),
)

#: Every code, in check order.
CODE_NAMES: tuple[str, ...] = tuple(c.name for c in CODES)
#: The codes `schemas.validate.validate` and the Java validator can return.
VALIDATOR_CODES: tuple[str, ...] = tuple(c.name for c in CODES if c.produced_by_validators)
#: Position of each code in the check order (0 = checked first).
RANK: dict[str, int] = {name: i for i, name in enumerate(CODE_NAMES)}
DESCRIPTIONS: dict[str, str] = {c.name: c.description for c in CODES}

OVERSIZED = "oversized"
INVALID_JSON = "invalid_json"
NOT_OBJECT = "not_object"
MISSING_FIELD = "missing_field"
FIELD_NOT_ALLOWED = "field_not_allowed"
WRONG_TYPE = "wrong_type"
UNKNOWN_ENUM = "unknown_enum"
BAD_TIMESTAMP = "bad_timestamp"
BAD_LENGTH = "bad_length"
RATING_OUT_OF_RANGE = "rating_out_of_range"
BAD_SCHEMA_VERSION = "bad_schema_version"
SERVICE_MISMATCH = "service_mismatch"
