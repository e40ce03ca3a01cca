"""Delivery faults: duplicates, out-of-order, late and too-late events, malformed lines, mismatches.

Faults change the delivery, never the world. Each is a fraction of the ticket events (heartbeats
are never victims) and is placed so that its class is unambiguous when the delivered file is judged
as DESIGN §4 says: with M the highest `ts` among valid events delivered before (per file),

- out-of-order: M - ooo + margin <= ts < M            (on time, but after newer events)
- late:         M - ooo - lateness + margin <= ts <= M - ooo - margin
- too late:     ts <= M - ooo - lateness - margin

How it works: the natural sequence (all events by `ts`) is sorted, so M right after a natural event
is that event's own `ts`. A moved event is delivered right after an *anchor*: the first unmoved
event whose `ts` lands in the target window for M. Moved events never raise M (they are older
than their anchor) and anchors are never moved, so M at every delivery position is known exactly
in advance; the finished file is judged again anyway (`check_classes`) and any miss is a bug.

Victims of different faults are disjoint. A ticket's state must still exist when its late or
duplicated event arrives (the job keeps a tombstone until close + ooo + lateness), so those
deliveries also keep M <= close + ooo + lateness - margin. `ticket_issued` is never delivered too
late (a ticket without its issue has no issued_at, queue or standard; see docs/simulator.md), and a
service-mismatch event is only injected into a ticket whose `ticket_issued` is delivered in order,
so its ticket's service is known when it arrives.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import random
from operator import attrgetter
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from jobs.sla.config import SERVICES, SlaConfig
from schemas.codes import VALIDATOR_CODES

from simulators.events import Heartbeat, SimEvent, TsFormatter, dumps, render
from simulators.truth import BadLine, Judged, judge_delivery

MARGIN_MS = 5_000
MOVED = ("too_late", "late_allowed", "out_of_order")
MISMATCH_TYPES = frozenset({"stage_started", "stage_finished", "document_issued", "rating_submitted"})
OVERSIZE_BYTES = 65_536


@dataclass(frozen=True)
class FaultPlan:
    """Fractions of the ticket events, 0 <= f <= 1 each (all 0: a clean delivery)."""

    duplicates: float = 0.0
    out_of_order: float = 0.0
    late_allowed: float = 0.0
    too_late: float = 0.0
    malformed: float = 0.0
    service_mismatch: float = 0.0

    def items(self):
        return (("duplicates", self.duplicates), ("out_of_order", self.out_of_order),
                ("late_allowed", self.late_allowed), ("too_late", self.too_late),
                ("malformed", self.malformed), ("service_mismatch", self.service_mismatch))


@dataclass
class Delivery:
    items: list  # SimEvent | Heartbeat | BadLine, in delivery order
    report: dict  # faults.json
    victims: dict = field(default_factory=dict)  # fault -> [event_id]
    judged: Judged | None = None  # the delivery judged as DESIGN §4 does


def fault_rng(seed: int) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(f"{seed}|faults".encode()).digest()[:8], "big"))


class _Placer:
    def __init__(self, base: Sequence[SimEvent]) -> None:
        self.base = base
        self.ts = list(map(attrgetter("ts"), base))
        self.moved: set[int] = set()
        self.anchors: set[int] = set()
        self.attached: dict[int, list] = {}

    def anchor(self, lo: int, hi: int | None, target: int, not_before: int = 0) -> int | None:
        """First unmoved natural index j >= not_before with ts >= target (falling back to lo) and ts <= hi."""
        for start_ts in (target, lo):
            j = max(bisect.bisect_left(self.ts, start_ts), not_before)
            n = len(self.ts)
            while j < n and j in self.moved:
                j += 1
            if j < n and (hi is None or self.ts[j] <= hi):
                return j
        return None

    def attach(self, j: int, item) -> None:
        self.anchors.add(j)
        self.attached.setdefault(j, []).append(item)

    def sequence(self) -> list:
        base, attached, moved = self.base, self.attached, self.moved
        out: list = []
        prev = 0
        for i in sorted(moved | attached.keys()):
            out.extend(base[prev:i])
            if i not in moved:
                out.append(base[i])
            out.extend(attached.get(i, ()))
            prev = i + 1
        out.extend(base[prev:])
        return out


def inject(base: Sequence[SimEvent], closes: Mapping[str, int], plan: FaultPlan, cfg: SlaConfig, seed: int,
           zones: Mapping[str, str]) -> Delivery:
    """Deliver the natural sequence `base` (sorted by ts) with the planned faults.

    `closes` maps ticket_id -> close instant (world), `zones` branch_id -> IANA zone (for new lines).
    """
    for name, frac in plan.items():
        if not 0.0 <= frac <= 1.0:
            raise ValueError(f"--{name.replace('_', '-')} must be a fraction between 0 and 1, got {frac}")
    ooo, lateness = cfg.out_of_orderness_ms, cfg.allowed_lateness_ms
    rng = fault_rng(seed)
    ticket_idx = [i for i, e in enumerate(base) if e.__class__ is not Heartbeat]
    n_events = len(ticket_idx)
    want = {name: round(frac * n_events) for name, frac in plan.items()}
    if not any(want.values()):  # a clean delivery: the natural order, nothing to place or check
        report = {"ticket_events": n_events, "margin_s": MARGIN_MS / 1000}
        for name, frac in plan.items():
            report[name] = {"fraction": frac, "requested": 0, "count": 0,
                            **({"by_code": {}, "lines": []} if name == "malformed" else {"event_ids": []})}
        return Delivery(list(base), report, {name: [] for name, _ in plan.items()}, None)
    placer = _Placer(base)
    victims: dict[str, list[int]] = {name: [] for name, _ in plan.items()}
    used: set[int] = set()
    issued_moved: set[str] = set()

    def tomb(i: int) -> int:
        ev = base[i]
        return closes[ev.ticket_id] + ooo + lateness - MARGIN_MS

    # --- moved events
    order = ticket_idx[:]
    rng.shuffle(order)
    for name in MOVED:
        need = want[name]
        if not need:
            continue
        for i in order:
            if len(victims[name]) >= need:
                break
            if i in used or i in placer.anchors:
                continue
            ev = base[i]
            ts = ev.ts
            if name == "too_late":
                if ev.type == "ticket_issued":
                    continue
                lo = ts + ooo + lateness + MARGIN_MS
                hi = None
                target = lo + int(rng.uniform(0, 15 * 60_000))
            elif name == "late_allowed":
                lo = ts + ooo + MARGIN_MS
                hi = min(ts + ooo + lateness - MARGIN_MS, tomb(i))
                target = int(rng.uniform(lo, hi)) if hi >= lo else lo
            else:
                lo = ts + 1
                hi = min(ts + ooo - MARGIN_MS, tomb(i))
                target = int(rng.uniform(lo, hi)) if hi >= lo else lo
            if hi is not None and hi < lo:
                continue
            j = placer.anchor(lo, hi, target, i + 1)
            if j is None:
                continue
            used.add(i)
            placer.moved.add(i)
            placer.attach(j, ev)
            victims[name].append(i)
            if ev.type == "ticket_issued":
                issued_moved.add(ev.ticket_id)

    # --- duplicates: the identical line again, later
    if want["duplicates"]:
        for i in order:
            if len(victims["duplicates"]) >= want["duplicates"]:
                break
            if i in used or i in placer.moved:
                continue
            ev = base[i]
            r = rng.random()
            if r < 0.6:
                delay = rng.uniform(0, 20_000)
            elif r < 0.85:
                delay = rng.uniform(20_000, 300_000)
            else:
                delay = rng.uniform(300_000, 1_200_000)
            hi = tomb(i)
            if hi < ev.ts:
                continue
            target = min(ev.ts + int(delay), hi)
            j = placer.anchor(ev.ts, hi, target, i)
            if j is None:
                continue
            used.add(i)
            placer.attach(j, ev)
            victims["duplicates"].append(i)

    # --- service mismatches: a new event of an existing ticket carrying another service
    formatters: dict[str, TsFormatter] = {}

    def fmt(branch_id: str) -> TsFormatter:
        f = formatters.get(branch_id)
        if f is None:
            f = formatters[branch_id] = TsFormatter(zones[branch_id])
        return f

    service_of: dict[str, str] = {}
    if want["service_mismatch"]:
        for i in ticket_idx:
            ev = base[i]
            if ev.type == "ticket_issued":
                service_of[ev.ticket_id] = ev.service
    mismatches: list[SimEvent] = []
    if want["service_mismatch"]:
        for i in order:
            if len(mismatches) >= want["service_mismatch"]:
                break
            ev = base[i]
            if i in used or i in placer.moved or ev.type not in MISMATCH_TYPES or ev.ticket_id in issued_moved:
                continue
            own = service_of.get(ev.ticket_id)
            if own is None:
                continue
            other = rng.choice([s for s in SERVICES if s != own])
            bad = ev.copy(event_id=f"{ev.event_id}-sm", service=other)
            bad.line = render(bad, fmt(ev.branch_id)(ev.ts))
            used.add(i)
            placer.attach(i, bad)
            mismatches.append(bad)

    # --- malformed lines, every validator code in rotation, each after a real event
    malformed: list[tuple[BadLine, int]] = []
    if want["malformed"]:
        sources = [i for i in order if i not in placer.moved]
        for k in range(want["malformed"]):
            i = sources[k % len(sources)] if k < len(sources) else sources[rng.randrange(len(sources))]
            code = VALIDATOR_CODES[k % len(VALIDATOR_CODES)]
            bad = BadLine(malformed_line(base[i], code, k), code, base[i].event_id)
            placer.attach(i, bad)
            malformed.append((bad, i))

    items = placer.sequence()
    check_malformed([b for b, _ in malformed])
    victim_ids = {name: [base[i].event_id for i in idx] for name, idx in victims.items()}
    victim_ids["service_mismatch"] = [e.event_id for e in mismatches]
    judged = judge_delivery(items, cfg)
    lines = check_classes(items, judged, victim_ids, cfg)

    report: dict = {"ticket_events": n_events, "margin_s": MARGIN_MS / 1000}
    for name, frac in plan.items():
        entry: dict = {"fraction": frac, "requested": want[name]}
        if name == "malformed":
            by_code: dict[str, int] = {}
            for bad, _ in malformed:
                by_code[bad.code] = by_code.get(bad.code, 0) + 1
            entry["count"] = len(malformed)
            entry["by_code"] = by_code
            entry["lines"] = [{"line": lines[id(b)], "code": b.code, "after_event_id": b.source_event_id}
                              for b, _ in malformed]
        else:
            ids = victim_ids[name]
            entry["count"] = len(ids)
            entry["event_ids"] = ids
        report[name] = entry
    return Delivery(items, report, victim_ids, judged)


def check_classes(items: Sequence, judged: Judged, victim_ids: Mapping[str, list[str]], cfg: SlaConfig) -> dict:
    """Insist that every victim landed in its class, at least MARGIN_MS from the boundaries.

    Returns {id(BadLine): line number} for the report.
    """
    ooo, lateness = cfg.out_of_orderness_ms, cfg.allowed_lateness_ms
    wanted = {eid for ids in victim_ids.values() for eid in ids}
    first_line: dict[str, int] = {}
    last_line: dict[str, int] = {}
    bad_lines: dict[int, int] = {}
    if wanted or judged.dead_letters:
        for n, item in enumerate(items, 1):
            if item.__class__ is Heartbeat:
                continue
            if item.__class__ is BadLine:
                bad_lines[id(item)] = n
            elif item.event_id in wanted:
                first_line.setdefault(item.event_id, n)
                last_line[item.event_id] = n
    if not wanted:
        return bad_lines
    classes: dict[int, str] = {}
    for name in ("duplicates", "late", "too_late", "out_of_order"):
        for n in getattr(judged, name):
            classes[n] = name
    problems = []
    expect = {"too_late": "too_late", "late_allowed": "late", "out_of_order": "out_of_order",
              "duplicates": "duplicates"}
    for fault, cls in expect.items():
        for eid in victim_ids.get(fault, ()):
            n = last_line[eid]
            if classes.get(n) != cls:
                problems.append(f"{fault} {eid} at line {n} judged {classes.get(n, 'on_time')}")
                continue
            if cls == "duplicates":
                continue
            m = judged.max_seen[n]
            ts = items[n - 1].ts
            edges = {"out_of_order": [ts - (m - ooo)],
                     "late": [(m - ooo) - ts, ts - (m - ooo - lateness)],
                     "too_late": [(m - ooo - lateness) - ts]}[cls]
            if min(edges) < MARGIN_MS:
                problems.append(f"{fault} {eid} at line {n} is within {MARGIN_MS} ms of a boundary")
    for eid in victim_ids.get("service_mismatch", ()):
        n = first_line[eid]
        if classes.get(n) is not None:
            problems.append(f"service_mismatch {eid} at line {n} judged {classes.get(n)}")
    if problems:
        raise AssertionError("fault placement missed its class: " + "; ".join(problems[:5]))
    return bad_lines


def malformed_line(src: SimEvent, code: str, k: int) -> str:
    """A bad line derived from a real event that the validators must reject with exactly `code`."""
    o = json.loads(src.line)
    o["event_id"] = f"{src.event_id}-x{k}"
    if code == "oversized":
        o.pop("reason", None)
        o["type"] = "ticket_cancelled"
        o.pop("stage", None), o.pop("staff_id", None), o.pop("result", None), o.pop("rating", None)
        o["reason"] = ""
        o["reason"] = "x" * (OVERSIZE_BYTES + 100 - len(dumps(o).encode()))
        return dumps(o)
    if code == "invalid_json":
        text = dumps(o)
        return text[: max(10, len(text) * 2 // 3)]
    if code == "not_object":
        return dumps(list(o.values()))
    if code == "missing_field":
        del o["ts"]
        return dumps(o)
    if code == "field_not_allowed":
        o["operator_note"] = "called twice"
        return dumps(o)
    if code == "wrong_type":
        o["ticket_id"] = 100000 + k
        return dumps(o)
    if code == "unknown_enum":
        o["service"] = "passport_issue"
        return dumps(o)
    if code == "bad_timestamp":
        o["ts"] = o["ts"][:-6]  # drop the offset
        return dumps(o)
    if code == "bad_length":
        o["ticket_id"] = (o["ticket_id"] + "-") .ljust(65, "x")
        return dumps(o)
    if code == "rating_out_of_range":
        staff = src.staff_id or f"{src.branch_id}-op-01"
        r = {"event_id": o["event_id"], "type": "rating_submitted", "ts": o["ts"], "branch_id": o["branch_id"],
             "ticket_id": o["ticket_id"], "staff_id": staff, "rating": 6 if k % 2 else 0}
        return dumps(r)
    if code == "bad_schema_version":
        o["schema"] = 2
        return dumps(o)
    raise ValueError(f"no malformed line for code {code!r}")


def check_malformed(bad_lines: Sequence[BadLine]) -> None:
    """Every malformed line must get exactly its intended code from the shared validator."""
    if not bad_lines:
        return
    try:
        from schemas.validate import validate
    except ImportError:  # the validator is not in this tree yet; the tests check it when it is
        return
    for bad in bad_lines:
        got = validate(bad.line)
        code = getattr(got, "code", None)
        if code != bad.code:
            raise AssertionError(f"malformed line meant as {bad.code} validates as {code or 'valid'}: "
                                 f"{bad.line[:200]}")
