"""Compare what the pipeline wrote to ClickHouse with the simulator's ground truth (`expected/`).

The truth (docs/semantics.md, "Ground truth layout") says what a correct pipeline writes for the
delivered file. ClickHouse is read the way every consumer reads it — ReplacingMergeTree tables with
FINAL (deleted rows gone), withdrawn alerts left out (they are counted, not compared) — and each
table is matched row by row on its key:

| table | key | compared |
|---|---|---|
| tickets | ticket_id | status, times, every `<stage>_s` / `wait_*_s`, breach, cause, rating, … |
| ticket_stages | ticket_id, stage, attempt | result, responsible, staff, times, duration, limit, overrun |
| alerts (standing) | alert_id | kind, ticket, stage, attempt, status, times, overrun, cause, limit |
| branch_minute | branch_id, window_start | every count |

plus dead letters by code and the too-late count. Instants compare as instants (the truth writes
ISO ``…Z``, ClickHouse returns datetimes) to the millisecond; durations in seconds within 1 ms.
A column the truth's rows do not carry is not compared.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import operator
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sinks.clickhouse import Client, parse_instant

DURATION_TOLERANCE_S = 0.001
EXAMPLES = 5

STAGE_SECONDS = tuple(
    f"{s}_s" for s in ("queue", "intake", "theory_exam", "practical_exam", "vehicle_inspection", "production", "plates")
)
WAIT_SECONDS = tuple(
    f"wait_{s}_s"
    for s in ("intake", "theory_exam", "practical_exam", "vehicle_inspection", "production", "plates", "document")
)


@dataclass(frozen=True)
class TableSpec:
    table: str
    truth_file: str
    key: tuple[str, ...]
    columns: tuple[str, ...] | None  # None: every column of the table but the key and bookkeeping
    where: str = ""
    context: tuple[str, ...] = ()  # shown beside the key in examples, to say what the row is


SPECS = (
    TableSpec(
        "tickets", "tickets.jsonl", ("ticket_id",),
        ("status", "issued_at", "finished_at", "total_s", *STAGE_SECONDS, *WAIT_SECONDS, "breached", "cause_stage",
         "responsible", "rating", "service", "branch_id", "known_branch"),
    ),
    TableSpec(
        "ticket_stages", "ticket_stages.jsonl", ("ticket_id", "stage", "attempt"),
        ("result", "responsible", "staff_id", "started_at", "finished_at", "duration_s", "limit_s", "overrun_s"),
    ),
    TableSpec(
        "alerts", "alerts.jsonl", ("alert_id",),
        ("kind", "ticket_id", "stage", "attempt", "status", "detected_at", "resolved_at", "overrun_s", "cause_stage",
         "responsible", "limit_s", "started_at"),
        where="status != 'withdrawn'",
        context=("ticket_id", "kind", "stage", "attempt"),
    ),
    TableSpec("branch_minute", "branch_minute.jsonl", ("branch_id", "window_start"), None),
)
BOOKKEEPING = frozenset({"version", "is_deleted"})
_ABSENT = object()  # a column the truth row does not carry: not compared
TRUTH_FILES = tuple(s.truth_file for s in SPECS) + ("dead_letters.json", "summary.json")


class TruthError(ValueError):
    """The truth directory is missing or incomplete (a usage error, not a difference)."""


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class TableDiff:
    table: str
    key: tuple[str, ...]
    expected_rows: int = 0
    actual_rows: int = 0
    compared: tuple[str, ...] = ()
    missing: int = 0
    unexpected: int = 0
    different: int = 0
    columns: Counter = field(default_factory=Counter)  # differing column -> rows
    missing_examples: list[dict] = field(default_factory=list)
    unexpected_examples: list[dict] = field(default_factory=list)
    different_examples: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.different)

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "key": list(self.key),
            "expected_rows": self.expected_rows,
            "actual_rows": self.actual_rows,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "different": self.different,
            "columns": dict(self.columns.most_common()),
            "examples": {
                "missing": self.missing_examples,
                "unexpected": self.unexpected_examples,
                "different": self.different_examples,
            },
        }


@dataclass
class CountsDiff:
    """A comparison of counts: dead letters by code, or the too-late total (code '')."""

    expected: dict[str, int]
    actual: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.expected == self.actual

    def differing(self) -> list[tuple[str, int, int]]:
        codes = sorted(set(self.expected) | set(self.actual))
        return [(c, self.expected.get(c, 0), self.actual.get(c, 0)) for c in codes
                if self.expected.get(c, 0) != self.actual.get(c, 0)]


@dataclass
class VerifyResult:
    clickhouse: str
    truth: str
    tables: list[TableDiff]
    dead_letters: CountsDiff
    too_late: CountsDiff
    withdrawn_alerts: int

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and self.dead_letters.ok and self.too_late.ok

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "clickhouse": self.clickhouse,
            "truth": self.truth,
            "tables": {t.table: t.to_json() for t in self.tables},
            "dead_letters": {
                "ok": self.dead_letters.ok, "expected": self.dead_letters.expected, "actual": self.dead_letters.actual,
            },
            "too_late": {
                "ok": self.too_late.ok, "expected": self.too_late.expected.get("", 0),
                "actual": self.too_late.actual.get("", 0),
            },
            "withdrawn_alerts": self.withdrawn_alerts,
        }


# ---------------------------------------------------------------------------------------------
# Values: one normal form per ClickHouse type, for both sides


def _kind(ch_type: str) -> str:
    t = ch_type.replace("Nullable(", "").replace("LowCardinality(", "")
    if t.startswith("DateTime"):
        return "instant"
    if t.startswith("Date"):
        return "date"
    if t.startswith("Float") or t.startswith("Decimal"):
        return "seconds"
    if t.startswith(("UInt", "Int")):
        return "int"
    return "string"


def _normal(kind: str, value: Any) -> Any:
    """The comparable form of a value: instants as epoch ms, ints as int, strings with NULL as ''."""
    if kind == "string":
        return "" if value is None else str(value)
    if value is None:
        return None
    if kind == "instant":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
        instant = parse_instant(value)
        return round(instant.timestamp() * 1000)
    if kind == "date":
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    if kind == "int":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if kind == "seconds":
        return float(value)
    return value


def _same(kind: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if kind == "seconds":
        try:
            return math.isclose(a, b, rel_tol=0, abs_tol=DURATION_TOLERANCE_S + 1e-9)
        except TypeError:
            return False
    return a == b


def _show(kind: str, value: Any) -> Any:
    """A value as examples print it (instants back to ISO ``…Z``)."""
    if kind == "instant" and isinstance(value, int):
        t = dt.datetime.fromtimestamp(value / 1000, dt.timezone.utc)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value % 1000:03d}Z"
    if kind == "date" and isinstance(value, dt.date):
        return value.isoformat()
    return value


# ---------------------------------------------------------------------------------------------
# Reading both sides


def expected_dir(truth: str | Path) -> Path:
    """`DIR/expected` (or DIR itself when it already is the expected layer); TruthError if absent."""
    root = Path(truth)
    if not root.exists():
        raise TruthError(f"truth directory not found: {root}")
    if not root.is_dir():
        raise TruthError(f"--truth wants the truth directory (FILE.jsonl.truth/), not a file: {root}")
    exp = root / "expected"
    if not exp.is_dir():
        if (root / "tickets.jsonl").is_file() and (root / "summary.json").is_file():
            exp = root
        else:
            raise TruthError(f"{root} has no expected/ layer (is it a `sitcen simulate` truth directory?)")
    missing = [name for name in TRUTH_FILES if not (exp / name).is_file()]
    if missing:
        raise TruthError(f"the truth in {exp} is incomplete: missing {', '.join(missing)}")
    return exp


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    loads = json.loads
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = loads(line)
            except json.JSONDecodeError as exc:
                raise TruthError(f"{path}:{n}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise TruthError(f"{path}:{n}: not a JSON object")
            rows.append(row)
    return rows


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TruthError(f"{path}: not JSON ({exc.msg})") from None


_EPOCH_DAYS: dict[str, int] = {}


def _instant_ms(v: Any) -> Any:
    """Epoch ms of an instant; `YYYY-MM-DDTHH:MM:SS.mmmZ` (the truth's own spelling) on a fast path."""
    if isinstance(v, str) and len(v) == 24 and v[10] == "T" and v[23] == "Z" and v[19] == ".":
        day = _EPOCH_DAYS.get(v[:10])
        try:
            if day is None:
                day = _EPOCH_DAYS[v[:10]] = dt.date.fromisoformat(v[:10]).toordinal() - 719163
            return ((day * 24 + int(v[11:13])) * 60 + int(v[14:16])) * 60_000 + int(v[17:19]) * 1000 + int(v[20:23])
        except ValueError:
            pass
    try:
        return _normal("instant", v)
    except (TypeError, ValueError):
        return v  # not an instant at all: compares unequal to any


def _equal(kind: str, want: Any, got: Any) -> bool:
    """Whether a truth value and a ClickHouse value agree (after the exact comparison failed)."""
    if kind == "instant":
        return _instant_ms(want) == _instant_ms(got) if want is not None and got is not None else want is got
    if kind == "string":
        return ("" if want is None else str(want)) == ("" if got is None else str(got))
    try:
        return _same(kind, _normal(kind, want), _normal(kind, got))
    except (TypeError, ValueError):
        return False


def _select(name: str, kind: str, in_key: bool) -> str:
    """How ClickHouse returns a column for comparison: instants in a key as epoch ms, other instants in
    the truth's own spelling (`…T…mmmZ`), so that the common case compares equal without parsing."""
    if kind == "instant":
        ms = f"toDateTime64(`{name}`, 3, 'UTC')"
        if in_key:
            return f"toUnixTimestamp64Milli({ms}) AS `{name}`"
        return f"concat(replaceOne(toString({ms}), ' ', 'T'), 'Z') AS `{name}`"
    return f"`{name}`"


def compare_table(client: Client, spec: TableSpec, exp_dir: Path, examples: int = EXAMPLES) -> TableDiff:
    types = dict(client.columns(spec.table))
    kinds = {name: _kind(t) for name, t in types.items()}
    truth_rows = list(_read_jsonl(exp_dir / spec.truth_file))
    wanted = spec.columns or tuple(c for c in types if c not in spec.key and c not in BOOKKEEPING)
    present: set[str] = set()
    for r in truth_rows:
        present.update(r.keys())
    if not truth_rows:
        present = set(wanted)
    compared = tuple(c for c in wanted if c in present and c in types)
    for k in spec.key:
        if truth_rows and k not in present:
            raise TruthError(f"{exp_dir / spec.truth_file}: rows have no key column {k!r}")

    nkey = len(spec.key)
    cols = list(spec.key) + list(compared)
    key_fix = [(i, _instant_ms) for i, c in enumerate(spec.key) if kinds[c] == "instant"]
    key_fix += [(i, lambda v: "" if v is None else v) for i, c in enumerate(spec.key) if kinds[c] == "string"]
    pick = operator.itemgetter(*cols)

    expected: dict[tuple, tuple] = {}
    for r in truth_rows:
        try:
            values = pick(r)
        except KeyError:  # a row without some column: that column is not compared for it
            values = tuple(r.get(c, _ABSENT) for c in cols)
        if len(cols) == 1:
            values = (values,)
        key = values[:nkey]
        if key_fix:
            key = list(key)
            for i, f in key_fix:
                key[i] = f(key[i])
            key = tuple(key)
        expected[key] = values[nkey:]

    where = f" WHERE {spec.where}" if spec.where else ""
    _, rows = client.query_tuples(
        f"SELECT {', '.join(_select(c, kinds[c], c in spec.key) for c in cols)} FROM sitcen.{spec.table} FINAL{where}"
    )
    actual: dict[tuple, tuple] = {row[:nkey]: row[nkey:] for row in rows}

    diff = TableDiff(spec.table, spec.key, expected_rows=len(expected), actual_rows=len(actual), compared=compared)
    context = [(c, compared.index(c)) for c in spec.context if c in compared]

    def key_json(k: tuple, values: tuple | None = None) -> dict:
        out = {name: _show(kinds[name], v) for name, v in zip(spec.key, k)}
        for c, i in context:
            if values is not None and values[i] is not _ABSENT:
                out[c] = _show(kinds[c], values[i])
        return out

    missing = sorted(expected.keys() - actual.keys(), key=_sort_key)
    unexpected = sorted(actual.keys() - expected.keys(), key=_sort_key)
    diff.missing, diff.unexpected = len(missing), len(unexpected)
    diff.missing_examples = [key_json(k, expected[k]) for k in missing[:examples]]
    diff.unexpected_examples = [key_json(k, actual[k]) for k in unexpected[:examples]]

    col_kinds = [kinds[c] for c in compared]
    differing: list[tuple[tuple, dict]] = []
    for k, want in expected.items():
        got = actual.get(k)
        if got is None or got == want:
            continue
        bad = {}
        for i, c in enumerate(compared):
            w, g = want[i], got[i]
            if w is _ABSENT or w == g and type(w) is type(g):
                continue
            if not _equal(col_kinds[i], w, g):
                bad[c] = (w, g)
        if bad:
            differing.append((k, bad))
    differing.sort(key=lambda kb: _sort_key(kb[0]))
    diff.different = len(differing)
    for _k, bad in differing:
        diff.columns.update(bad.keys())
    for k, bad in differing[:examples]:
        diff.different_examples.append({
            "key": key_json(k, expected[k]),
            "columns": {
                c: {"expected": _show(kinds[c], _shown(kinds[c], e)), "actual": _show(kinds[c], _shown(kinds[c], a))}
                for c, (e, a) in bad.items()
            },
        })
    return diff


def _shown(kind: str, v: Any) -> Any:
    """Instants in examples always in one spelling (ISO …Z), whatever the truth wrote."""
    if kind == "instant" and v is not None:
        ms = _instant_ms(v)
        return ms if isinstance(ms, int) else v
    return v


def _sort_key(k: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in k)


def _positive_counts(raw: Any, where: str) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise TruthError(f"{where}: expected an object of code → count")
    out = {}
    for code, n in raw.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise TruthError(f"{where}: count of {code!r} is not a non-negative integer")
        if n:
            out[str(code)] = n
    return out


def verify(client: Client, truth: str | Path, examples: int = EXAMPLES) -> VerifyResult:
    """Compare `client`'s store with the truth directory `truth` (see the module docstring)."""
    exp = expected_dir(truth)
    tables = [compare_table(client, spec, exp, examples) for spec in SPECS]

    dead_expected = _positive_counts(_read_json(exp / "dead_letters.json"), str(exp / "dead_letters.json"))
    dead_actual = {
        r["code"]: int(r["n"])
        for r in client.query_rows("SELECT code, count() AS n FROM sitcen.dead_letters FINAL GROUP BY code")
    }
    summary = _read_json(exp / "summary.json")
    if not isinstance(summary, dict) or not isinstance(summary.get("too_late"), int):
        raise TruthError(f"{exp / 'summary.json'}: no integer `too_late`")
    late_actual = int(client.query_value("SELECT count() FROM sitcen.late_events FINAL") or 0)
    withdrawn = int(client.query_value("SELECT count() FROM sitcen.alerts FINAL WHERE status = 'withdrawn'") or 0)
    return VerifyResult(
        clickhouse=client.dsn.display(),
        truth=str(exp),
        tables=tables,
        dead_letters=CountsDiff(dead_expected, dead_actual),
        too_late=CountsDiff({"": summary["too_late"]}, {"": late_actual}),
        withdrawn_alerts=withdrawn,
    )


# ---------------------------------------------------------------------------------------------
# Text


def _n(x: int) -> str:
    return f"{x:,}".replace(",", " ")


def _key_text(key: dict) -> str:
    return " ".join(str(v) for v in key.values() if v != "")


def format_text(result: VerifyResult) -> str:
    lines = [f"sitcen verify: ClickHouse {result.clickhouse}", f"  against {result.truth}", ""]
    width = max(len(t.table) for t in result.tables) + 3
    for t in result.tables:
        if t.ok:
            lines.append(f"  {t.table:<{width}}ok       {_n(t.expected_rows)} rows")
            continue
        parts = [f"{_n(t.missing)} missing", f"{_n(t.unexpected)} unexpected", f"{_n(t.different)} different"]
        lines.append(
            f"  {t.table:<{width}}DIFFERS  {_n(t.expected_rows)} expected, {_n(t.actual_rows)} in ClickHouse: "
            + ", ".join(parts)
        )
        pad = " " * (width + 4)
        if t.missing_examples:
            more = f" (+{_n(t.missing - len(t.missing_examples))} more)" if t.missing > len(t.missing_examples) else ""
            lines.append(f"{pad}missing     " + "; ".join(_key_text(k) for k in t.missing_examples) + more)
        if t.unexpected_examples:
            more = f" (+{_n(t.unexpected - len(t.unexpected_examples))} more)" if t.unexpected > len(t.unexpected_examples) else ""
            lines.append(f"{pad}unexpected  " + "; ".join(_key_text(k) for k in t.unexpected_examples) + more)
        if t.columns:
            lines.append(f"{pad}columns     " + ", ".join(f"{c} ×{_n(n)}" for c, n in t.columns.most_common()))
        for ex in t.different_examples:
            cells = "; ".join(
                f"{c}: expected {_fmt(v['expected'])}, got {_fmt(v['actual'])}" for c, v in ex["columns"].items()
            )
            lines.append(f"{pad}different   {_key_text(ex['key'])}: {cells}")
    dl = result.dead_letters
    total = sum(dl.expected.values())
    if dl.ok:
        by_code = ", ".join(f"{c} {_n(n)}" for c, n in sorted(dl.expected.items())) or "none"
        lines.append(f"  {'dead_letters':<{width}}ok       {_n(total)} ({by_code})")
    else:
        cells = ", ".join(f"{c}: expected {_n(e)}, got {_n(a)}" for c, e, a in dl.differing())
        lines.append(f"  {'dead_letters':<{width}}DIFFERS  {cells}")
    tl = result.too_late
    e, a = tl.expected.get("", 0), tl.actual.get("", 0)
    if tl.ok:
        lines.append(f"  {'too_late':<{width}}ok       {_n(e)} late_events rows")
    else:
        lines.append(f"  {'too_late':<{width}}DIFFERS  expected {_n(e)}, got {_n(a)} late_events rows")
    lines.append(f"  {'withdrawn':<{width}}{_n(result.withdrawn_alerts)} alerts (counted, not compared)")
    lines.append("")
    if result.ok:
        lines.append("verify: OK — ClickHouse matches the expected truth")
    else:
        bad = [t.table for t in result.tables if not t.ok]
        bad += ["dead_letters"] if not dl.ok else []
        bad += ["too_late"] if not tl.ok else []
        lines.append(f"verify: DIFFERENCES in {', '.join(bad)}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return repr(v) if v == "" or " " in v else v
    return str(v)
