"""One simulation run: branches x days of world, heartbeats, faulty delivery, output and truth.

Order of the national run (`--branches N`): the catalog's connected branches, specialized ones
first (in catalog order), then the general ones in catalog order; N takes a prefix of that list.
"""

from __future__ import annotations

import gc
import time
from bisect import bisect_right
from operator import attrgetter, itemgetter
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Sequence

from jobs.sla import config as sla_config
from jobs.sla.config import SlaConfig
from schemas.catalog import Branch, connected, load_catalog

from simulators import truth as T
from simulators.faults import Delivery, FaultPlan, inject
from simulators.incidents import Incident
from simulators.world import BranchDay, Ticket, heartbeats, local_midnight_ms, world_truth

TAIL_AFTER_MIDNIGHT_MS = 2 * 3_600_000


class ScenarioError(ValueError):
    """A problem with the arguments, phrased for the person who gave them."""


def national_order(catalog: dict[str, Branch]) -> list[Branch]:
    live = connected(catalog)
    return [b for b in live if b.specialized] + [b for b in live if not b.specialized]


def select_branches(catalog: dict[str, Branch], spec: str | int) -> list[Branch]:
    """`--branches`: a count (prefix of the national order) or a comma list of branch ids."""
    order = national_order(catalog)
    text = str(spec).strip()
    if text.isdigit():
        n = int(text)
        if not 1 <= n <= len(order):
            raise ScenarioError(f"--branches {n}: there are {len(order)} connected branches (give 1..{len(order)})")
        return order[:n]
    ids = [s.strip() for s in text.split(",") if s.strip()]
    if not ids:
        raise ScenarioError("--branches: give a count or a comma-separated list of branch ids")
    out, seen = [], set()
    for bid in ids:
        b = catalog.get(bid)
        if b is None:
            raise ScenarioError(f"--branches: unknown branch id {bid!r} (see schemas/branches.csv)")
        if b.status != "connected":
            raise ScenarioError(f"--branches: {bid} is not connected yet (planned opening {b.planned_opening})")
        if bid in seen:
            raise ScenarioError(f"--branches: {bid} is listed twice")
        seen.add(bid)
        out.append(b)
    return out


@dataclass
class Scenario:
    branches: str | int = 5
    start: date = field(default_factory=date.today)
    days: int = 1
    seed: int = 7
    sla: str | None = None
    incidents: Sequence[Incident] = ()
    faults: FaultPlan = field(default_factory=FaultPlan)


@dataclass
class Result:
    cfg: SlaConfig
    branches: list[Branch]
    tickets: list[Ticket]
    delivery: Delivery
    world: T.Layer
    judged: T.Judged
    expected: T.Layer
    summary: dict
    world_events: int
    lines: int
    timings: dict


def simulate_world(scn: Scenario, cfg: SlaConfig, branches: list[Branch], progress=None) -> list[Ticket]:
    """All branch-days; `progress` (tqdm-like: reset(total), update(n)) is told of each one."""
    tickets: list[Ticket] = []
    if progress is not None:
        progress.reset(total=len(branches) * scn.days)
    for b in branches:
        for d in range(scn.days):
            tickets.extend(BranchDay(b, scn.start + timedelta(days=d), cfg, scn.seed, scn.incidents).run())
            if progress is not None:
                progress.update(1)
    return tickets


def natural_sequence(tickets: list[Ticket], branches: list[Branch], scn: Scenario, cfg: SlaConfig) -> list:
    """Every world event (ticket events and heartbeats) in event-time order (stable, deterministic)."""
    tail = 0
    for tk in tickets:
        tail = max(tail, tk.close + cfg.out_of_orderness_ms + cfg.allowed_lateness_ms)
        if tk.rating_ts is not None:
            tail = max(tail, tk.rating_ts)
    last_day = scn.start + timedelta(days=scn.days)
    end = max([local_midnight_ms(b, last_day) + TAIL_AFTER_MIDNIGHT_MS for b in branches]
              + [tail + 2 * cfg.heartbeat_interval_ms])
    ticket_events = [e for tk in tickets for e in tk.events]
    ticket_events.sort(key=attrgetter("ts", "event_id"))
    beats = [heartbeats(b, local_midnight_ms(b, scn.start), end, cfg.heartbeat_interval_ms) for b in branches]
    hb = _merge_heartbeats(beats)
    # Ticket events go after the heartbeats with the same ts (the order of a stable sort by ts of
    # heartbeats-then-ticket-events), found by bisection instead of sorting ~330k objects.
    hb_ts = [h[0] for h in hb]
    seq: list = []
    prev = 0
    for ev in ticket_events:
        i = bisect_right(hb_ts, ev.ts, prev)
        if i > prev:
            seq.extend(hb[prev:i])
            prev = i
        seq.append(ev)
    seq.extend(hb[prev:])
    return seq


def _merge_heartbeats(beats: list[list]) -> list:
    """All branches' heartbeats in (ts, branch order) order.

    Branches whose beats share one grid (same first-beat minute and count, the usual case: one UTC
    offset for the whole country) interleave beat by beat in phase order; anything else is sorted.
    """
    runs = [b for b in beats if b]
    if not runs:
        return []
    n = len(runs[0])
    interval = runs[0][1][0] - runs[0][0][0] if n > 1 else 0
    first = min(r[0][0] for r in runs)
    if interval > 0 and all(len(r) == n and r[-1][0] - r[0][0] == (n - 1) * interval
                            and r[0][0] - first < interval for r in runs):
        order = sorted(range(len(runs)), key=lambda k: (runs[k][0][0], k))
        ordered = [runs[k] for k in order]
        out: list = []
        for i in range(n):
            out.extend(r[i] for r in ordered)
        return out
    out = [h for r in runs for h in r]
    out.sort(key=itemgetter(0))  # stable: ties keep branch order
    return out


def world_layer(tickets: list[Ticket], cfg: SlaConfig) -> T.Layer:
    tk_rows, st_rows, al_rows = [], [], []
    for tk in tickets:
        row, stages, alerts = world_truth(tk, cfg)
        tk_rows.append(row)
        st_rows.extend(stages)
        al_rows.extend(alerts)
    tk_rows.sort(key=T.ROW_KEYS["tickets"])
    st_rows.sort(key=T.ROW_KEYS["ticket_stages"])
    al_rows.sort(key=T.ROW_KEYS["alerts"])
    return T.Layer(tk_rows, st_rows, al_rows, [])


def run(scn: Scenario, writer, truth_dir: str | Path | None = None, progress=None) -> Result:
    """Simulate, deliver with faults through `writer`, and (if `truth_dir`) write the ground truth.

    The cyclic garbage collector is paused meanwhile: a national day keeps ~500k small objects
    alive and makes no reference cycles, and the collector's repeated passes over them cost more
    than the generation itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(scn, writer, truth_dir, progress)
    finally:
        if was_enabled:
            gc.enable()


def _run(scn: Scenario, writer, truth_dir: str | Path | None, progress) -> Result:
    try:
        cfg = sla_config.load(scn.sla)
    except sla_config.SlaConfigError as exc:
        raise ScenarioError(str(exc)) from None
    if scn.days < 1:
        raise ScenarioError(f"--days must be >= 1, got {scn.days}")
    catalog = load_catalog()
    branches = select_branches(catalog, scn.branches)
    names = {b.branch_id for b in branches}
    for inc in scn.incidents:
        if inc.branch_id not in names:
            raise ScenarioError(f'--incident "{inc.text}": branch {inc.branch_id} is not among the simulated branches')

    c0 = time.process_time()
    t0 = time.perf_counter()
    tickets = simulate_world(scn, cfg, branches, progress)
    t1 = time.perf_counter()
    base = natural_sequence(tickets, branches, scn, cfg)
    closes = {tk.ticket_id: tk.close for tk in tickets}
    zones = {b.branch_id: b.timezone for b in branches}
    delivery = inject(base, closes, scn.faults, cfg, scn.seed, zones)
    t2 = time.perf_counter()
    if hasattr(writer, "write_lines"):
        writer.write_lines(item.line for item in delivery.items)
    else:
        for item in delivery.items:
            writer.write(item.line)
    writer.close()
    t3 = time.perf_counter()
    c3 = time.process_time()

    world = world_layer(tickets, cfg)
    judged = delivery.judged if delivery.judged is not None else T.judge_delivery(delivery.items, cfg)
    expected = T.expected_layer(judged, cfg, catalog)
    t4 = time.perf_counter()

    summary = make_summary(tickets, world, judged, expected, len(base), cfg)
    report = dict(delivery.report)
    report["seed"] = scn.seed
    report["incidents"] = [i.text for i in scn.incidents]
    if truth_dir is not None:
        T.write_truth(truth_dir, world, expected, judged, summary, report)
    t5 = time.perf_counter()
    timings = {"world_s": t1 - t0, "delivery_s": t2 - t1, "write_s": t3 - t2, "truth_s": t5 - t3,
               "total_s": t5 - t0, "generation_cpu_s": c3 - c0, "total_cpu_s": time.process_time() - c0}
    return Result(cfg, branches, tickets, delivery, world, judged, expected, summary, len(base),
                  len(delivery.items), timings)


def make_summary(tickets: list[Ticket], world: T.Layer, judged: T.Judged, expected: T.Layer, world_events: int,
                 cfg: SlaConfig) -> dict:
    def breaches(rows):
        return dict(sorted(Counter(r["responsible"] for r in rows if r["breached"]).items()))

    def overruns(alerts):
        return dict(sorted(Counter(a["responsible"] for a in alerts if a["kind"].endswith("_overrun")).items()))

    licenses = sum(1 for r in world.tickets if r["status"] == "completed"
                   and r["service"] in ("driver_license", "license_exchange"))
    return {
        "lines": judged.lines,
        "events_valid": judged.events_valid,
        "dead_letters": sum(judged.dead_letters.values()),
        "dead_letters_by_code": dict(sorted(judged.dead_letters.items())),
        "too_late": len(judged.too_late),
        "late": len(judged.late),
        "duplicates": len(judged.duplicates),
        "heartbeats": judged.heartbeats,
        "tickets": len(expected.tickets),
        "ticket_events_applied": len(judged.applied) - len(expected.mismatched),
        "service_mismatch": len(expected.mismatched),
        "ignored": expected.ignored,
        "tickets_by_status": dict(sorted(Counter(r["status"] for r in expected.tickets).items())),
        "breached": sum(r["breached"] for r in expected.tickets),
        "breached_by_responsible": breaches(expected.tickets),
        "overruns_by_responsible": overruns(expected.alerts),
        "alerts": len(expected.alerts),
        "world": {
            "tickets": len(world.tickets),
            "ticket_events": sum(len(tk.events) for tk in tickets),
            "events": world_events,
            "tickets_by_service": dict(sorted(Counter(r["service"] for r in world.tickets).items())),
            "tickets_by_status": dict(sorted(Counter(r["status"] for r in world.tickets).items())),
            "breached": sum(r["breached"] for r in world.tickets),
            "breached_by_responsible": breaches(world.tickets),
            "overruns_by_responsible": overruns(world.alerts),
            "licenses_issued": licenses,
            "alerts": len(world.alerts),
        },
    }
