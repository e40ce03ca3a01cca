"""The SLA configuration: limits, parties, routes and event-time settings.

Everything DESIGN §2/§4 gives as a default lives in `sla.default.yaml`, never in code. A file
passed with `--sla` is checked completely before anything runs, and a problem is reported with
the key that holds it, because a wrong limit silently changes who gets blamed for a breach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

STAGES = ("queue", "intake", "theory_exam", "practical_exam", "vehicle_inspection", "production", "plates")
EXAM_STAGES = ("theory_exam", "practical_exam")
SERVICES = ("driver_license", "license_exchange", "vehicle_registration", "vehicle_reregistration", "plates_issue")
PARTIES = ("con", "police")
DEFAULT_FILE = "sla.default.yaml"


class SlaConfigError(ValueError):
    """A configuration problem, phrased for the person who wrote the file."""

    def __init__(self, key: str, problem: str, source: str = "") -> None:
        self.key, self.problem, self.source = key, problem, source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem}")


@dataclass(frozen=True)
class StageRule:
    name: str
    responsible: str
    limit_ms: int


@dataclass(frozen=True)
class ServiceRule:
    name: str
    standard_ms: int
    route: tuple[str, ...]


@dataclass(frozen=True)
class SlaConfig:
    """Validated, immutable SLA settings; durations are kept in milliseconds of event time."""

    stages: Mapping[str, StageRule]
    wait_limits_ms: Mapping[str, int]  # per stage, and "document"
    services: Mapping[str, ServiceRule]
    warning_fraction: float
    out_of_orderness_ms: int
    allowed_lateness_ms: int
    abandon_grace_ms: int
    abandon_horizon_ms: int
    heartbeat_interval_ms: int
    source: str = field(default="", compare=False)

    def stage_limit_ms(self, stage: str) -> int:
        return self.stages[stage].limit_ms

    def responsible(self, stage: str) -> str:
        return self.stages[stage].responsible

    def wait_limit_ms(self, stage: str) -> int:
        """Limit of the wait before `stage` (`document` for the wait after the last stage)."""
        return self.wait_limits_ms[stage]

    def warning_ms(self, limit_ms: int) -> int:
        """Offset of the at-risk warning for a limit (0.8 of it by default), rounded down to the ms."""
        return _warning_ms(limit_ms, self.warning_fraction)

    def to_dict(self) -> dict[str, Any]:
        """The configuration in the file's own shape (minutes), e.g. to ship it to a cluster job."""
        return {
            "version": 1,
            "stages": {s.name: {"responsible": s.responsible, "limit_min": s.limit_ms / 60000} for s in self.stages.values()},
            "wait_limits_min": {"default": self.wait_limits_ms["document"] / 60000,
                                **{k: v / 60000 for k, v in self.wait_limits_ms.items()}},
            "services": {
                s.name: {"standard_min": s.standard_ms / 60000, "route": list(s.route)} for s in self.services.values()
            },
            "warning_fraction": self.warning_fraction,
            "out_of_orderness_s": self.out_of_orderness_ms / 1000,
            "allowed_lateness_s": self.allowed_lateness_ms / 1000,
            "abandon_grace_min": self.abandon_grace_ms / 60000,
            "abandon_horizon_h": self.abandon_horizon_ms / 3600000,
            "heartbeat_interval_s": self.heartbeat_interval_ms / 1000,
        }


@lru_cache(maxsize=1024)
def _warning_ms(limit_ms: int, fraction: float) -> int:
    """floor(limit · fraction) computed exactly (decimal fraction, no binary float truncation)."""
    return int(limit_ms * Fraction(str(fraction)))


def default_path() -> Path:
    return Path(str(resources.files("jobs.sla").joinpath(DEFAULT_FILE)))


def load(path: str | Path | None = None) -> SlaConfig:
    """Load and validate an SLA file; None means the shipped defaults."""
    p = Path(path) if path is not None else default_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SlaConfigError("--sla", f"file not found: {p}") from None
    except OSError as exc:
        raise SlaConfigError("--sla", f"cannot read {p}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SlaConfigError("(file)", f"not valid YAML: {exc}", str(p)) from None
    return from_dict(raw, source=str(p))


def from_dict(raw: Any, source: str = "") -> SlaConfig:
    """Validate a parsed SLA document; raises SlaConfigError naming the first bad key."""

    def err(key: str, problem: str) -> SlaConfigError:
        return SlaConfigError(key, problem, source)

    def number(value: Any, key: str, *, positive: bool = True, allow_zero: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise err(key, f"must be a number, got {value!r}")
        if value < 0 or (value == 0 and not allow_zero) or (positive and value < 0):
            raise err(key, f"must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
        return float(value)

    def ms(value: float, unit_ms: int) -> int:
        return int(round(value * unit_ms))

    if not isinstance(raw, dict):
        raise err("(file)", "must be a mapping of settings at the top level")
    known = {
        "version", "stages", "wait_limits_min", "services", "warning_fraction", "out_of_orderness_s",
        "allowed_lateness_s", "abandon_grace_min", "abandon_horizon_h", "heartbeat_interval_s",
    }
    for key in raw:
        if key not in known:
            raise err(str(key), f"unknown setting (known: {', '.join(sorted(known))})")
    if raw.get("version", 1) != 1:
        raise err("version", f"only version 1 is understood, got {raw.get('version')!r}")
    for key in known - {"version"}:
        if key not in raw:
            raise err(key, "is missing")

    stages_raw = raw["stages"]
    if not isinstance(stages_raw, dict):
        raise err("stages", "must be a mapping of stage -> {responsible, limit_min}")
    stages: dict[str, StageRule] = {}
    for name in STAGES:
        if name not in stages_raw:
            raise err(f"stages.{name}", "is missing (every stage needs a limit and a responsible party)")
    for name, rule in stages_raw.items():
        key = f"stages.{name}"
        if name not in STAGES:
            raise err(key, f"unknown stage (known: {', '.join(STAGES)})")
        if not isinstance(rule, dict):
            raise err(key, "must be a mapping with responsible and limit_min")
        for sub in rule:
            if sub not in ("responsible", "limit_min"):
                raise err(f"{key}.{sub}", "unknown setting (known: responsible, limit_min)")
        party = rule.get("responsible")
        if party not in PARTIES:
            raise err(f"{key}.responsible", f"must be one of {', '.join(PARTIES)}, got {party!r}")
        if "limit_min" not in rule:
            raise err(f"{key}.limit_min", "is missing")
        stages[name] = StageRule(name, party, ms(number(rule["limit_min"], f"{key}.limit_min"), 60000))

    waits_raw = raw["wait_limits_min"]
    if not isinstance(waits_raw, dict) or "default" not in waits_raw:
        raise err("wait_limits_min", "must be a mapping with at least `default`")
    default_wait = ms(number(waits_raw["default"], "wait_limits_min.default"), 60000)
    waits = {name: default_wait for name in (*STAGES[1:], "document")}
    for name, value in waits_raw.items():
        if name == "default":
            continue
        if name not in waits:
            raise err(f"wait_limits_min.{name}", f"unknown stage (known: {', '.join(waits)})")
        waits[name] = ms(number(value, f"wait_limits_min.{name}"), 60000)

    services_raw = raw["services"]
    if not isinstance(services_raw, dict):
        raise err("services", "must be a mapping of service -> {standard_min, route}")
    services: dict[str, ServiceRule] = {}
    for name in SERVICES:
        if name not in services_raw:
            raise err(f"services.{name}", "is missing")
    for name, rule in services_raw.items():
        key = f"services.{name}"
        if name not in SERVICES:
            raise err(key, f"unknown service (known: {', '.join(SERVICES)})")
        if not isinstance(rule, dict):
            raise err(key, "must be a mapping with standard_min and route")
        for sub in rule:
            if sub not in ("standard_min", "route"):
                raise err(f"{key}.{sub}", "unknown setting (known: standard_min, route)")
        if "standard_min" not in rule:
            raise err(f"{key}.standard_min", "is missing")
        route = rule.get("route")
        if not isinstance(route, list) or not route:
            raise err(f"{key}.route", "must be a non-empty list of stages")
        if route[0] != "queue":
            raise err(f"{key}.route", "must start with queue")
        for stage in route:
            if stage not in STAGES:
                raise err(f"{key}.route", f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
        if len(set(route)) != len(route):
            raise err(f"{key}.route", "lists a stage twice (a retake is a new attempt, not a route step)")
        if len(route) < 2:
            raise err(f"{key}.route", "needs at least one stage after queue")
        services[name] = ServiceRule(name, ms(number(rule["standard_min"], f"{key}.standard_min"), 60000), tuple(route))

    fraction = number(raw["warning_fraction"], "warning_fraction")
    if not 0 < fraction < 1:
        raise err("warning_fraction", f"must be between 0 and 1 (exclusive), got {fraction!r}")

    return SlaConfig(
        stages=stages,
        wait_limits_ms=waits,
        services=services,
        warning_fraction=fraction,
        out_of_orderness_ms=ms(number(raw["out_of_orderness_s"], "out_of_orderness_s", allow_zero=True), 1000),
        allowed_lateness_ms=ms(number(raw["allowed_lateness_s"], "allowed_lateness_s", allow_zero=True), 1000),
        abandon_grace_ms=ms(number(raw["abandon_grace_min"], "abandon_grace_min", allow_zero=True), 60000),
        abandon_horizon_ms=ms(number(raw["abandon_horizon_h"], "abandon_horizon_h"), 3600000),
        heartbeat_interval_ms=ms(number(raw["heartbeat_interval_s"], "heartbeat_interval_s"), 1000),
        source=source,
    )
