"""Events as the simulator holds them: event time in UTC epoch ms, plus the exact wire line.

The wire form is DESIGN §3 (contract v1): one compact JSON object per line, `ts` in RFC 3339 with
the branch's local offset and millisecond precision. Lines are rendered with f-strings, not
`json.dumps`: every value the world produces is a plain ASCII slug or enum, and rendering is the
simulator's hot path (a national day is ~350k lines).
"""

from __future__ import annotations

import json
from operator import itemgetter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

_MS_PER_HOUR = 3_600_000
_MS_PER_DAY = 86_400_000
#: "HH:MM" for every minute of the day (formatting is the hot path).
HHMM = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(1440))
#: "SS.mmm" for every millisecond of a minute.
SSMS = tuple(f"{s:02d}.{ms:03d}" for s in range(60) for ms in range(1000))
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

class SimEvent:
    """One event (ticket event or heartbeat). `ts` is UTC epoch ms; `line` is its wire form."""

    __slots__ = ("event_id", "type", "ts", "branch_id", "ticket_id", "service", "stage", "staff_id",
                 "result", "rating", "reason", "line")

    def __init__(self, event_id: str, type: str, ts: int, branch_id: str, ticket_id: str | None = None,
                 service: str | None = None, stage: str | None = None, staff_id: str | None = None,
                 result: str | None = None, rating: int | None = None, reason: str | None = None,
                 line: str | None = None) -> None:
        self.event_id = event_id
        self.type = type
        self.ts = ts
        self.branch_id = branch_id
        self.ticket_id = ticket_id
        self.service = service
        self.stage = stage
        self.staff_id = staff_id
        self.result = result
        self.rating = rating
        self.reason = reason
        self.line = line

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"SimEvent({self.line or self.event_id})"

    def copy(self, **changes) -> "SimEvent":
        fields = {k: getattr(self, k) for k in self.__slots__}
        fields.update(changes)
        return SimEvent(**fields)


class Heartbeat(tuple):
    """A heartbeat: (ts, event_id, branch_id, line) with the attributes of a SimEvent.

    A national day holds ~250k of them, so they are tuples (built in C, no __init__ call).
    """

    __slots__ = ()
    type = "heartbeat"
    ticket_id = service = stage = staff_id = result = rating = reason = None
    ts = property(itemgetter(0))
    event_id = property(itemgetter(1))
    branch_id = property(itemgetter(2))
    line = property(itemgetter(3))

    def __new__(cls, event_id: str, ts: int, branch_id: str, line: str) -> "Heartbeat":
        return tuple.__new__(cls, (ts, event_id, branch_id, line))


def render(ev: SimEvent, ts_text: str) -> str:
    """Compact JSON line of a world event (values are ASCII slugs/enums; see module docstring)."""
    parts = [f'{{"event_id":"{ev.event_id}","type":"{ev.type}","ts":"{ts_text}","branch_id":"{ev.branch_id}"']
    if ev.ticket_id is not None:
        parts.append(f',"ticket_id":"{ev.ticket_id}"')
    if ev.service is not None:
        parts.append(f',"service":"{ev.service}"')
    if ev.stage is not None:
        parts.append(f',"stage":"{ev.stage}"')
    if ev.staff_id is not None:
        parts.append(f',"staff_id":"{ev.staff_id}"')
    if ev.result is not None:
        parts.append(f',"result":"{ev.result}"')
    if ev.rating is not None:
        parts.append(f',"rating":{ev.rating}')
    if ev.reason is not None:
        parts.append(f',"reason":{json.dumps(ev.reason)}')
    parts.append("}")
    return "".join(parts)


def dumps(obj) -> str:
    """Compact JSON for anything that is not a world event (malformed lines, truth rows)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class TsFormatter:
    """Formats UTC epoch ms as RFC 3339 in one IANA zone, e.g. ``2026-11-24T09:03:12.345+05:00``.

    The zone's offset is looked up once per UTC hour and the date text once per local day, so a
    call is a few integer operations (Kazakhstan has no DST; the hour cache still follows the
    2024-03-01 change from +06:00 to +05:00 for dates before it).
    """

    __slots__ = ("zone", "_offsets", "_days")

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)
        self._offsets: dict[int, tuple[int, str]] = {}
        self._days: dict[int, str] = {}

    def _offset(self, hour: int) -> tuple[int, str]:
        got = self._offsets.get(hour)
        if got is None:
            at = _EPOCH + timedelta(milliseconds=hour * _MS_PER_HOUR)
            off = at.astimezone(self.zone).utcoffset() or timedelta(0)
            off_ms = int(off.total_seconds() * 1000)
            sign = "+" if off_ms >= 0 else "-"
            mins = abs(off_ms) // 60_000
            got = self._offsets[hour] = (off_ms, f"{sign}{mins // 60:02d}:{mins % 60:02d}")
        return got

    def __call__(self, ms: int) -> str:
        got = self._offsets.get(ms // _MS_PER_HOUR)
        off_ms, suffix = got if got is not None else self._offset(ms // _MS_PER_HOUR)
        day, rest = divmod(ms + off_ms, _MS_PER_DAY)
        d = self._days.get(day)
        if d is None:
            d = self._days[day] = (_EPOCH_DATE + timedelta(days=day)).isoformat()
        minute, rest = divmod(rest, 60_000)
        return f"{d}T{HHMM[minute]}:{SSMS[rest]}{suffix}"

    def offset_ms(self, ms: int) -> tuple[int, str]:
        """(UTC offset in ms, "+05:00") in force at an instant."""
        return self._offset(ms // _MS_PER_HOUR)

    def date_text(self, local_day: int) -> str:
        d = self._days.get(local_day)
        if d is None:
            d = self._days[local_day] = (_EPOCH_DATE + timedelta(days=local_day)).isoformat()
        return d


def parse_ts(text: str) -> int:
    """RFC 3339 text with an offset (or Z) -> UTC epoch ms."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text!r}")
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def from_wire(obj: dict, line: str | None = None) -> SimEvent:
    """A contract object (already valid) -> SimEvent; used by tests and by re-judging a file."""
    return SimEvent(
        event_id=obj["event_id"], type=obj["type"], ts=parse_ts(obj["ts"]), branch_id=obj["branch_id"],
        ticket_id=obj.get("ticket_id"), service=obj.get("service"), stage=obj.get("stage"),
        staff_id=obj.get("staff_id"), result=obj.get("result"), rating=obj.get("rating"),
        reason=obj.get("reason"), line=line,
    )
