"""The branch catalog: every CON the Situation Center knows, shipped as data (``branches.csv``).

The catalog is data, not code, so that opening a branch or changing its hours is a one-line
change reviewed like any other, and so that the job, the simulator and ClickHouse
(``sitcen.branches``) all read the same rows. The file is validated strictly on load: a typo in
an opening hour would otherwise surface hours later as a wave of wrongly abandoned tickets.

Times: a branch's hours are local wall-clock times in its IANA zone; everything the pipeline
computes with is UTC epoch milliseconds, so the conversion lives here, once.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "Branch",
    "CatalogError",
    "COLUMNS",
    "DAYS",
    "KINDS",
    "STATUSES",
    "connected",
    "load_catalog",
    "to_rows",
]

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The file's columns, in order; they are also the columns of sitcen.branches (sinks/sql/ddl.sql).
COLUMNS: tuple[str, ...] = (
    "branch_id", "name", "city", "region", "kind", "status", "planned_opening", "timezone",
    *(f"hours_{d}" for d in DAYS),
    "windows", "exam_seats", "examiners", "inspectors",
)
KINDS = frozenset({"specialized", "general"})
STATUSES = frozenset({"connected", "planned"})

_SHIPPED = "branches.csv"
_ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_HOURS_RE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_UINT_RE = re.compile(r"\d+")
_UINT16_MAX = 65535  # the counts are UInt16 in ClickHouse; a larger value would wrap there
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class CatalogError(ValueError):
    """A catalog file that cannot be trusted; the message names the file, line, column and problem."""


@lru_cache(maxsize=None)
def _zone(name: str) -> ZoneInfo:
    """One ZoneInfo per zone name for the life of the process (there are only a handful)."""
    return ZoneInfo(name)


@lru_cache(maxsize=1 << 16)
def _local_to_ms(zone: str, day: date, minute_of_day: int) -> int:
    """UTC epoch ms of a local wall-clock time. Memoized: closing times are asked per ticket."""
    local = datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60), tzinfo=_zone(zone))
    return (local - _EPOCH) // _MS


@dataclass(frozen=True)
class Branch:
    """One CON. ``hours`` holds Mon..Sun as (open, close) local "HH:MM" pairs, or None when closed."""

    branch_id: str
    name: str
    city: str
    region: str
    kind: str
    status: str
    planned_opening: date | None
    timezone: str
    hours: tuple
    windows: int
    exam_seats: int
    examiners: int
    inspectors: int
    # Derived once so the hot path never parses strings: per weekday (open, close) minutes of day.
    _minutes: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        minutes = tuple(
            None if span is None else (_hhmm_to_minute(span[0]), _hhmm_to_minute(span[1]))
            for span in self.hours
        )
        if len(minutes) != 7:
            raise ValueError(f"{self.branch_id}: hours needs 7 entries (Mon..Sun), got {len(minutes)}")
        object.__setattr__(self, "_minutes", minutes)

    @property
    def specialized(self) -> bool:
        """Specialized CONs run exams and vehicle inspection; general ones mostly only take documents."""
        return self.kind == "specialized"

    def local_date(self, ts_ms: int) -> date:
        """The branch's local calendar date of a UTC epoch-ms instant (its working day).

        Flooring to whole seconds cannot change the date (UTC offsets are whole seconds) and keeps
        the conversion exact, with no float rounding near midnight.
        """
        return datetime.fromtimestamp(ts_ms // 1000, _zone(self.timezone)).date()

    def opening_ms(self, local_date: date) -> int | None:
        """UTC epoch ms at which the branch opens on that local date; None if closed that weekday."""
        span = self._minutes[local_date.weekday()]
        return None if span is None else _local_to_ms(self.timezone, local_date, span[0])

    def closing_ms(self, local_date: date) -> int | None:
        """UTC epoch ms at which the branch closes on that local date; None if closed that weekday."""
        span = self._minutes[local_date.weekday()]
        return None if span is None else _local_to_ms(self.timezone, local_date, span[1])


def _hhmm_to_minute(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:5])


def load_catalog(path: str | Path | None = None) -> dict[str, Branch]:
    """Read and validate a catalog file; ``None`` reads the one shipped in the ``schemas`` package.

    Returns ``{branch_id: Branch}`` in file order. Raises CatalogError on the first bad row.
    """
    if path is None:
        return {b.branch_id: b for b in _shipped()}
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{p}: cannot read catalog: {exc}") from exc
    return {b.branch_id: b for b in _parse(text, str(p))}


@lru_cache(maxsize=1)
def _shipped() -> tuple[Branch, ...]:
    """The packaged catalog, parsed once per process (Branch is immutable; callers get a fresh dict)."""
    text = resources.files("schemas").joinpath(_SHIPPED).read_text(encoding="utf-8-sig")
    return _parse(text, _SHIPPED)


def connected(catalog: Mapping[str, Branch]) -> list[Branch]:
    """The branches that send events today (status ``connected``), in catalog order."""
    return [b for b in catalog.values() if b.status == "connected"]


def to_rows(catalog: Mapping[str, Branch]) -> list[dict]:
    """Rows for ``sitcen.branches``: exactly its columns, hours back as ``HH:MM-HH:MM`` ('' = closed)."""
    rows = []
    for b in catalog.values():
        row: dict = {
            "branch_id": b.branch_id, "name": b.name, "city": b.city, "region": b.region,
            "kind": b.kind, "status": b.status, "planned_opening": b.planned_opening,
            "timezone": b.timezone,
        }
        for day, span in zip(DAYS, b.hours):
            row[f"hours_{day}"] = "" if span is None else f"{span[0]}-{span[1]}"
        row.update(windows=b.windows, exam_seats=b.exam_seats, examiners=b.examiners,
                   inspectors=b.inspectors)
        rows.append(row)
    return rows


def _parse(text: str, source: str) -> tuple[Branch, ...]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CatalogError(f"{source} line {reader.line_num}: {exc}") from exc
    if header is None:
        raise CatalogError(f"{source}: empty file, expected a header row")
    if tuple(h.strip() for h in header) != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        extra = [h for h in header if h not in COLUMNS]
        raise CatalogError(
            f"{source} line 1: header must be exactly {','.join(COLUMNS)}"
            f" (missing: {missing or 'none'}, unexpected: {extra or 'none'}, order matters)")

    branches: list[Branch] = []
    seen: dict[str, int] = {}
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise CatalogError(f"{source} line {reader.line_num}: {exc}") from exc
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue  # blank lines (e.g. a trailing one) carry nothing
        if len(fields) != len(COLUMNS):
            raise CatalogError(f"{source} line {line}: expected {len(COLUMNS)} fields, got {len(fields)}")
        branch = _row(dict(zip(COLUMNS, fields)), source, line)
        if branch.branch_id in seen:
            raise CatalogError(f"{source} line {line}, column branch_id: duplicate id "
                               f"{branch.branch_id!r} (first on line {seen[branch.branch_id]})")
        seen[branch.branch_id] = line
        branches.append(branch)
    return tuple(branches)


def _row(raw: dict[str, str], source: str, line: int) -> Branch:
    def bad(column: str, problem: str) -> CatalogError:
        return CatalogError(f"{source} line {line}, column {column}: {problem}")

    def text(column: str) -> str:
        value = raw[column].strip()
        if not value:
            raise bad(column, "must not be empty")
        return value

    branch_id = text("branch_id")
    if not _ID_RE.fullmatch(branch_id):
        raise bad("branch_id", f"{branch_id!r} is not a lowercase ascii slug (a-z, 0-9, single '-')")

    kind = text("kind")
    if kind not in KINDS:
        raise bad("kind", f"{kind!r} is not one of {sorted(KINDS)}")
    status = text("status")
    if status not in STATUSES:
        raise bad("status", f"{status!r} is not one of {sorted(STATUSES)}")

    opening_raw = raw["planned_opening"].strip()
    planned_opening: date | None = None
    if opening_raw:
        try:
            planned_opening = date.fromisoformat(opening_raw)
        except ValueError:
            raise bad("planned_opening", f"{opening_raw!r} is not an ISO date (YYYY-MM-DD)") from None
    if status == "planned" and planned_opening is None:
        raise bad("planned_opening", "a planned branch needs its planned opening date")
    if status == "connected" and planned_opening is not None:
        raise bad("planned_opening", "must be empty for a connected branch")

    zone = text("timezone")
    try:
        _zone(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad("timezone", f"{zone!r} is not a known IANA zone") from None

    hours = []
    for day in DAYS:
        column = f"hours_{day}"
        value = raw[column].strip()
        if not value:
            hours.append(None)
            continue
        if not _HOURS_RE.fullmatch(value):
            raise bad(column, f"{value!r} is not HH:MM-HH:MM (24-hour clock) or empty for closed")
        opens, closes = value.split("-")
        if opens >= closes:
            raise bad(column, f"{value!r}: opening must be before closing")
        hours.append((opens, closes))

    counts = {}
    for column in ("windows", "exam_seats", "examiners", "inspectors"):
        value = raw[column].strip()
        if not _UINT_RE.fullmatch(value) or int(value) > _UINT16_MAX:
            raise bad(column, f"{value!r} is not a whole number between 0 and {_UINT16_MAX}")
        counts[column] = int(value)
    if counts["windows"] == 0:
        raise bad("windows", "a branch needs at least one intake window")

    return Branch(
        branch_id=branch_id, name=text("name"), city=text("city"), region=text("region"),
        kind=kind, status=status, planned_opening=planned_opening, timezone=zone,
        hours=tuple(hours), **counts,
    )
