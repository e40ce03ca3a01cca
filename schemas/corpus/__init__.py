"""The shared corpus of event contract v1: good and bad lines that every validator must judge alike.

Files (all UTF-8, one JSON document per line):

- `good.jsonl` — valid events, one raw line each, exactly as they would arrive.
- `good.expected.jsonl` — line *i* is `{"event_id": ..., "ts_ms": ...}` for line *i* of `good.jsonl`:
  the UTC epoch milliseconds the validators must compute from its `ts`.
- `bad.jsonl` — one case per line: `{"code", "why", "line" | "line_b64", ...}`. `line` is the raw
  message as a JSON string (encoded as UTF-8); `line_b64` holds raw bytes that are not UTF-8.
  Optional keys:
  - `repeat`: `{"MARKER": [text, count]}` — each MARKER in the line becomes `text * count` (long
    or deep lines without committing them);
  - `pad_to` + `pad_char`: the marker `@PAD@` becomes as many `pad_char` as make the line exactly
    `pad_to` bytes (oversized lines);
  - `detail`: the exact expected detail string;
  - `schema_blind`: why the JSON Schema cannot reject this case (it accepts it), for cases whose
    code the schema otherwise expresses.

`good_cases()` and `bad_cases()` expand the files into raw bytes; `good_cases()` adds a few
generated boundary lines (a valid line of exactly 65536 bytes, lines ending in CR).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent
GOOD = CORPUS_DIR / "good.jsonl"
GOOD_EXPECTED = CORPUS_DIR / "good.expected.jsonl"
BAD = CORPUS_DIR / "bad.jsonl"

PAD_MARKER = b"@PAD@"


@dataclass(frozen=True)
class GoodCase:
    name: str
    raw: bytes
    event_id: str
    ts_ms: int

    @property
    def size(self) -> int:
        return len(self.raw) - (1 if self.raw.endswith(b"\r") else 0)


@dataclass(frozen=True)
class BadCase:
    name: str
    raw: bytes
    code: str
    why: str
    detail: str | None = None
    schema_blind: str | None = None


def _lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def expand(entry: dict) -> bytes:
    """The raw bytes of one `bad.jsonl` entry."""
    if "line_b64" in entry:
        raw = base64.b64decode(entry["line_b64"])
    else:
        raw = entry["line"].encode("utf-8")
    for marker, (text, count) in entry.get("repeat", {}).items():
        raw = raw.replace(marker.encode("utf-8"), text.encode("utf-8") * count)
    if "pad_to" in entry:
        pad = entry["pad_char"].encode("utf-8")
        if len(pad) != 1 or raw.count(PAD_MARKER) != 1:
            raise ValueError(f"pad_to needs a one-byte pad_char and one {PAD_MARKER!r}: {entry['why']}")
        fill = entry["pad_to"] - (len(raw) - len(PAD_MARKER))
        raw = raw.replace(PAD_MARKER, pad * fill)
    return raw


def good_cases(*, generated: bool = True) -> list[GoodCase]:
    lines = _lines(GOOD)
    expected = [json.loads(x) for x in _lines(GOOD_EXPECTED)]
    if len(lines) != len(expected):
        raise ValueError(f"{GOOD.name} has {len(lines)} lines, {GOOD_EXPECTED.name} {len(expected)}")
    cases = [
        GoodCase(f"good:{i + 1}:{exp['event_id'][:24]}", raw, exp["event_id"], exp["ts_ms"])
        for i, (raw, exp) in enumerate(zip(lines, expected))
    ]
    if generated:
        first = cases[0]
        hb = b'{"event_id":"hb-max-1","type":"heartbeat","ts":"2026-11-24T04:00:00Z","branch_id":"spec-astana"'
        hb_ms = 1795492800000
        exact = hb + b" " * (65536 - len(hb) - 1) + b"}"
        cases += [
            GoodCase("generated:exactly-65536-bytes", exact, "hb-max-1", hb_ms),
            GoodCase("generated:exactly-65536-bytes+CR", exact + b"\r", "hb-max-1", hb_ms),
            GoodCase("generated:first-line+CR", first.raw + b"\r", first.event_id, first.ts_ms),
            GoodCase("generated:first-line+space+CR", first.raw + b" \r", first.event_id, first.ts_ms),
        ]
    return cases


def bad_cases() -> list[BadCase]:
    cases = []
    for i, line in enumerate(_lines(BAD)):
        entry = json.loads(line)
        cases.append(
            BadCase(
                name=f"bad:{i + 1}:{entry['code']}",
                raw=expand(entry),
                code=entry["code"],
                why=entry["why"],
                detail=entry.get("detail"),
                schema_blind=entry.get("schema_blind"),
            )
        )
    return cases


_ROUTES = {
    "driver_license": ("intake", "theory_exam", "practical_exam", "production"),
    "license_exchange": ("intake", "production"),
    "vehicle_registration": ("intake", "vehicle_inspection", "production", "plates"),
    "vehicle_reregistration": ("intake", "vehicle_inspection", "production"),
    "plates_issue": ("intake", "plates"),
}


def synthetic_lines(n: int, *, seed: int = 7, bad_share: float = 0.01) -> list[bytes]:
    """`n` realistic lines for throughput measurements: whole tickets (issue, stages with staff,
    exam results, document, rating) at 162 branches in local time (+05:00), one heartbeat per
    ten events, and about `bad_share` of the lines taken from `bad.jsonl` (not the oversized ones)."""
    import random

    rnd = random.Random(seed)
    bad = [c.raw for c in bad_cases() if len(c.raw) < 4096]
    services = list(_ROUTES)
    out: list[bytes] = []
    seq = 0

    def emit(obj: dict) -> None:
        nonlocal seq
        seq += 1
        obj = {"event_id": f"ev-{seed}-{seq:09d}", **obj}
        out.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if seq % 10 == 0:
            branch = f"con-{rnd.randrange(162):03d}"
            out.append(
                json.dumps(
                    {"event_id": f"hb-{seed}-{seq:09d}", "type": "heartbeat", "ts": ts(t), "branch_id": branch},
                    separators=(",", ":"),
                ).encode("utf-8")
            )
        if rnd.random() < bad_share:
            out.append(rnd.choice(bad))

    def ts(sec: float) -> str:
        whole = int(sec)
        day, rem = divmod(whole, 86400)
        h, rem = divmod(rem, 3600)
        m, s = divmod(rem, 60)
        ms = int((sec - whole) * 1000)
        return f"2026-11-{24 + day:02d}T{h:02d}:{m:02d}:{s:02d}.{ms:03d}+05:00"

    ticket = 0
    while len(out) < n:
        ticket += 1
        branch = f"con-{rnd.randrange(162):03d}"
        tid = f"T-{branch[4:]}-{ticket:07d}"
        service = rnd.choice(services)
        t = 9 * 3600 + rnd.random() * 8 * 3600
        emit({"type": "ticket_issued", "ts": ts(t), "branch_id": branch, "ticket_id": tid, "service": service})
        for stage in _ROUTES[service]:
            t += rnd.random() * 900
            staff = f"{'con' if stage == 'intake' else 'mvd'}-{rnd.randrange(40):02d}"
            emit({"type": "stage_started", "ts": ts(t), "branch_id": branch, "ticket_id": tid, "stage": stage,
                  "staff_id": staff})
            t += rnd.random() * 1800
            fin = {"type": "stage_finished", "ts": ts(t), "branch_id": branch, "ticket_id": tid, "stage": stage}
            if stage.endswith("_exam"):
                fin["result"] = "passed"
            emit(fin)
        t += rnd.random() * 600
        emit({"type": "document_issued", "ts": ts(t), "branch_id": branch, "ticket_id": tid, "service": service})
        if rnd.random() < 0.3:
            emit(
                {"type": "rating_submitted", "ts": ts(t + 60), "branch_id": branch, "ticket_id": tid,
                 "staff_id": f"mvd-{rnd.randrange(40):02d}", "rating": rnd.randint(1, 5)}
            )
    return out[:n]
