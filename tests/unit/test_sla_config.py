"""The SLA configuration (jobs/sla/config.py, sla.default.yaml): DESIGN §2/§4 defaults and the strict loader."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from hypothesis import given, strategies as st

from jobs.sla import config
from jobs.sla.config import SlaConfigError

from tests.unit.sla_helpers import HOUR, MIN, SEC, T0, Driver, Ticket


@pytest.fixture(scope="module")
def default_doc() -> dict[str, Any]:
    return yaml.safe_load(config.default_path().read_text(encoding="utf-8"))


def write(tmp_path: Path, doc: Any, name: str = "sla.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p


# --- the shipped defaults (DESIGN §2 table, service standards, routes; §4 event-time settings) ------

def test_default_stage_limits_and_parties() -> None:
    cfg = config.load()
    expected = {
        "queue": ("con", 30), "intake": ("con", 15), "theory_exam": ("police", 40),
        "practical_exam": ("police", 45), "vehicle_inspection": ("police", 30),
        "production": ("police", 30), "plates": ("police", 15),
    }
    assert set(cfg.stages) == set(expected)
    for stage, (party, minutes) in expected.items():
        assert cfg.responsible(stage) == party
        assert cfg.stage_limit_ms(stage) == minutes * 60_000


def test_default_wait_limits_are_15_min_for_every_stage_and_the_document() -> None:
    cfg = config.load()
    assert dict(cfg.wait_limits_ms) == {s: 900_000 for s in (
        "intake", "theory_exam", "practical_exam", "vehicle_inspection", "production", "plates", "document")}
    assert cfg.wait_limit_ms("document") == 900_000


def test_default_service_standards_and_routes() -> None:
    cfg = config.load()
    expected = {
        "driver_license": (120, ("queue", "intake", "theory_exam", "practical_exam", "production")),
        "license_exchange": (60, ("queue", "intake", "production")),
        "vehicle_registration": (120, ("queue", "intake", "vehicle_inspection", "production", "plates")),
        "vehicle_reregistration": (120, ("queue", "intake", "vehicle_inspection", "production")),
        "plates_issue": (45, ("queue", "intake", "plates")),
    }
    assert set(cfg.services) == set(expected)
    for name, (minutes, route) in expected.items():
        assert cfg.services[name].standard_ms == minutes * 60_000
        assert cfg.services[name].route == route


def test_default_event_time_settings() -> None:
    cfg = config.load()
    assert cfg.warning_fraction == 0.8
    assert cfg.out_of_orderness_ms == 60_000
    assert cfg.allowed_lateness_ms == 600_000
    assert cfg.abandon_grace_ms == 3_600_000
    assert cfg.abandon_horizon_ms == 12 * 3_600_000
    assert cfg.heartbeat_interval_ms == 60_000


@pytest.mark.parametrize("limit_ms, warning_ms", [
    (30 * 60_000, 24 * 60_000),  # queue, vehicle_inspection, production
    (15 * 60_000, 12 * 60_000),  # intake, plates
    (40 * 60_000, 32 * 60_000),  # theory_exam
    (45 * 60_000, 36 * 60_000),  # practical_exam
    (120 * 60_000, 96 * 60_000),  # driver_license standard
    (1, 0), (4, 3), (6, 4), (999, 799), (1001, 800),  # floor(L·0.8), to the millisecond
])
def test_warning_offset_is_floor_of_0_8_limit(limit_ms: int, warning_ms: int) -> None:
    assert config.load().warning_ms(limit_ms) == warning_ms


@given(st.integers(min_value=1, max_value=10 * 24 * 3_600_000))
def test_warning_offset_floor_property(limit_ms: int) -> None:
    # docs/semantics.md: deadline t0 + floor(L·0.8); 0.8 = 4/5 exactly
    assert config.load().warning_ms(limit_ms) == limit_ms * 4 // 5


def test_to_dict_round_trips(tmp_path: Path, default_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(default_doc)
    doc["wait_limits_min"] = {"default": 10, "production": 20}
    doc["stages"]["intake"]["limit_min"] = 17.5
    cfg = config.load(write(tmp_path, doc))
    again = config.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.wait_limit_ms("production") == 20 * 60_000
    assert again.wait_limit_ms("document") == 10 * 60_000
    assert again.stage_limit_ms("intake") == 1_050_000


# --- the loader refuses bad files and names the key --------------------------------------------

def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[p]
        node[last] = value
    return apply


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[p]
        del node[last]
    return apply


BAD = [
    # (id, change, key the error must name, words the problem must contain)
    ("unknown top-level key", _set("limits", 5), "limits", "unknown setting"),
    ("unknown key inside a stage", _set("stages.intake.limit", 15), "stages.intake.limit", "unknown setting"),
    ("missing stage", _del("stages.plates"), "stages.plates", "missing"),
    ("unknown stage", _set("stages.coffee", {"responsible": "con", "limit_min": 5}), "stages.coffee",
     "unknown stage"),
    ("negative limit", _set("stages.intake.limit_min", -15), "stages.intake.limit_min", "> 0"),
    ("zero limit", _set("stages.production.limit_min", 0), "stages.production.limit_min", "> 0"),
    ("limit as a string", _set("stages.intake.limit_min", "15"), "stages.intake.limit_min", "number"),
    ("limit as a boolean", _set("stages.intake.limit_min", True), "stages.intake.limit_min", "number"),
    ("missing limit", _del("stages.intake.limit_min"), "stages.intake.limit_min", "missing"),
    ("unknown party", _set("stages.intake.responsible", "akimat"), "stages.intake.responsible", "con, police"),
    ("negative standard", _set("services.plates_issue.standard_min", -45), "services.plates_issue.standard_min",
     "> 0"),
    ("missing service", _del("services.plates_issue"), "services.plates_issue", "missing"),
    ("unknown service", _set("services.passport", {"standard_min": 30, "route": ["queue", "intake"]}),
     "services.passport", "unknown service"),
    ("route not starting with queue", _set("services.plates_issue.route", ["intake", "plates"]),
     "services.plates_issue.route", "must start with queue"),
    ("unknown stage in a route", _set("services.license_exchange.route", ["queue", "intake", "lamination"]),
     "services.license_exchange.route", "lamination"),
    ("stage twice in a route", _set("services.driver_license.route",
                                    ["queue", "intake", "theory_exam", "theory_exam", "production"]),
     "services.driver_license.route", "twice"),
    ("route of only the queue", _set("services.plates_issue.route", ["queue"]), "services.plates_issue.route",
     "at least one stage"),
    ("empty route", _set("services.plates_issue.route", []), "services.plates_issue.route", "non-empty"),
    ("warning_fraction 1", _set("warning_fraction", 1), "warning_fraction", "between 0 and 1"),
    ("warning_fraction 1.5", _set("warning_fraction", 1.5), "warning_fraction", "between 0 and 1"),
    ("warning_fraction 0", _set("warning_fraction", 0), "warning_fraction", "> 0"),
    ("warning_fraction negative", _set("warning_fraction", -0.2), "warning_fraction", "> 0"),
    ("missing top-level key", _del("allowed_lateness_s"), "allowed_lateness_s", "missing"),
    ("negative lateness", _set("out_of_orderness_s", -1), "out_of_orderness_s", ">= 0"),
    ("wait limit for an unknown stage", _set("wait_limits_min.lunch", 5), "wait_limits_min.lunch",
     "unknown stage"),
    ("wait limits without default", _set("wait_limits_min", {"production": 20}), "wait_limits_min", "default"),
    ("negative wait limit", _set("wait_limits_min.production", -1), "wait_limits_min.production", "> 0"),
    ("version 2", _set("version", 2), "version", "version 1"),
]


@pytest.mark.parametrize("change, key, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_file_is_refused_naming_the_key(tmp_path: Path, default_doc: dict[str, Any], change: Callable,
                                             key: str, words: str) -> None:
    doc = copy.deepcopy(default_doc)
    change(doc)
    path = write(tmp_path, doc)
    with pytest.raises(SlaConfigError) as info:
        config.load(path)
    err = info.value
    assert err.key == key
    assert words in err.problem
    assert str(err).startswith(f"{path}: {key}: ")


def test_zero_lateness_and_grace_are_allowed(tmp_path: Path, default_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(default_doc)
    doc.update(out_of_orderness_s=0, allowed_lateness_s=0, abandon_grace_min=0)
    cfg = config.load(write(tmp_path, doc))
    assert (cfg.out_of_orderness_ms, cfg.allowed_lateness_ms, cfg.abandon_grace_ms) == (0, 0, 0)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(SlaConfigError) as info:
        config.load(p)
    assert info.value.key == "(file)"


def test_invalid_yaml_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("stages: {queue: [\n", encoding="utf-8")
    with pytest.raises(SlaConfigError) as info:
        config.load(p)
    assert info.value.key == "(file)" and "YAML" in info.value.problem


def test_missing_file_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(SlaConfigError) as info:
        config.load(tmp_path / "nope.yaml")
    assert info.value.key == "--sla" and "nope.yaml" in info.value.problem


# --- a custom --sla file changes the limits the rules use ---------------------------------------

def test_custom_file_changes_limits(tmp_path: Path, default_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(default_doc)
    doc["stages"]["intake"]["limit_min"] = 20
    doc["stages"]["intake"]["responsible"] = "police"
    doc["services"]["license_exchange"]["standard_min"] = 90
    doc["wait_limits_min"] = {"default": 15, "production": 5}
    doc["warning_fraction"] = 0.5
    doc["abandon_horizon_h"] = 2
    cfg = config.load(write(tmp_path, doc, "custom.yaml"))
    assert cfg.source.endswith("custom.yaml")
    assert cfg.stage_limit_ms("intake") == 20 * MIN
    assert cfg.responsible("intake") == "police"
    assert cfg.services["license_exchange"].standard_ms == 90 * MIN
    assert cfg.wait_limit_ms("production") == 5 * MIN
    assert cfg.wait_limit_ms("document") == 15 * MIN
    assert cfg.abandon_horizon_ms == 2 * HOUR

    # A ticket run through the rules with it: intake 2 → 33 min, production 43 → 50, document 95.
    tk = Ticket("T1", "license_exchange")
    tk.issue(0)
    tk.stage("intake", 2 * MIN, 33 * MIN, staff="c7")
    tk.stage("production", 43 * MIN, 50 * MIN)
    tk.document(95 * MIN)
    d = Driver(cfg)
    d.deliver(tk.events)
    d.finish_input()
    got = {k: (a["detected_at"] - T0, a["resolved_at"] - T0, a["limit_ms"], a["responsible"], a["cause_stage"])
           for k, a in d.alerts().items()}
    assert got == {
        # queue: t0 + 0.5·30 min = 15 min; never reached (called at 2 min)
        # intake (limit 20, police now): at risk 2 + 10 = 12, overrun 2 + 20 = 22, finished 33
        ("stage_at_risk", "intake", 1): (12 * MIN, 22 * MIN, 20 * MIN, "police", "intake"),
        ("stage_overrun", "intake", 1): (22 * MIN, 33 * MIN, 20 * MIN, "police", "intake"),
        # ticket (standard 90): at risk at 45, overrun at 90, closed at 95.
        # At 45: intake 31 min (excess 11), wait_production [33, 43) 10 min against 5 (excess 5),
        # production in progress since 43 → the largest excess is intake's.
        ("ticket_at_risk", "", 0): (45 * MIN, 90 * MIN, 90 * MIN, "police", "intake"),
        # At 90: intake excess 11 min; trailing wait [50, 90) = 40 min against 15 → excess 25 min.
        ("ticket_overrun", "", 0): (90 * MIN, 95 * MIN, 90 * MIN, "police", "wait_document"),
    }
    assert d.alert("ticket_overrun")["overrun_ms"] == 5 * MIN
    assert d.alert("stage_overrun", "intake")["overrun_ms"] == 11 * MIN


def test_custom_horizon_changes_abandonment_of_unknown_branch(tmp_path: Path, default_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(default_doc)
    doc["abandon_horizon_h"] = 3
    cfg = config.load(write(tmp_path, doc))
    tk = Ticket("T1", "plates_issue", branch="no-such-branch")
    tk.issue(0)
    d = Driver(cfg)
    d.deliver(tk.events)
    d.finish_input()
    row = d.ticket()
    assert row["status"] == "abandoned"
    assert row["finished_at"] == T0 + 3 * HOUR
    assert row["known_branch"] == 0
    assert d.dropped_at == T0 + 3 * HOUR + 60 * SEC + 600 * SEC


def test_warning_offset_is_exact_for_other_fractions(default_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(default_doc)
    doc["warning_fraction"] = 0.7
    cfg = config.from_dict(doc)
    assert cfg.warning_ms(15 * MIN) == 630_000  # 10.5 min (exact either way)
    tk = Ticket("T1", "driver_license")
    tk.issue(0)
    tk.start("practical_exam", 1 * MIN)
    d = Driver(cfg)
    d.deliver(tk.events)
    d.advance(T0 + 2 * HOUR)
    assert d.alert("stage_at_risk", "practical_exam")["detected_at"] == T0 + 1 * MIN + 1_890_000
    assert cfg.warning_ms(45 * MIN) == 1_890_000  # 31.5 min
