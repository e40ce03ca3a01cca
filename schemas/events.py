"""Event contract v1 as pydantic models: one strict model per event type, a union discriminated
on `type`. They document the contract and generate its JSON Schema:

    python -m schemas.events > schemas/con_event.v1.schema.json

The job does not validate through these models: `schemas.validate` is the fast reference
validator and `jobs/udf/java/` its twin in the JVM. What a JSON Schema cannot say (duplicate keys,
impossible calendar dates, integral floats such as 5.0, sizes in bytes) is listed in
`docs/contract.md` and in the corpus (`schema_blind`).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

SCHEMA_ID = "urn:sitcen:schema:con_event:v1"

#: The `ts` pattern of the JSON Schema. Stricter than the validator's regex on field ranges
#: (month, day 01-31, hour, minute, second, offset, years 1970-9999); the validators also check
#: the day against the month and leap years.
TS_PATTERN = (
    r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)

Service = Literal[
    "driver_license", "license_exchange", "vehicle_registration", "vehicle_reregistration", "plates_issue"
]
EventStage = Literal["intake", "theory_exam", "practical_exam", "vehicle_inspection", "production", "plates"]
ExamStage = Literal["theory_exam", "practical_exam"]
OtherStage = Literal["intake", "vehicle_inspection", "production", "plates"]

Id = Annotated[str, Field(min_length=1, max_length=64)]


def _json_integer(v: Any) -> Any:
    # JSON `true` is not the integer 1.
    if type(v) is not int:
        raise ValueError("must be a JSON integer")
    return v


SchemaVersion = Annotated[Literal[1], BeforeValidator(_json_integer)]

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class _Event(BaseModel):
    model_config = _STRICT

    event_id: Id = Field(
        description="Unique id of the event (1-64 characters). A repeated event_id is a duplicate and changes nothing."
    )
    type: str = Field(description="Event type.")  # narrowed to a Literal by every concrete model
    ts: str = Field(
        pattern=TS_PATTERN,
        description="Event time: RFC 3339 date-time with an explicit offset (Z or +hh:mm / -hh:mm), "
        "0-9 fraction digits, years 1970-9999; the instant is kept to the millisecond (fraction truncated).",
    )
    branch_id: Id = Field(
        description="Branch (CON) id from the branch catalog; unknown ids are kept and flagged, not dropped."
    )
    schema_: SchemaVersion = Field(
        default=None,
        alias="schema",
        description="Contract version. Optional; when present it must be the integer 1.",
    )


class _TicketEvent(_Event):
    ticket_id: Id = Field(description="Queue ticket id, unique nationally (1-64 characters).")
    service: Service = Field(
        default=None,
        description="Service of the ticket. Optional on later ticket events; when present it must match the ticket's.",
    )


class TicketIssued(_TicketEvent):
    """A citizen took a queue ticket: the ticket clock starts."""

    type: Literal["ticket_issued"] = Field(description="Event type.")
    service: Service = Field(description="Service the ticket is for.")


class StageStarted(_TicketEvent):
    """A stage of the ticket started (the citizen was called to a window, an exam, an inspection...)."""

    type: Literal["stage_started"] = Field(description="Event type.")
    stage: EventStage = Field(description="Stage; `queue` has no events of its own.")
    staff_id: Id = Field(default=None, description="Operator, examiner or inspector (optional).")


class _StageFinished(_TicketEvent):
    type: Literal["stage_finished"] = Field(description="Event type.")
    staff_id: Id = Field(default=None, description="Operator, examiner or inspector (optional).")


class ExamFinished(_StageFinished):
    """An exam stage finished, optionally with its result."""

    stage: ExamStage = Field(description="Exam stage.")
    result: Literal["passed", "failed"] = Field(
        default=None,
        description="Exam result (optional). A failed exam ends the ticket only when ticket_cancelled follows.",
    )


class StageFinished(_StageFinished):
    """A stage other than an exam finished (no `result`)."""

    stage: OtherStage = Field(description="Stage (not an exam).")


class DocumentIssued(_TicketEvent):
    """The document (license, certificate, plates) was handed over: the ticket is completed."""

    type: Literal["document_issued"] = Field(description="Event type.")


class TicketCancelled(_TicketEvent):
    """The ticket was cancelled: the ticket clock stops."""

    type: Literal["ticket_cancelled"] = Field(description="Event type.")
    reason: str = Field(default=None, max_length=1000, description="Why (optional, at most 1000 characters).")


class RatingSubmitted(_TicketEvent):
    """The citizen rated a member of staff."""

    type: Literal["rating_submitted"] = Field(description="Event type.")
    staff_id: Id = Field(description="The rated operator, examiner or inspector.")
    rating: int = Field(ge=1, le=5, description="Rating, an integer 1-5 (5.0 and \"5\" are not integers).")


class Heartbeat(_Event):
    """A branch system is alive; sent every 60 s. Moves event time only."""

    type: Literal["heartbeat"] = Field(description="Event type.")


StageFinishedEvent = Annotated[Union[ExamFinished, StageFinished], Field(discriminator="stage")]

ConEvent = Annotated[
    Union[
        TicketIssued,
        StageStarted,
        StageFinishedEvent,
        DocumentIssued,
        TicketCancelled,
        RatingSubmitted,
        Heartbeat,
    ],
    Field(discriminator="type"),
]

con_event_adapter: TypeAdapter[Any] = TypeAdapter(ConEvent)


def _drop_null_defaults(node: Any) -> Any:
    # Optional fields are "absent or valid", never null: a `"default": null` would suggest null is allowed.
    if isinstance(node, dict):
        return {k: _drop_null_defaults(v) for k, v in node.items() if not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_drop_null_defaults(v) for v in node]
    return node


def _name_nested_union(body: dict[str, Any]) -> dict[str, Any]:
    # The stage_finished branch is itself a union (discriminated on `stage`); give it a name in $defs
    # so that every `type` maps to a reference.
    ref = "#/$defs/StageFinishedEvent"
    for i, item in enumerate(body["oneOf"]):
        if "$ref" not in item:
            body["$defs"]["StageFinishedEvent"] = {
                "title": "StageFinishedEvent",
                "description": "A stage finished: an exam (may carry `result`) or another stage (may not).",
                **item,
            }
            body["oneOf"][i] = {"$ref": ref}
    mapping = body["discriminator"]["mapping"]
    for key, target in mapping.items():
        if not isinstance(target, str):
            mapping[key] = ref
    return body


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event, generated from the models."""
    body = _name_nested_union(_drop_null_defaults(con_event_adapter.json_schema(by_alias=True)))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "CON event, contract v1",
        "description": "One event of a public service center (CON) as sent to the Situation Center: one JSON "
        "object per Kafka message or JSONL line, UTF-8, at most 65536 bytes, no duplicate keys. "
        "Generated from schemas/events.py; see docs/contract.md.",
        **body,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(json_schema_text())
