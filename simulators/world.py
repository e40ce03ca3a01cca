"""The world: one discrete-event simulation per branch and local day, and its `world` truth layer.

Citizens arrive as a time-varying Poisson process (daily profile x weekday), take a ticket, queue
for an intake window and walk their service's route from the SLA configuration. Every stage is a
resource with a limited number of servers (windows, exam-hall seats, examiners, inspectors,
production and plates desks), so waits form and grow with load instead of being drawn at random.
Exams can fail (retake, cancel or walk away), citizens can lose patience in the queue, staff take
staggered lunch breaks, and incidents take a resource down or slow it for a window.

Everything a branch-day does is drawn from one RNG seeded with (seed, branch_id, date), so one
branch can be regenerated alone and byte-identically. The `world` layer (`world_truth`) is
computed from the simulation's own record of each ticket (attempt start/end times), not from its
events; evaluating the events with `simulators.truth` must reproduce it exactly.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections import deque
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from jobs.sla.config import EXAM_STAGES, SlaConfig
from schemas.catalog import Branch

from simulators import profile as P
from simulators import rows as R
from simulators.events import HHMM, SSMS, Heartbeat, SimEvent, TsFormatter, render
from simulators.incidents import Incident

_MIN = 60_000
_ARRIVE, _RENEGE, _READY, _DONE, _CAP, _STOP, _FINISH = range(7)


def branch_rng(seed: int, branch_id: str, day: date) -> random.Random:
    digest = hashlib.sha256(f"{seed}|{branch_id}|{day.isoformat()}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def local_midnight_ms(branch: Branch, day: date) -> int:
    dt = datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(branch.timezone))
    return int(dt.astimezone(timezone.utc).timestamp() * 1000)


class Ticket:
    """The simulation's record of one ticket: what happened, in UTC epoch ms."""

    __slots__ = ("ticket_id", "branch_id", "service", "route", "issued", "attempts", "status", "close",
                 "reason", "rating", "rating_staff", "rating_ts", "gone", "in_queue", "last_ts", "pos",
                 "events")

    def __init__(self, ticket_id: str, branch_id: str, service: str, route: tuple, issued: int) -> None:
        self.ticket_id = ticket_id
        self.branch_id = branch_id
        self.service = service
        self.route = route
        self.issued = issued
        # each attempt: [stage, attempt number, start, end, staff_id, result]
        self.attempts: list[list] = []
        self.status = "open"
        self.close: int | None = None
        self.reason: str | None = None
        self.rating: int | None = None
        self.rating_staff: str | None = None
        self.rating_ts: int | None = None
        self.gone = False
        self.in_queue = False
        self.last_ts = issued
        self.pos = 0  # index in route of the current/next stage
        self.events: list[SimEvent] = []


class _Resource:
    __slots__ = ("stage", "cap", "free", "busy", "waiting", "stopped", "staff", "slow")

    def __init__(self, stage: str, servers: int, cap: int, staff: list[str], slow: list) -> None:
        self.stage = stage
        self.cap = cap
        self.free = list(range(servers))
        self.busy = 0
        self.waiting: deque = deque()
        self.stopped = False
        self.staff = staff
        self.slow = slow  # [(start_ms, end_ms, factor)]


class BranchDay:
    """Discrete-event simulation of one branch on one local date."""

    def __init__(self, branch: Branch, day: date, cfg: SlaConfig, seed: int,
                 incidents: list[Incident] | tuple = ()) -> None:
        self.branch = branch
        self.day = day
        self.cfg = cfg
        self.rng = branch_rng(seed, branch.branch_id, day)
        self.incidents = [i for i in incidents if i.applies(branch.branch_id, day)]
        routes = {s: r.route for s, r in cfg.services.items()}
        self.profile = P.branch_profile(branch, routes)
        self.opening = branch.opening_ms(day)
        self.closing = branch.closing_ms(day)
        self.midnight = local_midnight_ms(branch, day)
        self.tickets: list[Ticket] = []
        self._heap: list = []
        self._seq = 0

    # ---- scheduling
    def _push(self, t: int, kind: int, a=None, b=None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, a, b))

    def _local(self, minute: int) -> int:
        return self.midnight + minute * _MIN

    # ---- setup
    def _capacity_at(self, stage: str, normal: int, t: int) -> int:
        minute = (t - self.midnight) // _MIN
        cap = normal
        lunch = P.LUNCH_SHARE.get(stage)
        if lunch and normal >= lunch[0] and P.LUNCH[0] <= minute < P.LUNCH[1]:
            cap = normal - int(normal * lunch[1])
        for inc in self.incidents:
            if inc.stage == stage and inc.capacity is not None and inc.start_min <= minute < inc.end_min:
                cap = inc.capacity
        return cap

    def _build_resources(self) -> dict[str, _Resource]:
        bid = self.branch.branch_id
        resources = {}
        examiners = max(1, self.branch.examiners)
        for stage, normal in self.profile.capacity.items():
            inc_caps = [i.capacity for i in self.incidents if i.stage == stage and i.capacity is not None]
            servers = max([normal, *inc_caps])
            role = P.ROLE[stage]
            if stage == "theory_exam":  # seats; the examiner proctoring that part of the hall
                staff = [f"{bid}-ex-{(i % examiners) + 1:02d}" for i in range(servers)]
            else:
                staff = [f"{bid}-{role}-{i + 1:02d}" for i in range(servers)]
            slow = [(self._local(i.start_min), self._local(i.end_min), i.slow)
                    for i in self.incidents if i.stage == stage and i.slow != 1.0]
            res = _Resource(stage, servers, self._capacity_at(stage, normal, self.opening), staff, slow)
            resources[stage] = res
            # capacity changes: lunch and incident boundaries
            points = set()
            if stage in P.LUNCH_SHARE:
                points.update((self._local(P.LUNCH[0]), self._local(P.LUNCH[1])))
            for inc in self.incidents:
                if inc.stage == stage and inc.capacity is not None:
                    points.update((self._local(inc.start_min), self._local(inc.end_min)))
            for t in sorted(points):
                if t > self.opening:
                    self._push(t, _CAP, stage, self._capacity_at(stage, normal, t))
            overtime = P.INTAKE_OVERTIME_MIN if stage == "intake" else P.POLICE_OVERTIME_MIN
            self._push(self.closing + overtime * _MIN, _STOP, stage)
        return resources

    def _arrivals(self) -> None:
        rng = self.rng
        prof = self.profile
        if not prof.service_mix:
            return
        wd = P.WEEKDAY_FACTOR[self.day.weekday()]
        fmax = max(f for _, f in P.DAY_PROFILE)
        lam = prof.tickets_per_hour * wd * fmax / 3_600_000  # per ms, the thinning envelope
        cutoffs = {s: self.closing - P.LAST_TICKET_BEFORE_CLOSING_MIN[s] * _MIN for s in prof.service_mix}
        services = list(prof.service_mix)
        weights = [prof.service_mix[s] for s in services]
        ymd = self.day.strftime("%Y%m%d")
        t = float(self.opening)
        n = 0
        while True:
            t += rng.expovariate(lam)
            if t >= self.closing:
                break
            if rng.random() * fmax > P.day_factor((t - self.midnight) / _MIN):
                continue
            ti = int(t)
            open_services = [s for s in services if ti < cutoffs[s]]
            if not open_services:
                continue
            if len(open_services) == len(services):
                service = rng.choices(services, weights)[0]
            else:
                service = rng.choices(open_services, [prof.service_mix[s] for s in open_services])[0]
            n += 1
            tk = Ticket(f"{self.branch.branch_id}-{ymd}-{n:04d}", self.branch.branch_id, service,
                        self.cfg.services[service].route, ti)
            self.tickets.append(tk)
            self._push(ti, _ARRIVE, tk)

    # ---- random draws
    def _gamma_ms(self, shape_mean: tuple[float, float]) -> int:
        shape, mean = shape_mean
        return max(1000, int(self.rng.gammavariate(shape, mean / shape) * 1000))

    def _duration_ms(self, stage: str, service: str, start: int, res: _Resource) -> int:
        params = P.DURATION[stage]
        median, sigma = params.get(service) or params["*"]
        d = self.rng.lognormvariate(math.log(median * _MIN), sigma)
        for a, b, factor in res.slow:
            if a <= start < b:
                d *= factor
        return max(30_000, int(d))

    # ---- ticket flow
    def _cancel(self, tk: Ticket, t: int, reason: str) -> None:
        tk.status, tk.close, tk.reason = "cancelled", t, reason
        tk.last_ts = max(tk.last_ts, t)

    def _try_start(self, res: _Resource, now: int) -> None:
        waiting = res.waiting
        while waiting and res.busy < res.cap and res.free:
            tk = waiting.popleft()
            if tk.gone:
                continue
            server = heapq.heappop(res.free)
            res.busy += 1
            start = now
            if res.stage == "intake":
                tk.in_queue = False
                start = now + self._gamma_ms(P.WALK_TO_WINDOW)
            number = 1 + sum(1 for a in tk.attempts if a[0] == res.stage)
            end = start + self._duration_ms(res.stage, tk.service, start, res)
            tk.attempts.append([res.stage, number, start, end, res.staff[server], ""])
            tk.last_ts = end
            self._push(end, _DONE, tk, server)

    def _done(self, tk: Ticket, server: int, t: int, resources: dict) -> None:
        rng = self.rng
        att = tk.attempts[-1]
        stage = att[0]
        res = resources[stage]
        res.busy -= 1
        heapq.heappush(res.free, server)
        if stage == "intake" and rng.random() < P.DOCUMENTS_INCOMPLETE:
            self._cancel(tk, t + int(rng.uniform(*P.CANCEL_DELAY_S) * 1000), "documents_incomplete")
        elif stage in EXAM_STAGES and rng.random() < P.EXAM_FAIL[stage][min(att[1], 2) - 1]:
            att[5] = "failed"
            odds = P.AFTER_FIRST_FAIL if att[1] == 1 else P.AFTER_SECOND_FAIL
            choice = rng.choices(("retake", "cancel", "walk"), odds)[0]
            if choice == "retake":
                self._push(t + self._gamma_ms(P.RETAKE_COOLDOWN), _READY, tk, stage)
            elif choice == "cancel":
                self._cancel(tk, t + int(rng.uniform(*P.CANCEL_DELAY_S) * 1000), f"{stage}_failed")
            else:
                tk.status = "abandoned"
        else:
            if stage in EXAM_STAGES:
                att[5] = "passed"
            tk.pos = tk.route.index(stage) + 1
            if tk.pos < len(tk.route):
                self._push(t + self._gamma_ms(P.WALK_BETWEEN_STAGES), _READY, tk, tk.route[tk.pos])
            else:
                close = t + self._gamma_ms(P.DOCUMENT_HANDOVER)
                tk.status, tk.close = "completed", close
                tk.last_ts = close
        self._try_start(res, t)

    def run(self) -> list[Ticket]:
        if self.opening is None or self.closing is None:
            return []
        resources = self._build_resources()
        self._arrivals()
        heap = self._heap
        rng = self.rng
        intake = resources["intake"]
        patience_mu = math.log(P.QUEUE_PATIENCE[0] * _MIN)
        while heap:
            t, _, kind, a, b = heapq.heappop(heap)
            if kind == _ARRIVE:
                a.in_queue = True
                intake.waiting.append(a)
                self._push(t + int(rng.lognormvariate(patience_mu, P.QUEUE_PATIENCE[1])), _RENEGE, a)
                self._try_start(intake, t)
            elif kind == _DONE:
                self._done(a, b, t, resources)
            elif kind == _READY:
                res = resources[b]
                if res.stopped:
                    self._cancel(a, t + int(rng.uniform(*P.CANCEL_DELAY_S) * 1000), "branch_closed")
                else:
                    res.waiting.append(a)
                    self._try_start(res, t)
            elif kind == _RENEGE:
                if a.in_queue and not a.gone:
                    a.gone, a.in_queue, a.status = True, False, "abandoned"
            elif kind == _CAP:
                res = resources[a]
                res.cap = b
                self._try_start(res, t)
            elif kind == _STOP:
                res = resources[a]
                res.stopped = True
                for tk in res.waiting:
                    if tk.gone:
                        continue
                    if a == "intake":
                        tk.gone, tk.in_queue, tk.status = True, False, "abandoned"
                    else:
                        self._cancel(tk, t + int(rng.uniform(*P.CANCEL_DELAY_S) * 1000), "branch_closed")
                res.waiting.clear()
        self._finish()
        return self.tickets

    # ---- after the day: closes, ratings, events
    def _finish(self) -> None:
        cfg = self.cfg
        rng = self.rng
        grace = cfg.abandon_grace_ms
        window = cfg.out_of_orderness_ms + cfg.allowed_lateness_ms
        max_delay = min(P.RATING_DELAY_S[1] * 1000, 0.8 * window)
        min_delay = min(P.RATING_DELAY_S[0] * 1000, max_delay / 2)
        fmt = TsFormatter(self.branch.timezone)
        bid = self.branch.branch_id
        for tk in self.tickets:
            if tk.status == "abandoned":
                close = world_abandon_close(self.branch, tk.issued, cfg)
                if tk.last_ts > close - _MIN:
                    # Staff would close it by hand rather than let it hang past the abandonment time.
                    self._cancel(tk, tk.last_ts + 30_000, "branch_closed")
                else:
                    tk.close = close
            elif tk.status == "open":  # cannot happen: every path ends; keep the record consistent
                self._cancel(tk, tk.last_ts + 30_000, "branch_closed")
            if tk.status == "completed" and max_delay >= 1 and rng.random() < P.RATING_SHARE:
                tk.rating_ts = tk.close + int(rng.uniform(min_delay, max_delay))
                staff = next(a[4] for a in tk.attempts if a[0] == "intake")
                if tk.service == "driver_license" and rng.random() < 0.6:
                    staff = [a for a in tk.attempts if a[0] == "practical_exam"][-1][4]
                elif "vehicle_inspection" in tk.route and rng.random() < 0.3:
                    staff = [a for a in tk.attempts if a[0] == "vehicle_inspection"][-1][4]
                tk.rating_staff = staff
                breached = tk.close - tk.issued > cfg.services[tk.service].standard_ms
                tk.rating = rng.choices((1, 2, 3, 4, 5), P.RATING_WEIGHTS["breached" if breached else "ok"])[0]
            tk.events = ticket_events(tk, rng, fmt, bid)


def world_abandon_close(branch: Branch, issued: int, cfg: SlaConfig) -> int:
    """When the rules close a ticket that never got a terminal event (same local day as issue)."""
    closing = branch.closing_ms(branch.local_date(issued))
    if closing is not None and closing + cfg.abandon_grace_ms > issued:
        return closing + cfg.abandon_grace_ms
    return issued + cfg.abandon_horizon_ms


def ticket_events(tk: Ticket, rng: random.Random, fmt: TsFormatter, branch_id: str) -> list[SimEvent]:
    """The events a branch system sends for a ticket, in generation order, with their lines."""
    tid = tk.ticket_id
    service = tk.service
    out: list[SimEvent] = []

    def add(type_: str, ts: int, **fields) -> None:
        if type_ != "ticket_issued" and rng.random() < P.SERVICE_REPEAT_SHARE:
            fields["service"] = service
        ev = SimEvent(f"{tid}-{len(out):02d}", type_, ts, branch_id, tid, **fields)
        ev.line = render(ev, fmt(ts))
        out.append(ev)

    add("ticket_issued", tk.issued, service=service)
    for stage, _n, start, end, staff, result in tk.attempts:
        add("stage_started", start, stage=stage, staff_id=staff)
        fin = {"stage": stage}
        if rng.random() < P.STAFF_ON_FINISH_SHARE:
            fin["staff_id"] = staff
        if result:
            fin["result"] = result
        add("stage_finished", end, **fin)
    if tk.status == "completed":
        add("document_issued", tk.close)
    elif tk.status == "cancelled":
        add("ticket_cancelled", tk.close, reason=tk.reason)
    if tk.rating is not None:
        add("rating_submitted", tk.rating_ts, staff_id=tk.rating_staff, rating=tk.rating)
    return out


def heartbeats(branch: Branch, start_ms: int, end_ms: int, interval_ms: int) -> list[Heartbeat]:
    """One heartbeat per interval from start_ms (inclusive) to end_ms (exclusive), at a fixed
    per-branch phase so that branches do not all beat on the same millisecond."""
    phase = int.from_bytes(hashlib.sha256(branch.branch_id.encode()).digest()[:4], "big") % interval_ms
    fmt = TsFormatter(branch.timezone)
    bid = branch.branch_id
    out = []
    append = out.append
    head = f'{{"event_id":"hb-{bid}-'
    mid = '","type":"heartbeat","ts":"'
    tail = f'","branch_id":"{bid}"}}'
    ident = f"hb-{bid}-"
    hhmm, ssms = HHMM, SSMS
    new = tuple.__new__
    cur_hour = cur_day = None
    off = 0
    suffix = dtext = ""
    for ts in range(start_ms + phase, end_ms, interval_ms):
        hour = ts // 3_600_000
        if hour != cur_hour:
            off, suffix = fmt.offset_ms(ts)
            cur_hour = hour
        day, rest = divmod(ts + off, 86_400_000)
        if day != cur_day:
            dtext = fmt.date_text(day)
            cur_day = day
        minute, rest = divmod(rest, 60_000)
        append(new(Heartbeat, (ts, f"{ident}{ts}", bid,
                               f"{head}{ts}{mid}{dtext}T{hhmm[minute]}:{ssms[rest]}{suffix}{tail}")))
    return out


# --------------------------------------------------------------------------------------------------
# The world layer, from the simulation's record


def world_truth(tk: Ticket, cfg: SlaConfig) -> tuple[dict, list[dict], list[dict]]:
    """(ticket row, stage rows, alerts) of a finished ticket, straight from its record.

    The record is sequential (each attempt starts after the previous one ended), so segments are
    simply: queue, then per attempt the wait before it and the attempt, then the trailing wait.
    """
    tid, bid, service = tk.ticket_id, tk.branch_id, tk.service
    issued, close, atts = tk.issued, tk.close, tk.attempts
    standard = cfg.services[service].standard_ms
    # segments: (kind rank, label, start, end, party, limit, staff)
    queue_end = atts[0][2] if atts else close
    segs = [(0, "queue", issued, queue_end, cfg.responsible("queue"), cfg.stage_limit_ms("queue"), "")]
    prev_end = queue_end
    for stage, _n, start, end, staff, _result in atts:
        segs.append((2, f"wait_{stage}", prev_end, start, cfg.responsible(stage), cfg.wait_limit_ms(stage), ""))
        segs.append((1, stage, start, end, cfg.responsible(stage), cfg.stage_limit_ms(stage), staff))
        prev_end = end
    if atts:
        last_stage, last_result = atts[-1][0], atts[-1][5]
        if tk.status == "completed":
            nxt = "document"
        elif last_result == "failed":
            nxt = last_stage
        else:
            i = tk.route.index(last_stage)
            nxt = tk.route[i + 1] if i + 1 < len(tk.route) else "document"
        party = cfg.responsible(last_stage) if nxt == "document" else cfg.responsible(nxt)
        segs.append((2, f"wait_{nxt}", prev_end, close, party, cfg.wait_limit_ms(nxt), ""))

    row = R.empty_ticket_row()
    row.update(ticket_id=tid, branch_id=bid, known_branch=1, service=service, issued_at=R.iso(issued),
               finished_at=R.iso(close), status=tk.status, total_s=R.secs(close - issued), rating=tk.rating)
    totals: dict[str, int] = {}
    for _k, label, start, end, *_ in segs:
        totals[label] = totals.get(label, 0) + end - start
    for label, ms in totals.items():
        row[f"{label}_s"] = R.secs(ms)

    stage_rows, alerts = [], []
    watched = [("queue", 1, issued, queue_end, "", "")] + [(a[0], a[1], a[2], a[3], a[4], a[5]) for a in atts]
    for stage, number, start, end, staff, result in watched:
        limit = cfg.stage_limit_ms(stage)
        party = cfg.responsible(stage)
        stage_rows.append({
            "ticket_id": tid, "branch_id": bid, "stage": stage, "attempt": number, "result": result,
            "responsible": party, "staff_id": staff, "started_at": R.iso(start), "finished_at": R.iso(end),
            "duration_s": R.secs(end - start), "limit_s": R.secs(limit),
            "overrun_s": R.secs(max(0, end - start - limit)),
        })
        duration = end - start
        common = dict(attempt=number, ticket_id=tid, branch_id=bid, service=service, stage=stage,
                      cause_stage=stage, responsible=party, staff_id=staff, limit_ms=limit, started_ms=start,
                      end_ms=end)
        if duration > R.warning_ms(cfg, limit):
            alerts.append(R.alert_row(kind="stage_at_risk", detected_ms=start + R.warning_ms(cfg, limit),
                                      resolved_ms=min(end, start + limit) if duration > limit else end, **common))
        if duration > limit:
            alerts.append(R.alert_row(kind="stage_overrun", detected_ms=start + limit, resolved_ms=end, **common))

    total = close - issued
    for kind, offset in (("ticket_at_risk", R.warning_ms(cfg, standard)), ("ticket_overrun", standard)):
        if total <= offset:
            continue
        d = issued + offset
        best, best_key, running = None, None, None
        for n, (rank, label, start, end, party, limit, staff) in enumerate(segs):
            if start > d:
                break
            excess = min(end, d) - start - limit
            if excess > 0 and (best_key is None or (-excess, start, rank) < best_key):
                best, best_key = n, (-excess, start, rank)
            if start <= d < end:
                running = n
        pick = segs[best if best is not None else running]
        _rank, label, _s, _e, party, _l, staff = pick
        resolved = close if kind == "ticket_overrun" or total <= standard else issued + standard
        alerts.append(R.alert_row(kind=kind, attempt=0, ticket_id=tid, branch_id=bid, service=service, stage="",
                                  cause_stage=label, responsible=party, staff_id=staff, limit_ms=standard,
                                  started_ms=issued, detected_ms=d, resolved_ms=resolved, end_ms=close))
        if kind == "ticket_overrun":
            row.update(breached=1, cause_stage=label, responsible=party)
    return row, stage_rows, alerts
