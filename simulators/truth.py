"""The ground truth: an independent evaluator of docs/semantics.md, and the truth writer.

`evaluate_ticket` turns one ticket's applied events into the rows a correct pipeline writes
(tickets, ticket_stages, alerts) and the branch-minute facts they imply. It is written from the
semantics page alone, without the job's code (`jobs/`), so that the two implementations check each
other; only the SLA configuration (limits, parties, routes) is shared.

`judge_delivery` replays a delivered file the way DESIGN §4 judges it — validity, duplicates by
`event_id`, lateness against M (the highest event time among valid events delivered before, per
file) and service mismatches — and `expected_layer` evaluates what remains. The evaluation is at the
end of the stream (the watermark past every close), which is where a run over a file ends.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from jobs.sla.config import SlaConfig

from simulators import rows as R
from simulators.events import Heartbeat, SimEvent

RANK = {"ticket_issued": 0, "stage_finished": 1, "stage_started": 2, "rating_submitted": 3,
        "document_issued": 4, "ticket_cancelled": 4}
TERMINAL = frozenset({"document_issued", "ticket_cancelled"})
_KIND_ORDER = {"queue": 0, "stage": 1, "wait": 2}



# Row identity (and truth-file order) per table.
ROW_KEYS = {
    "tickets": lambda r: r["ticket_id"],
    "ticket_stages": lambda r: (r["ticket_id"], r["stage"], r["attempt"]),
    "alerts": lambda r: r["alert_id"],
}

def order_key(ev: SimEvent) -> tuple:
    """Applied order within a ticket: (ts, type rank, event_id)."""
    return (ev.ts, RANK[ev.type], ev.event_id)


# --------------------------------------------------------------------------------------------------
# Segments of one ticket


class _Seg:
    __slots__ = ("kind", "label", "stage", "attempt", "start", "end", "party", "limit", "staff", "result",
                 "seq", "finished")

    def __init__(self, kind: str, label: str, stage: str, start: int, end: int | None, party: str,
                 limit: int, seq: int, attempt: int = 0, staff: str | None = None) -> None:
        self.kind, self.label, self.stage, self.attempt = kind, label, stage, attempt
        self.start, self.end, self.party, self.limit = start, end, party, limit
        self.staff, self.result, self.seq, self.finished = staff, "", seq, False


@dataclass
class _Timeline:
    queue: _Seg | None
    attempts: list[_Seg]
    waits: list[_Seg]  # waits before attempts, then the trailing wait if any
    queue_ended_by_start: bool
    ignored: int

    def segments(self) -> list[_Seg]:
        out = [self.queue] if self.queue is not None else []
        return out + self.attempts + self.waits


def _successor(att: _Seg, service: str, cfg: SlaConfig) -> str:
    """Where a ticket goes after `att`: a failed exam again, else the route's next stage, else document."""
    if att.result == "failed":
        return att.stage
    rule = cfg.services.get(service)
    if rule is not None and att.stage in rule.route:
        i = rule.route.index(att.stage)
        if i + 1 < len(rule.route):
            return rule.route[i + 1]
    return "document"


def _timeline(stage_events: Sequence[SimEvent], issued: int | None, service: str, cfg: SlaConfig,
              close: int | None, completed: bool) -> _Timeline:
    """Segments implied by stage events already in applied order (and already past the close filter).

    With `close=None` this is the view while the ticket is open (at a deadline D, given the events
    with ts <= D): segments still running have `end=None` and a trailing wait is labelled as while
    open (`wait_<next>`).
    """
    seq = 0
    queue_end: int | None = None
    attempts: list[_Seg] = []
    waits: list[_Seg] = []
    open_by_stage: dict[str, list[_Seg]] = defaultdict(list)
    starts: Counter = Counter()
    latest_end: int | None = None
    last_ended: _Seg | None = None
    ignored = 0
    for ev in stage_events:
        stage = ev.stage
        if ev.type == "stage_started":
            if issued is not None and queue_end is None:
                queue_end = ev.ts
                if latest_end is None or queue_end > latest_end:
                    latest_end = queue_end
            starts[stage] += 1
            if latest_end is not None:
                seq += 1
                waits.append(_Seg("wait", f"wait_{stage}", stage, latest_end, ev.ts, cfg.responsible(stage),
                                  cfg.wait_limit_ms(stage), seq))
            seq += 1
            att = _Seg("stage", stage, stage, ev.ts, None, cfg.responsible(stage), cfg.stage_limit_ms(stage), seq,
                       attempt=starts[stage], staff=ev.staff_id)
            attempts.append(att)
            open_by_stage[stage].append(att)
        else:  # stage_finished
            open_list = open_by_stage.get(stage)
            if not open_list:
                ignored += 1
                continue
            att = open_list.pop()  # the latest open attempt of the stage
            att.end = ev.ts
            att.finished = True
            att.result = ev.result or ""
            if att.staff is None:
                att.staff = ev.staff_id
            if latest_end is None or ev.ts >= latest_end:
                latest_end = ev.ts
            last_ended = att

    queue = None
    if issued is not None:
        queue = _Seg("queue", "queue", "queue", issued, queue_end if queue_end is not None else close,
                     cfg.responsible("queue"), cfg.stage_limit_ms("queue"), 0, attempt=1)
        queue.finished = queue_end is not None
    unfinished = [a for a in attempts if not a.finished]
    if close is not None:
        for a in unfinished:
            a.end = close
    if not unfinished and last_ended is not None and latest_end is not None:
        if close is not None and completed:
            label, party, limit = "wait_document", cfg.responsible(last_ended.stage), cfg.wait_limit_ms("document")
        else:
            nxt = _successor(last_ended, service, cfg)
            label = f"wait_{nxt}"
            party = cfg.responsible(last_ended.stage) if nxt == "document" else cfg.responsible(nxt)
            limit = cfg.wait_limit_ms(nxt)
        seq += 1
        waits.append(_Seg("wait", label, label[5:], latest_end, close, party, limit, seq))
    return _Timeline(queue, attempts, waits, queue_end is not None, ignored)


def _cause_at(segments: Iterable[_Seg], deadline: int) -> _Seg | None:
    """The segment to blame at a ticket deadline D (docs/semantics.md, "Ticket alerts")."""
    best = None
    best_key = None
    running = None
    for seg in segments:
        if seg.start > deadline:
            continue
        end = seg.end if seg.end is not None else deadline
        excess = min(end, deadline) - seg.start - seg.limit
        if excess > 0:
            key = (-excess, seg.start, _KIND_ORDER[seg.kind], seg.seq)
            if best_key is None or key < best_key:
                best, best_key = seg, key
        if seg.end is None or seg.start <= deadline < seg.end:
            if running is None or (seg.start, seg.seq) > (running.start, running.seq):
                running = seg
    return best if best is not None else running


# --------------------------------------------------------------------------------------------------
# One ticket


@dataclass
class TicketTruth:
    ticket: dict
    stages: list[dict]
    alerts: list[dict]
    facts: list[tuple]  # (branch_id, ts_ms, fact, value) — see minute_rows
    ignored: int = 0
    mismatched: list[SimEvent] = field(default_factory=list)


def split_service(events: Iterable[SimEvent]) -> tuple[str, list[SimEvent], list[SimEvent]]:
    """(ticket service, events that apply, service_mismatch events), events in applied order."""
    evs = sorted(events, key=order_key)
    service = next((e.service for e in evs if e.type == "ticket_issued" and e.service is not None), None)
    if service is None:
        service = next((e.service for e in evs if e.service is not None), None)
    if service is None:
        return "", evs, []
    applied = [e for e in evs if e.service is None or e.service == service]
    mismatched = [e for e in evs if e.service is not None and e.service != service]
    return service, applied, mismatched


def abandon_close(anchor: int, branch_id: str, catalog: Mapping, cfg: SlaConfig) -> int:
    """Close instant of a ticket with no terminal event (docs/semantics.md, "close")."""
    branch = catalog.get(branch_id)
    if branch is not None:
        closing = branch.closing_ms(branch.local_date(anchor))
        if closing is not None and closing + cfg.abandon_grace_ms > anchor:
            return closing + cfg.abandon_grace_ms
    return anchor + cfg.abandon_horizon_ms


def evaluate_ticket(ticket_id: str, events: Iterable[SimEvent], cfg: SlaConfig, catalog: Mapping) -> TicketTruth:
    """Rows and facts of one ticket from its applied events (valid, not too late, deduplicated).

    Events whose `service` disagrees with the ticket's are split off here (`mismatched`), so the
    caller may pass every non-duplicate, non-too-late event of the ticket.
    """
    service, evs, mismatched = split_service(events)
    if not evs:
        raise ValueError(f"ticket {ticket_id}: no events")
    branch_id = evs[0].branch_id
    known = branch_id in catalog

    issued = next((e.ts for e in evs if e.type == "ticket_issued"), None)
    terminal = next((e for e in evs if e.type in TERMINAL and (issued is None or e.ts >= issued)), None)
    if terminal is not None:
        close = terminal.ts
        status = "completed" if terminal.type == "document_issued" else "cancelled"
    else:
        anchor = issued if issued is not None else evs[0].ts
        close = abandon_close(anchor, branch_id, catalog, cfg)
        status = "abandoned"

    # Which events apply: the first ticket_issued, ratings, and stage events between issue and close.
    ignored = 0
    seen_issued = False
    closed = False
    stage_events: list[SimEvent] = []
    ratings: list[SimEvent] = []
    for ev in evs:
        t = ev.type
        if t == "ticket_issued":
            if seen_issued:
                ignored += 1
            seen_issued = True
            continue
        if t == "rating_submitted":
            ratings.append(ev)
            continue
        if issued is not None and ev.ts < issued:
            ignored += 1
            continue
        if ev is terminal:
            closed = True
            continue
        if closed or t in TERMINAL or (terminal is None and ev.ts > close):
            ignored += 1
            continue
        stage_events.append(ev)

    tl = _timeline(stage_events, issued, service, cfg, close, status == "completed")
    ignored += tl.ignored
    standard = cfg.services[service].standard_ms if service in cfg.services else None

    # --- ticket row
    row = R.empty_ticket_row()
    row.update(ticket_id=ticket_id, branch_id=branch_id, known_branch=int(known), service=service,
               issued_at=R.iso(issued), finished_at=R.iso(close), status=status)
    total = close - issued if issued is not None else None
    row["total_s"] = R.secs(total)
    sums: dict[str, int] = {}
    for seg in tl.segments():
        col = f"{seg.label}_s"
        sums[col] = sums.get(col, 0) + (seg.end - seg.start)
    for col, value in sums.items():
        if col in row:
            row[col] = R.secs(value)

    # --- stage rows and stage alerts
    stage_rows: list[dict] = []
    alerts: list[dict] = []
    facts: list[tuple] = []
    watched = ([tl.queue] if tl.queue is not None else []) + tl.attempts
    for seg in watched:
        duration = seg.end - seg.start
        stage_rows.append({
            "ticket_id": ticket_id, "branch_id": branch_id, "stage": seg.stage, "attempt": seg.attempt,
            "result": seg.result, "responsible": seg.party, "staff_id": seg.staff or "",
            "started_at": R.iso(seg.start), "finished_at": R.iso(seg.end), "duration_s": R.secs(duration),
            "limit_s": R.secs(seg.limit), "overrun_s": R.secs(max(0, duration - seg.limit)),
        })
        at_risk = seg.start + R.warning_ms(cfg, seg.limit)
        overrun = seg.start + seg.limit
        overrun_fires = overrun < seg.end
        common = dict(attempt=seg.attempt, ticket_id=ticket_id, branch_id=branch_id, service=service,
                      stage=seg.stage, cause_stage=seg.stage, responsible=seg.party, staff_id=seg.staff or "",
                      limit_ms=seg.limit, started_ms=seg.start, end_ms=seg.end)
        if at_risk < seg.end:
            alerts.append(R.alert_row(kind="stage_at_risk", detected_ms=at_risk,
                                      resolved_ms=overrun if overrun_fires else seg.end, **common))
        if overrun_fires:
            alerts.append(R.alert_row(kind="stage_overrun", detected_ms=overrun, resolved_ms=seg.end, **common))
            facts.append((branch_id, overrun, "breach", seg.party))

    # --- ticket alerts
    if standard is not None and issued is not None:
        overrun = issued + standard
        overrun_fires = overrun < close
        for kind, deadline in (("ticket_at_risk", issued + R.warning_ms(cfg, standard)), ("ticket_overrun", overrun)):
            if not deadline < close:
                continue
            prefix = [e for e in stage_events if e.ts <= deadline]
            cause = _cause_at(_timeline(prefix, issued, service, cfg, None, False).segments(), deadline)
            cause_stage = cause.label if cause is not None else ""
            party = cause.party if cause is not None else ""
            staff = (cause.staff or "") if cause is not None and cause.kind == "stage" else ""
            resolved = close if kind == "ticket_overrun" or not overrun_fires else overrun
            alerts.append(R.alert_row(kind=kind, attempt=0, ticket_id=ticket_id, branch_id=branch_id,
                                      service=service, stage="", cause_stage=cause_stage, responsible=party,
                                      staff_id=staff, limit_ms=standard, started_ms=issued, detected_ms=deadline,
                                      resolved_ms=resolved, end_ms=close))
            if kind == "ticket_overrun":
                row["breached"] = 1
                row["cause_stage"] = cause_stage
                row["responsible"] = party
                if party:
                    facts.append((branch_id, deadline, "breach", party))

    if ratings:
        row["rating"] = ratings[-1].rating

    # --- branch-minute facts
    if issued is not None:
        facts.append((branch_id, issued, "issued", service))
    if status == "completed":
        facts.append((branch_id, close, "document", service))
    elif status == "cancelled":
        facts.append((branch_id, close, "cancelled", service))
    if tl.queue is not None and tl.queue_ended_by_start:
        facts.append((branch_id, tl.queue.end, "queue", tl.queue.end - tl.queue.start))
    for ev in ratings:
        facts.append((branch_id, ev.ts, "rating", ev.rating))

    return TicketTruth(row, stage_rows, alerts, facts, ignored, mismatched)


# --------------------------------------------------------------------------------------------------
# Branch minutes


def minute_rows(facts: Iterable[tuple], cfg: SlaConfig) -> list[dict]:
    """Aggregate (branch_id, ts_ms, fact, value) facts into branch_minute rows (UTC minutes)."""
    plate_services = {s for s, rule in cfg.services.items() if "plates" in rule.route}
    acc: dict[tuple[str, int], dict] = {}
    queue_ms: dict[tuple[str, int], list[int]] = {}
    for branch_id, ts, fact, value in facts:
        key = (branch_id, ts // 60_000 * 60_000)
        row = acc.get(key)
        if row is None:
            row = acc[key] = R.empty_minute_row(*key)
        if fact == "issued":
            row["tickets_issued"] += 1
            if value:
                row[f"tickets_issued_{value}"] += 1
        elif fact == "document":
            row["documents_issued"] += 1
            if value:
                row[f"documents_issued_{value}"] += 1
                row["licenses_issued"] += value in R.LICENSE_SERVICES
                row["registrations"] += value in R.REGISTRATION_SERVICES
                row["plates_issued"] += value in plate_services
        elif fact == "cancelled":
            row["tickets_cancelled"] += 1
            if value:
                row[f"tickets_cancelled_{value}"] += 1
        elif fact == "queue":
            queue_ms.setdefault(key, []).append(value)
        elif fact == "breach":
            row[f"breaches_{value}"] += 1
        elif fact == "rating":
            row["ratings_count"] += 1
            row["ratings_sum"] += value
    for key, values in queue_ms.items():
        row = acc[key]
        row["queue_wait_sum_s"] = R.secs(sum(values))
        row["queue_wait_count"] = len(values)
        row["queue_wait_max_s"] = R.secs(max(values))
    return [acc[k] for k in sorted(acc)]


# --------------------------------------------------------------------------------------------------
# Many tickets


@dataclass
class Layer:
    """Rows of one truth layer, sorted like the ClickHouse keys."""

    tickets: list[dict]
    stages: list[dict]
    alerts: list[dict]
    minutes: list[dict]
    ignored: int = 0
    mismatched: list[SimEvent] = field(default_factory=list)


def evaluate_events(events: Iterable[SimEvent], cfg: SlaConfig, catalog: Mapping) -> Layer:
    """Evaluate a stream of applied ticket events (heartbeats are skipped) ticket by ticket."""
    by_ticket: dict[str, list[SimEvent]] = defaultdict(list)
    for ev in events:
        if ev.ticket_id is not None:
            by_ticket[ev.ticket_id].append(ev)
    return assemble((evaluate_ticket(tid, evs, cfg, catalog) for tid, evs in by_ticket.items()), cfg)


def assemble(truths: Iterable[TicketTruth], cfg: SlaConfig) -> Layer:
    tickets, stages, alerts, facts, mismatched = [], [], [], [], []
    ignored = 0
    for t in truths:
        tickets.append(t.ticket)
        stages.extend(t.stages)
        alerts.extend(t.alerts)
        facts.extend(t.facts)
        mismatched.extend(t.mismatched)
        ignored += t.ignored
    tickets.sort(key=ROW_KEYS["tickets"])
    stages.sort(key=ROW_KEYS["ticket_stages"])
    alerts.sort(key=ROW_KEYS["alerts"])
    return Layer(tickets, stages, alerts, minute_rows(facts, cfg), ignored, mismatched)


# --------------------------------------------------------------------------------------------------
# Judging a delivered file


class BadLine:
    """A malformed line in the delivery: its raw text and the dead-letter code it must get."""

    __slots__ = ("line", "code", "source_event_id")

    def __init__(self, line: str, code: str, source_event_id: str = "") -> None:
        self.line, self.code, self.source_event_id = line, code, source_event_id


@dataclass
class Judged:
    """The delivered file as DESIGN §4 sees it. Classes are keyed by 1-based line number."""

    lines: int = 0
    events_valid: int = 0
    heartbeats: int = 0
    dead_letters: Counter = field(default_factory=Counter)
    duplicates: list[int] = field(default_factory=list)
    on_time: list[int] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    too_late: list[int] = field(default_factory=list)
    out_of_order: list[int] = field(default_factory=list)  # on time, but older than M
    applied: list[SimEvent] = field(default_factory=list)  # candidates: valid, unique, not too late
    max_seen: dict[int, int] = field(default_factory=dict)  # line -> M, for the non-on-time lines


def judge_delivery(delivered: Sequence, cfg: SlaConfig) -> Judged:
    """Classify every delivered item (SimEvent, Heartbeat or BadLine) in delivery order."""
    ooo, lateness = cfg.out_of_orderness_ms, cfg.allowed_lateness_ms
    j = Judged()
    seen: dict[str, int] = {}  # event_id -> index in `applied` (-1: a heartbeat)
    applied = j.applied
    on_time = j.on_time
    heartbeats = 0
    m = -(1 << 62)  # nothing delivered yet: everything is on time
    n = 0
    for item in delivered:
        n += 1
        cls = item.__class__
        if cls is Heartbeat:  # most lines: they only move M (the simulator never repeats a heartbeat)
            heartbeats += 1
            ts = item[0]
            if ts > m:
                m = ts
            continue
        if cls is BadLine:
            j.dead_letters[item.code] += 1
            continue
        ts = item.ts
        eid = item.event_id
        k = seen.get(eid)
        if k is not None:
            j.duplicates.append(n)
            if k >= 0:
                kept = applied[k]
                # Of two copies the earliest ts counts, then the shorter raw line, then the first delivered.
                if (ts, len(item.line or "")) < (kept.ts, len(kept.line or "")):
                    applied[k] = item
        elif item.ticket_id is None:
            heartbeats += 1
            seen[eid] = -1
        elif ts >= m - ooo:
            on_time.append(n)
            if ts < m:
                j.out_of_order.append(n)
                j.max_seen[n] = m
            seen[eid] = len(applied)
            applied.append(item)
        elif ts >= m - ooo - lateness:
            j.late.append(n)
            j.max_seen[n] = m
            seen[eid] = len(applied)
            applied.append(item)
        else:
            j.too_late.append(n)
            j.max_seen[n] = m
        if ts > m:
            m = ts
    j.lines = n
    j.events_valid = n - sum(j.dead_letters.values())
    j.heartbeats = heartbeats
    return j


def expected_layer(judged: Judged, cfg: SlaConfig, catalog: Mapping) -> Layer:
    layer = evaluate_events(judged.applied, cfg, catalog)
    if layer.mismatched:
        judged.dead_letters["service_mismatch"] += len(layer.mismatched)
    return layer


# --------------------------------------------------------------------------------------------------
# Writing


def _encoder():
    """A compact JSON encoder for rows, built once (json.dumps rebuilds it on every call)."""
    from json import encoder as je

    if getattr(je, "c_make_encoder", None) is not None:
        make = je.c_make_encoder(None, None, je.encode_basestring, None, ":", ",", False, False, True)
        return lambda row: "".join(make(row, 0))
    return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")


def write_truth(directory: str | os.PathLike, world: Layer, expected: Layer, judged: Judged, summary: dict,
                faults: dict) -> Path:
    """Write `FILE.truth/` in the layout of docs/semantics.md."""
    root = Path(directory)
    (root / "world").mkdir(parents=True, exist_ok=True)
    (root / "expected").mkdir(parents=True, exist_ok=True)
    encode = _encoder()
    for name, w_rows, e_rows in (("tickets", world.tickets, expected.tickets),
                                 ("ticket_stages", world.stages, expected.stages),
                                 ("alerts", world.alerts, expected.alerts)):
        key = ROW_KEYS[name]
        w_lines = [encode(r) for r in w_rows]
        _write_lines(root / "world" / f"{name}.jsonl", w_lines)
        # Most rows are the same in both layers: reuse the encoded line when the row is equal.
        known = {key(r): (r, line) for r, line in zip(w_rows, w_lines)}
        e_lines = []
        for r in e_rows:
            got = known.get(key(r))
            e_lines.append(got[1] if got is not None and got[0] == r else encode(r))
        _write_lines(root / "expected" / f"{name}.jsonl", e_lines)
    _write_lines(root / "expected" / "branch_minute.jsonl", (encode(r) for r in expected.minutes))
    _write_json(root / "expected" / "dead_letters.json", dict(sorted(judged.dead_letters.items())))
    _write_json(root / "expected" / "summary.json", summary)
    _write_json(root / "faults.json", faults)
    return root
