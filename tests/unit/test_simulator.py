"""`sitcen simulate`: determinism, the event contract, legal lifecycles, faults in their classes,
the two truth layers against each other, incidents, heartbeats and the command line.

Small scenarios (three branches of different kinds, one or two days) keep the file fast; the
national calibration runs the world only.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest

from jobs.sla import config as sla_config
from schemas.catalog import load_catalog
from schemas.codes import VALIDATOR_CODES
from schemas.validate import validate
from simulators import scenario as S
from simulators.faults import MARGIN_MS, FaultPlan, inject
from simulators.incidents import IncidentError, parse_incident
from simulators.output import JsonlWriter
from simulators.truth import evaluate_events
from simulators.world import BranchDay
from sitcen.cli import main as cli_main

CFG = sla_config.load()
CATALOG = load_catalog()
DAY = date(2026, 11, 24)  # a Tuesday
BRANCHES = "spec-aktau,zko-oral-1,akm-kosshy"  # specialized, regional general, small general
FAULTS = FaultPlan(duplicates=0.03, out_of_order=0.03, late_allowed=0.03, too_late=0.02, malformed=0.02,
                   service_mismatch=0.01)
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+05:00$")


def simulate(out: Path, **kw) -> S.Result:
    scn = S.Scenario(**{"branches": BRANCHES, "start": DAY, "seed": 11, **kw})
    return S.run(scn, JsonlWriter(out), Path(f"{out}.truth"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    out = tmp_path_factory.mktemp("faulty") / "day.jsonl"
    return out, simulate(out, days=2, faults=FAULTS)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "day.jsonl"
    return out, simulate(out, incidents=[parse_incident("spec-aktau practical_exam 10:00-12:30 capacity 1")])


# --------------------------------------------------------------------------------------------------
# determinism


def test_same_arguments_give_the_same_bytes_and_another_seed_does_not(faulty, tmp_path):
    out, _ = faulty
    again = tmp_path / "day.jsonl"
    simulate(again, days=2, faults=FAULTS)
    assert again.read_bytes() == out.read_bytes()
    assert tree_bytes(Path(f"{again}.truth")) == tree_bytes(Path(f"{out}.truth"))
    other = tmp_path / "other.jsonl"
    simulate(other, days=2, faults=FAULTS, seed=12)
    assert other.read_bytes() != out.read_bytes()


def test_one_branch_regenerates_alone(clean, tmp_path):
    _, result = clean
    together = [e.line for tk in result.tickets if tk.branch_id == "zko-oral-1" for e in tk.events]
    alone = S.simulate_world(S.Scenario(branches="zko-oral-1", start=DAY, seed=11), CFG, [CATALOG["zko-oral-1"]])
    assert [e.line for tk in alone for e in tk.events] == together and together


# --------------------------------------------------------------------------------------------------
# the event contract and lifecycles


def test_every_line_validates_except_the_malformed_ones_which_get_exactly_their_code(faulty):
    out, result = faulty
    report = json.loads(Path(f"{out}.truth/faults.json").read_text())
    bad = {b["line"]: b["code"] for b in report["malformed"]["lines"]}
    got = Counter()
    for n, line in enumerate(out.read_text(encoding="utf-8").splitlines(), 1):
        verdict = validate(line)
        code = getattr(verdict, "code", None)
        assert code == bad.get(n), f"line {n}: {code} != {bad.get(n)}: {line[:120]}"
        if code:
            got[code] += 1
    assert set(got) == set(VALIDATOR_CODES)  # every validator code 1-11 is covered
    dead = json.loads(Path(f"{out}.truth/expected/dead_letters.json").read_text())
    assert dead == {**got, "service_mismatch": report["service_mismatch"]["count"]}


def test_world_events_follow_the_contract(faulty):
    _, result = faulty
    ids = Counter()
    for tk in result.tickets:
        for e in tk.events:
            ids[e.event_id] += 1
            obj = json.loads(e.line)
            assert TS_RE.match(obj["ts"]), obj["ts"]
            assert len(obj["event_id"]) <= 64 and len(obj["ticket_id"]) <= 64
            if "staff_id" in obj:
                assert re.fullmatch(rf"{tk.branch_id}-(op|ex|in|pd|pl)-\d\d", obj["staff_id"]), obj
            if "service" in obj:
                assert obj["service"] == tk.service
    assert max(ids.values()) == 1
    assert len({tk.ticket_id for tk in result.tickets}) == len(result.tickets)


def test_each_ticket_walks_a_legal_lifecycle(faulty):
    _, result = faulty
    for tk in result.tickets:
        evs = tk.events
        route = CFG.services[tk.service].route
        assert evs[0].type == "ticket_issued" and evs[0].service == tk.service
        assert [e.ts for e in evs] == sorted(e.ts for e in evs), tk.ticket_id
        terminals = [e for e in evs if e.type in ("document_issued", "ticket_cancelled")]
        assert len(terminals) <= 1
        ratings = [e for e in evs if e.type == "rating_submitted"]
        if ratings:
            assert terminals and terminals[0].type == "document_issued"
            assert all(0 < r.ts - terminals[0].ts <= CFG.out_of_orderness_ms + CFG.allowed_lateness_ms - MARGIN_MS
                       for r in ratings)
            assert 1 <= ratings[0].rating <= 5 and len(ratings) == 1
        stage_evs = [e for e in evs if e.type in ("stage_started", "stage_finished")]
        # started/finished alternate, same stage; stages follow the route; only a failed exam repeats
        pos, prev = 0, None
        for start, finish in zip(stage_evs[::2], stage_evs[1::2]):
            assert (start.type, finish.type, start.stage) == ("stage_started", "stage_finished", finish.stage)
            if prev is not None and prev.stage == start.stage:
                assert prev.result == "failed" and start.stage.endswith("_exam")
            else:
                pos = route.index(start.stage, pos + 1)
            prev = finish
        assert len(stage_evs) % 2 == 0
        if tk.status == "completed":
            assert pos == len(route) - 1 and prev.result in (None, "passed")
        after = [e for e in evs if terminals and e.ts > terminals[0].ts]
        assert all(e.type == "rating_submitted" for e in after)
        if tk.status == "abandoned":
            assert not terminals and tk.close > evs[-1].ts


def test_heartbeats_cover_every_branch_day_and_night_past_every_tombstone(faulty):
    out, result = faulty
    beats = defaultdict(list)
    for line in out.read_text(encoding="utf-8").splitlines():
        if '"type":"heartbeat"' in line:
            obj = json.loads(line)
            beats[obj["branch_id"]].append(datetime.fromisoformat(obj["ts"]).timestamp() * 1000)
    last_needed = max(tk.close for tk in result.tickets) + CFG.out_of_orderness_ms + CFG.allowed_lateness_ms
    start = datetime.fromisoformat("2026-11-24T00:00:00+05:00").timestamp() * 1000
    for bid in BRANCHES.split(","):
        ts = sorted(beats[bid])
        assert {round(b - a) for a, b in zip(ts, ts[1:])} == {CFG.heartbeat_interval_ms}
        assert start <= ts[0] < start + CFG.heartbeat_interval_ms
        assert ts[-1] > last_needed and ts[-1] + CFG.heartbeat_interval_ms >= start + 50 * 3_600_000  # 2 days + 2 h


# --------------------------------------------------------------------------------------------------
# faults


def _rejudge(path: Path):
    """An independent judge of the delivered file: validator, then M over valid lines (DESIGN §4)."""
    ooo, lateness = CFG.out_of_orderness_ms, CFG.allowed_lateness_ms
    classes, seen, m = {}, set(), None
    margins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if getattr(validate(line), "code", None):
            continue
        obj = json.loads(line)
        ts = datetime.fromisoformat(obj["ts"]).timestamp() * 1000
        eid = obj["event_id"]
        if eid in seen:
            cls = "duplicates"
        elif m is None or ts >= m:
            cls = "in_order"
        elif ts >= m - ooo:
            cls, margins[eid] = "out_of_order", ts - (m - ooo)
        elif ts >= m - ooo - lateness:
            cls, margins[eid] = "late_allowed", min(m - ooo - ts, ts - (m - ooo - lateness))
        else:
            cls, margins[eid] = "too_late", (m - ooo - lateness) - ts
        if cls != "duplicates":
            seen.add(eid)
        classes.setdefault(eid, []).append(cls)
        m = ts if m is None else max(m, ts)
    return classes, margins


def test_each_fault_is_present_at_its_fraction_and_lands_in_its_class(faulty):
    out, result = faulty
    report = json.loads(Path(f"{out}.truth/faults.json").read_text())
    n = report["ticket_events"]
    assert n == sum(len(tk.events) for tk in result.tickets)
    classes, margins = _rejudge(out)
    for name, frac in FAULTS.items():
        entry = report[name]
        # tolerance: within 2% of round(fraction x ticket events); placement is exact in practice
        assert abs(entry["count"] - round(frac * n)) <= max(1, 0.02 * frac * n), name
        if name == "malformed":
            continue
        for eid in entry["event_ids"]:
            got = classes[eid]
            if name == "duplicates":
                assert got[0] in ("in_order", "out_of_order") and got[1:] == ["duplicates"], (eid, got)
            elif name == "service_mismatch":
                assert got == ["in_order"], (eid, got)
            else:
                assert got == [name], (eid, got)
                assert margins[eid] >= MARGIN_MS
    victims = {eid for name in ("out_of_order", "late_allowed", "too_late") for eid in report[name]["event_ids"]}
    others = [c for eid, c in classes.items() if eid not in victims and c[0] not in ("in_order",)]
    assert not others  # nothing else is out of order, late or too late
    summary = json.loads(Path(f"{out}.truth/expected/summary.json").read_text())
    assert summary["too_late"] == report["too_late"]["count"]
    assert summary["duplicates"] == report["duplicates"]["count"]
    assert summary["lines"] == len(out.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fault_placement_holds_at_high_fractions(seed):
    """10 % of every fault on two small branches: every victim placed, every class re-checked."""
    branches = S.select_branches(CATALOG, "kst-tobyl,mng-beineu")
    scn = S.Scenario(branches="kst-tobyl,mng-beineu", start=DAY, seed=seed)
    tickets = S.simulate_world(scn, CFG, branches)
    base = S.natural_sequence(tickets, branches, scn, CFG)
    plan = FaultPlan(0.1, 0.1, 0.1, 0.1, 0.1, 0.05)
    delivery = inject(base, {tk.ticket_id: tk.close for tk in tickets}, plan, CFG, seed,
                      {b.branch_id: b.timezone for b in branches})  # raises if a class is missed
    for name, _ in plan.items():
        assert delivery.report[name]["count"] == delivery.report[name]["requested"] > 0, name


def test_expected_layer_excludes_too_late_events_and_mismatches(faulty):
    out, result = faulty
    report = json.loads(Path(f"{out}.truth/faults.json").read_text())
    too_late = set(report["too_late"]["event_ids"])
    world_events = [e for tk in result.tickets for e in tk.events]
    applied = [e for e in world_events if e.event_id not in too_late]
    layer = evaluate_events(applied, CFG, CATALOG)
    assert read_jsonl(Path(f"{out}.truth/expected/tickets.jsonl")) == layer.tickets
    assert read_jsonl(Path(f"{out}.truth/expected/ticket_stages.jsonl")) == layer.stages
    assert read_jsonl(Path(f"{out}.truth/expected/alerts.jsonl")) == layer.alerts
    assert read_jsonl(Path(f"{out}.truth/expected/branch_minute.jsonl")) == layer.minutes
    # the too-late events did change something: the world layer differs
    assert read_jsonl(Path(f"{out}.truth/world/tickets.jsonl")) != layer.tickets


# --------------------------------------------------------------------------------------------------
# the two truth layers


def test_evaluating_the_world_stream_reproduces_the_world_layer(faulty, clean):
    for out, result in (faulty, clean):
        layer = evaluate_events((e for tk in result.tickets for e in tk.events), CFG, CATALOG)
        assert layer.ignored == 0 and not layer.mismatched
        assert read_jsonl(Path(f"{out}.truth/world/tickets.jsonl")) == layer.tickets
        assert read_jsonl(Path(f"{out}.truth/world/ticket_stages.jsonl")) == layer.stages
        assert read_jsonl(Path(f"{out}.truth/world/alerts.jsonl")) == layer.alerts


def test_without_faults_expected_equals_world(clean):
    out, _ = clean
    root = Path(f"{out}.truth")
    for name in ("tickets", "ticket_stages", "alerts"):
        assert (root / "world" / f"{name}.jsonl").read_bytes() == (root / "expected" / f"{name}.jsonl").read_bytes()
    summary = json.loads((root / "expected" / "summary.json").read_text())
    assert (summary["too_late"], summary["duplicates"], summary["dead_letters"]) == (0, 0, 0)
    assert json.loads((root / "expected" / "dead_letters.json").read_text()) == {}
    for key in ("lines", "events_valid", "dead_letters", "too_late", "duplicates", "heartbeats", "tickets"):
        assert key in summary


def test_truth_rows_use_the_clickhouse_columns(clean):
    out, _ = clean
    ddl = Path(__file__).resolve().parents[2].joinpath("sinks/sql/ddl.sql").read_text()

    def columns(table: str) -> list[str]:
        body = ddl.split(f"CREATE TABLE IF NOT EXISTS sitcen.{table} (")[1].split(") ENGINE")[0]
        names = re.findall(r"^\s*([a-z_0-9]+)\s+[A-Z]", body, re.M)
        return [n for n in names if n not in ("version", "is_deleted")]

    root = Path(f"{out}.truth")
    for table, path in (("tickets", "world/tickets.jsonl"), ("ticket_stages", "world/ticket_stages.jsonl"),
                        ("alerts", "world/alerts.jsonl"), ("branch_minute", "expected/branch_minute.jsonl")):
        row = read_jsonl(root / path)[0]
        assert list(row) == columns(table), table
    row = read_jsonl(root / "world/tickets.jsonl")[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["issued_at"])


# --------------------------------------------------------------------------------------------------
# incidents


def test_an_incident_raises_breaches_attributed_to_the_police():
    branch = CATALOG["spec-aktau"]

    def police_breaches(incidents):
        tickets = BranchDay(branch, DAY, CFG, 5, incidents).run()
        layer = evaluate_events((e for tk in tickets for e in tk.events), CFG, CATALOG)
        return Counter(r["responsible"] for r in layer.tickets if r["breached"])

    calm = police_breaches([])
    storm = police_breaches([parse_incident("spec-aktau practical_exam 09:30-13:00 capacity 1")])
    assert storm["police"] >= calm["police"] + 15
    assert storm["police"] > 2 * storm.get("con", 0)


def test_an_intake_incident_is_blamed_on_the_con():
    branch = CATALOG["akm-kosshy"]
    tickets = BranchDay(branch, DAY, CFG, 5, [parse_incident("akm-kosshy intake 09:00-11:30 down")]).run()
    layer = evaluate_events((e for tk in tickets for e in tk.events), CFG, CATALOG)
    blamed = Counter(r["responsible"] for r in layer.tickets if r["breached"])
    assert blamed["con"] >= 5 and blamed["con"] > blamed.get("police", 0)


@pytest.mark.parametrize("spec", [
    "spec-almaty theory 10:00-12:00 capacity 1",  # unknown stage
    "spec-almaty theory_exam 10:00-09:00 capacity 1",  # ends before it starts
    "spec-almaty theory_exam 10:00-12:00 capacity -1",
    "spec-almaty theory_exam 10:00-12:00 capacity",
    "spec-almaty theory_exam 10-12 down",
    "spec-almaty theory_exam 25:00-26:00 down",
    "spec-almaty theory_exam 2026-02-30 10:00-12:00 down",
    "spec-almaty theory_exam 10:00-12:00 slow 0.5",
    "spec-almaty theory_exam 10:00-12:00 broken",
    "spec-almaty",
])
def test_bad_incident_specs_are_one_line_errors(spec):
    with pytest.raises(IncidentError) as err:
        parse_incident(spec)
    assert "\n" not in str(err.value) and spec in str(err.value)


def test_good_incident_specs_parse():
    inc = parse_incident("spec-almaty theory_exam 10:00-12:00 capacity 1")
    assert (inc.branch_id, inc.stage, inc.day, inc.start_min, inc.end_min, inc.capacity) == (
        "spec-almaty", "theory_exam", None, 600, 720, 1)
    inc = parse_incident("ala-almaly intake 2026-11-24 18:00-24:00 down")
    assert (inc.day, inc.end_min, inc.capacity) == (DAY, 1440, 0)
    assert parse_incident("spec-astana production 09:00-10:00 slow 2.5").slow == 2.5


# --------------------------------------------------------------------------------------------------
# branches, calibration, command line


def test_branch_selection():
    order = S.select_branches(CATALOG, 7)
    assert [b.specialized for b in order[:5]] == [True] * 5 and not order[5].specialized
    assert len(S.select_branches(CATALOG, 162)) == 162
    assert [b.branch_id for b in S.select_branches(CATALOG, "akm-kosshy,spec-aktau")] == ["akm-kosshy", "spec-aktau"]
    for bad in ("nope", "spec-pavlodar", "0", "163", "spec-aktau,spec-aktau"):
        with pytest.raises(S.ScenarioError):
            S.select_branches(CATALOG, bad)


def test_national_day_calibration():
    scn = S.Scenario(branches=162, start=DAY, seed=7)
    branches = S.select_branches(CATALOG, 162)
    tickets = S.simulate_world(scn, CFG, branches)
    assert 8_000 <= len(tickets) <= 15_000
    ticket_events = sum(len(tk.events) for tk in tickets)
    beats_per_branch = (26 * 3_600_000) // CFG.heartbeat_interval_ms
    assert ticket_events + 162 * beats_per_branch >= 300_000
    breached = [tk for tk in tickets
                if tk.close - tk.issued > CFG.services[tk.service].standard_ms]
    assert 0.005 * len(tickets) < len(breached) < 0.10 * len(tickets)  # most tickets meet the standard
    services = Counter(tk.service for tk in tickets)
    assert services["license_exchange"] == max(services.values()) and len(services) == 5
    spec = Counter(tk.service for tk in tickets if tk.branch_id.startswith("spec-"))
    assert spec["driver_license"] == max(spec.values())


def test_cli_writes_the_file_and_the_truth(tmp_path, capsys):
    out = tmp_path / "cli.jsonl"
    rc = cli_main(["simulate", "--branches", "akm-kosshy", "--date", "2026-11-24", "--duplicates", "0.05",
                   "--malformed", "0.02", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "tickets" in text and "events/s" in text and f"{out}.truth" in text
    root = Path(f"{out}.truth")
    for rel in ("world/tickets.jsonl", "world/ticket_stages.jsonl", "world/alerts.jsonl", "expected/tickets.jsonl",
                "expected/ticket_stages.jsonl", "expected/alerts.jsonl", "expected/branch_minute.jsonl",
                "expected/dead_letters.json", "expected/summary.json", "faults.json"):
        assert (root / rel).is_file(), rel


def test_cli_refuses_kafka_and_bad_arguments_with_one_line(tmp_path, capsys):
    assert cli_main(["simulate", "--kafka", "localhost:9092", "--topic", "con.events"]) == 2
    assert "not available yet" in capsys.readouterr().err
    out = str(tmp_path / "x.jsonl")
    assert cli_main(["simulate", "--branches", "nowhere", "--out", out, "--quiet"]) == 2
    assert "unknown branch id 'nowhere'" in capsys.readouterr().err
    assert cli_main(["simulate", "--branches", "3", "--out", out, "--incident", "spec-astana lunch 1-2 down"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad --incident" in err
