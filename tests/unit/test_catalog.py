"""The shipped branch catalog (schemas/branches.csv) and its loader (schemas/catalog.py)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schemas.catalog import COLUMNS, DAYS, Branch, CatalogError, connected, load_catalog, to_rows

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "schemas" / "branches.csv"
DDL = ROOT / "sinks" / "sql" / "ddl.sql"

SPECIALIZED_CONNECTED = {"spec-astana", "spec-almaty", "spec-karaganda", "spec-aktau", "spec-taraz"}
SPECIALIZED_PLANNED = {"spec-kyzylorda", "spec-petropavlovsk", "spec-pavlodar", "spec-taldykorgan"}
ZONES = {"Asia/Almaty", "Asia/Aqtau", "Asia/Aqtobe", "Asia/Atyrau", "Asia/Oral", "Asia/Qostanay",
         "Asia/Qyzylorda"}


def utc_ms(*args: int) -> int:
    """Epoch ms of a UTC wall-clock instant, computed without any zone database."""
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def catalog() -> dict[str, Branch]:
    return load_catalog()


# --- the shipped data ---------------------------------------------------------------------------

def test_counts(catalog: dict[str, Branch]) -> None:
    assert len(catalog) == 166
    assert len(set(catalog)) == 166
    assert all(b.branch_id == k for k, b in catalog.items())
    assert len(connected(catalog)) == 162
    assert sum(b.status == "planned" for b in catalog.values()) == 4


def test_specialized(catalog: dict[str, Branch]) -> None:
    for bid in SPECIALIZED_CONNECTED | SPECIALIZED_PLANNED:
        b = catalog[bid]
        assert b.kind == "specialized" and b.specialized
        assert b.exam_seats > 0 and b.examiners > 0 and b.inspectors > 0
        assert 10 <= b.windows <= 30
    for bid in SPECIALIZED_CONNECTED:
        assert catalog[bid].status == "connected" and catalog[bid].planned_opening is None
    for bid in SPECIALIZED_PLANNED:
        b = catalog[bid]
        assert b.status == "planned"
        assert b.planned_opening is not None and b.planned_opening.year == 2027
    assert {b.branch_id for b in catalog.values() if b.specialized} == (
        SPECIALIZED_CONNECTED | SPECIALIZED_PLANNED)
    assert not [b for b in catalog.values() if b.status == "planned" and not b.specialized]


def test_connected_keeps_file_order(catalog: dict[str, Branch]) -> None:
    ids = [line.split(",", 1)[0] for line in SHIPPED.read_text(encoding="utf-8").splitlines()[1:]]
    assert list(catalog) == ids
    assert [b.branch_id for b in connected(catalog)] == [i for i in ids if catalog[i].status == "connected"]


def test_regions_and_cities(catalog: dict[str, Branch]) -> None:
    regions = {b.region for b in connected(catalog)}
    assert len(regions) == 20  # 17 regions + Astana, Almaty, Shymkent
    per_region = {r: sum(b.region == r for b in connected(catalog)) for r in regions}
    assert per_region["Алматы"] == 14 and per_region["Астана"] == 11 and per_region["Шымкент"] == 7
    assert all(n >= 3 for n in per_region.values())


def test_timezones_are_utc_plus_5(catalog: dict[str, Branch]) -> None:
    assert {b.timezone for b in catalog.values()} <= ZONES
    for b in catalog.values():
        zone = ZoneInfo(b.timezone)
        for day in (datetime(2026, 6, 1, 12), datetime(2026, 12, 1, 12)):
            assert day.replace(tzinfo=zone).utcoffset() == timedelta(hours=5), b.branch_id


def test_zone_follows_region(catalog: dict[str, Branch]) -> None:
    expected = {"Кызылординская область": "Asia/Qyzylorda", "Мангистауская область": "Asia/Aqtau",
                "Актюбинская область": "Asia/Aqtobe", "Атырауская область": "Asia/Atyrau",
                "Западно-Казахстанская область": "Asia/Oral", "Костанайская область": "Asia/Qostanay"}
    for b in catalog.values():
        assert b.timezone == expected.get(b.region, "Asia/Almaty"), b.branch_id


def test_hours_and_counts(catalog: dict[str, Branch]) -> None:
    hhmm = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
    for b in catalog.values():
        assert len(b.hours) == 7
        for span in b.hours:
            if span is not None:
                assert hhmm.fullmatch(span[0]) and hhmm.fullmatch(span[1]) and span[0] < span[1]
        if b.status == "connected":
            assert sum(span is not None for span in b.hours) >= 5, b.branch_id
        assert min(b.windows, b.exam_seats, b.examiners, b.inspectors) >= 0
        if not b.specialized:
            assert 4 <= b.windows <= 20, b.branch_id
    exams = [b for b in catalog.values() if not b.specialized and b.examiners > 0]
    assert 0 < len(exams) <= 10


def test_ids_are_slugs(catalog: dict[str, Branch]) -> None:
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", bid) for bid in catalog)


# --- local time ---------------------------------------------------------------------------------

def test_opening_closing_round_trip(catalog: dict[str, Branch]) -> None:
    aktau = catalog["spec-aktau"]  # Asia/Aqtau, 09:00-20:00 on weekdays
    tue = date(2026, 11, 24)
    assert aktau.hours[tue.weekday()] == ("09:00", "20:00")
    opens, closes = aktau.opening_ms(tue), aktau.closing_ms(tue)
    assert opens == utc_ms(2026, 11, 24, 4, 0) == 1795492800000  # 09:00 at UTC+5 = 04:00Z
    assert closes == utc_ms(2026, 11, 24, 15, 0)  # 20:00 at UTC+5 = 15:00Z
    assert aktau.local_date(opens) == tue and aktau.local_date(closes) == tue
    # 19:30Z is already 00:30 of the next local day; 18:59:59.999Z is the last ms of this one.
    assert aktau.local_date(utc_ms(2026, 11, 24, 19, 30)) == date(2026, 11, 25)
    assert aktau.local_date(utc_ms(2026, 11, 24, 19, 0) - 1) == tue
    assert aktau.local_date(utc_ms(2026, 11, 24, 19, 0)) == date(2026, 11, 25)
    assert aktau.closing_ms(tue) == closes  # memoized path gives the same answer


def test_closed_day_is_none(catalog: dict[str, Branch]) -> None:
    b = catalog["spec-aktau"]
    sunday = date(2026, 11, 29)
    assert sunday.weekday() == 6 and b.hours[6] is None
    assert b.opening_ms(sunday) is None and b.closing_ms(sunday) is None


def test_history_uses_the_zone_database(catalog: dict[str, Branch]) -> None:
    # Before 2024-03-01 Kostanay was UTC+6: 09:00 local was 03:00Z, not 04:00Z.
    b = catalog["kst-kostanay-1"]
    assert b.opening_ms(date(2024, 2, 27)) == utc_ms(2024, 2, 27, 3, 0)
    assert b.opening_ms(date(2024, 3, 5)) == utc_ms(2024, 3, 5, 4, 0)


# --- to_rows / DDL ------------------------------------------------------------------------------

def ddl_columns(table: str) -> list[str]:
    text = DDL.read_text(encoding="utf-8")
    m = re.search(rf"CREATE TABLE (?:IF NOT EXISTS )?{re.escape(table)}\s*\((.*?)\n\)\s*ENGINE", text, re.S)
    assert m, f"{table} not found in {DDL}"
    body, depth, parts, cur = m.group(1), 0, [], ""
    for ch in body:  # split on top-level commas only: types like DateTime64(3, 'UTC') hold commas
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.split()[0] for p in parts if p.strip()]


def test_to_rows_matches_ddl(catalog: dict[str, Branch]) -> None:
    columns = ddl_columns("sitcen.branches")
    assert columns == list(COLUMNS)
    rows = to_rows(catalog)
    assert len(rows) == 166
    assert all(list(r) == columns for r in rows)
    by_id = {r["branch_id"]: r for r in rows}
    assert by_id["spec-kyzylorda"]["planned_opening"] == catalog["spec-kyzylorda"].planned_opening
    assert isinstance(by_id["spec-kyzylorda"]["planned_opening"], date)
    assert by_id["spec-aktau"]["planned_opening"] is None
    assert by_id["spec-aktau"]["hours_mon"] == "09:00-20:00" and by_id["spec-aktau"]["hours_sun"] == ""


def test_to_rows_round_trips_the_file(catalog: dict[str, Branch]) -> None:
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()[1:]
    for line, row in zip(lines, to_rows(catalog)):
        as_text = ["" if v is None else v.isoformat() if isinstance(v, date) else str(v)
                   for v in row.values()]
        assert ",".join(as_text) == line


def test_load_from_path(tmp_path: Path) -> None:
    copy = tmp_path / "b.csv"
    copy.write_bytes(SHIPPED.read_bytes())
    assert load_catalog(copy) == load_catalog(str(copy)) == load_catalog()


# --- broken files -------------------------------------------------------------------------------

HEADER = ",".join(COLUMNS)
GOOD = "x-1,ЦОН X,Город,Область,general,connected,,Asia/Almaty," + ",".join(
    ["09:00-19:00"] * 5 + ["09:00-13:00", ""]) + ",6,0,0,0"


def write(tmp_path: Path, *rows: str) -> Path:
    p = tmp_path / "bad.csv"
    p.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return p


def with_field(column: str, value: str, row: str = GOOD) -> str:
    fields = row.split(",")
    fields[COLUMNS.index(column)] = value
    return ",".join(fields)


def test_good_minimal_file(tmp_path: Path) -> None:
    cat = load_catalog(write(tmp_path, GOOD, "", with_field("branch_id", "x-2")))
    assert list(cat) == ["x-1", "x-2"]
    assert cat["x-1"].hours[5] == ("09:00", "13:00") and cat["x-1"].hours[6] is None


@pytest.mark.parametrize("rows, line, column, problem", [
    ((GOOD, GOOD), 3, "branch_id", "duplicate id 'x-1' (first on line 2)"),
    ((GOOD, with_field("branch_id", "x-2"), with_field("timezone", "Asia/Nowhere")), 4, "timezone",
     "not a known IANA zone"),
    ((with_field("timezone", "../etc/passwd"),), 2, "timezone", "not a known IANA zone"),
    ((with_field("hours_wed", "19:00-09:00"),), 2, "hours_wed", "opening must be before closing"),
    ((with_field("hours_mon", "9:00-18:00"),), 2, "hours_mon", "is not HH:MM-HH:MM"),
    ((with_field("hours_sat", "09:00-24:00"),), 2, "hours_sat", "is not HH:MM-HH:MM"),
    ((with_field("kind", "special"),), 2, "kind", "is not one of"),
    ((with_field("status", "open"),), 2, "status", "is not one of"),
    ((with_field("status", "planned"),), 2, "planned_opening", "needs its planned opening date"),
    ((with_field("planned_opening", "2027-02-30"),), 2, "planned_opening", "not an ISO date"),
    ((with_field("planned_opening", "2027-03-01"),), 2, "planned_opening", "must be empty"),
    ((with_field("windows", "-1"),), 2, "windows", "not a whole number"),
    ((with_field("windows", "0"),), 2, "windows", "at least one intake window"),
    ((with_field("exam_seats", "70000"),), 2, "exam_seats", "not a whole number"),
    ((with_field("examiners", "2.5"),), 2, "examiners", "not a whole number"),
    ((with_field("branch_id", "X 1"),), 2, "branch_id", "not a lowercase ascii slug"),
    ((with_field("name", " "),), 2, "name", "must not be empty"),
])
def test_bad_rows(tmp_path: Path, rows: tuple[str, ...], line: int, column: str, problem: str) -> None:
    with pytest.raises(CatalogError) as err:
        load_catalog(write(tmp_path, *rows))
    message = str(err.value)
    assert f"line {line}, column {column}:" in message
    assert problem in message


def test_bad_field_count_and_header(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"line 2: expected 19 fields, got 18"):
        load_catalog(write(tmp_path, GOOD.rsplit(",", 1)[0]))
    p = tmp_path / "h.csv"
    p.write_text(HEADER.replace("windows", "desks") + "\n" + GOOD + "\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"line 1: header.*missing: \['windows'\]"):
        load_catalog(p)


def test_branch_direct_construction() -> None:
    hours = (("09:00", "18:00"),) * 5 + (None, None)
    b = Branch("t", "T", "C", "R", "general", "connected", None, "Asia/Almaty", hours, 4, 0, 0, 0)
    assert not b.specialized
    assert b.closing_ms(date(2026, 6, 1)) == utc_ms(2026, 6, 1, 13, 0)
    assert b.closing_ms(date(2026, 6, 6)) is None
    assert len(DAYS) == 7
