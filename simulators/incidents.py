"""`--incident` specs: a resource of a branch down or degraded for a local time window.

Grammar (one spec per flag, whitespace-separated):

    BRANCH STAGE [YYYY-MM-DD] HH:MM-HH:MM (capacity N | down | slow F)

e.g. ``spec-almaty theory_exam 10:00-12:00 capacity 1`` (every simulated day) or
``ala-almaly intake 2026-11-24 09:00-11:30 down``. `capacity N` sets the number of servers
(N = 0 is the same as `down`); `slow F` multiplies the duration of attempts started in the window
by F (> 1). The window is local time of the branch and may end at 24:00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from simulators.profile import RESOURCE_STAGES

SYNTAX = "BRANCH STAGE [YYYY-MM-DD] HH:MM-HH:MM (capacity N | down | slow F)"
_WINDOW = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")


class IncidentError(ValueError):
    pass


@dataclass(frozen=True)
class Incident:
    branch_id: str
    stage: str
    day: date | None  # None: every simulated day
    start_min: int  # local minute of day, inclusive
    end_min: int  # exclusive
    capacity: int | None  # None: capacity unchanged (slow only)
    slow: float = 1.0
    text: str = ""

    def applies(self, branch_id: str, day: date) -> bool:
        return self.branch_id == branch_id and (self.day is None or self.day == day)


def parse_incident(text: str) -> Incident:
    def bad(problem: str) -> IncidentError:
        return IncidentError(f'bad --incident "{text}": {problem} (expected "{SYNTAX}")')

    parts = text.split()
    if len(parts) < 4:
        raise bad("too few words")
    branch_id, stage, rest = parts[0], parts[1], parts[2:]
    if stage not in RESOURCE_STAGES:
        raise bad(f"unknown stage {stage!r} (one of {', '.join(RESOURCE_STAGES)})")
    day = None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", rest[0]):
        try:
            day = date.fromisoformat(rest[0])
        except ValueError:
            raise bad(f"invalid date {rest[0]!r}") from None
        rest = rest[1:]
    if not rest:
        raise bad("missing time window")
    m = _WINDOW.fullmatch(rest[0])
    if not m:
        raise bad(f"time window {rest[0]!r} is not HH:MM-HH:MM")
    h0, m0, h1, m1 = (int(g) for g in m.groups())
    if h0 > 23 or m0 > 59 or m1 > 59 or h1 > 24 or (h1 == 24 and m1 != 0):
        raise bad(f"time window {rest[0]!r} is not a valid local time range")
    start, end = h0 * 60 + m0, h1 * 60 + m1
    if start >= end:
        raise bad(f"time window {rest[0]!r} ends before it starts")
    effect = rest[1:]
    capacity, slow = None, 1.0
    if effect == ["down"]:
        capacity = 0
    elif len(effect) == 2 and effect[0] == "capacity":
        if not re.fullmatch(r"\d{1,4}", effect[1]):
            raise bad(f"capacity {effect[1]!r} is not a whole number >= 0")
        capacity = int(effect[1])
    elif len(effect) == 2 and effect[0] == "slow":
        try:
            slow = float(effect[1])
        except ValueError:
            raise bad(f"slow factor {effect[1]!r} is not a number") from None
        if not 1.0 < slow <= 20.0:
            raise bad(f"slow factor {effect[1]!r} must be > 1 and <= 20")
    else:
        raise bad("effect must be `capacity N`, `down` or `slow F`")
    return Incident(branch_id, stage, day, start, end, capacity, slow, text)
