"""What the simulated world looks like: load over the day, service mix, resources, durations.

These are world parameters, not SLA configuration: they describe citizens and staff, not the
rules that judge them (those come from the SLA file). They are calibrated so that a national day
(162 connected branches) has roughly 8–15k tickets, most within the standard, with breaches
coming from the morning peak, staff lunch breaks and exam retakes rather than from random draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from schemas.catalog import Branch

# Relative arrival intensity by local time of day (minute of day, factor), linearly interpolated:
# a surge after opening, a late-morning peak, a lunch dip, a smaller afternoon bump, a quiet evening.
DAY_PROFILE: tuple[tuple[int, float], ...] = (
    (8 * 60, 0.7), (9 * 60, 1.3), (10 * 60, 1.55), (11 * 60, 1.4), (12 * 60, 1.1), (13 * 60, 0.65),
    (14 * 60, 0.95), (15 * 60, 1.1), (16 * 60, 0.95), (17 * 60, 0.8), (18 * 60, 0.6), (19 * 60, 0.45),
    (20 * 60, 0.35),
)
# Monday is the busiest day, Friday and Saturday lighter (index = date.weekday()).
WEEKDAY_FACTOR: tuple[float, ...] = (1.2, 1.05, 1.0, 1.0, 0.9, 0.8, 0.6)

# Tickets (of these services) per open hour per catalog window at profile 1.0.
TICKETS_PER_WINDOW_HOUR = {"specialized": 1.6, "regional": 0.9, "general": 0.55}

# Service mix by kind of branch. A service is dropped where a stage of its route has no capacity.
SERVICE_MIX = {
    "specialized": {"driver_license": 0.32, "license_exchange": 0.22, "vehicle_registration": 0.20,
                    "vehicle_reregistration": 0.16, "plates_issue": 0.10},
    # general CONs of regional centers that also have an exam hall, examiners and inspectors
    "regional": {"driver_license": 0.16, "license_exchange": 0.46, "vehicle_registration": 0.12,
                 "vehicle_reregistration": 0.16, "plates_issue": 0.10},
    "general": {"driver_license": 0.0, "license_exchange": 0.84, "vehicle_registration": 0.0,
                "vehicle_reregistration": 0.0, "plates_issue": 0.16},
}
# No new ticket for a service this many minutes before closing (exams cannot finish in time).
LAST_TICKET_BEFORE_CLOSING_MIN = {"driver_license": 90, "license_exchange": 20, "vehicle_registration": 60,
                                  "vehicle_reregistration": 50, "plates_issue": 15}

# Stage durations: lognormal with this median (minutes) and sigma; per service where it differs.
DURATION = {
    "intake": {"driver_license": (9.0, 0.35), "license_exchange": (6.0, 0.35), "vehicle_registration": (10.0, 0.35),
               "vehicle_reregistration": (9.0, 0.35), "plates_issue": (5.0, 0.35)},
    "theory_exam": {"*": (24.0, 0.18)},
    "practical_exam": {"*": (20.0, 0.22)},
    "vehicle_inspection": {"*": (14.0, 0.35)},
    "production": {"driver_license": (10.0, 0.35), "license_exchange": (10.0, 0.35),
                   "vehicle_registration": (14.0, 0.35), "vehicle_reregistration": (14.0, 0.35)},
    "plates": {"*": (6.0, 0.4)},
}

# Movements (gamma: shape, mean seconds): to the window when called, between stages, document hand-over.
WALK_TO_WINDOW = (3.0, 45.0)
WALK_BETWEEN_STAGES = (2.0, 90.0)
DOCUMENT_HANDOVER = (2.0, 100.0)
CANCEL_DELAY_S = (20.0, 150.0)  # uniform

# Citizens' patience in the intake queue (lognormal median minutes, sigma): who waits longer leaves.
QUEUE_PATIENCE = (75.0, 0.45)
DOCUMENTS_INCOMPLETE = 0.03  # intake ends in ticket_cancelled
EXAM_FAIL = {"theory_exam": (0.24, 0.20), "practical_exam": (0.20, 0.16)}  # (first attempt, retake)
AFTER_FIRST_FAIL = (0.50, 0.35, 0.15)  # retake, cancel, walk away
AFTER_SECOND_FAIL = (0.0, 0.75, 0.25)
RETAKE_COOLDOWN = (2.0, 480.0)  # gamma (shape, mean seconds): re-registering for the retake

# Staff stay after closing: intake calls the queue this long, police stages start this long.
INTAKE_OVERTIME_MIN = 20
POLICE_OVERTIME_MIN = 45
# Staggered lunch breaks (local time): capacity drops by this fraction where it is large enough.
LUNCH = (13 * 60, 14 * 60)
LUNCH_SHARE = {"intake": (3, 1 / 3), "practical_exam": (4, 1 / 4)}  # (min capacity, share on break)

RATING_SHARE = 0.30
RATING_DELAY_S = (60.0, 480.0)  # uniform, capped by out_of_orderness + allowed_lateness
RATING_WEIGHTS = {"ok": (0.07, 0.04, 0.10, 0.22, 0.57), "breached": (0.22, 0.14, 0.24, 0.22, 0.18)}
SERVICE_REPEAT_SHARE = 0.15  # later events that repeat the ticket's service
STAFF_ON_FINISH_SHARE = 0.30  # stage_finished that repeats the staff_id of its start

# Staff id role codes: CON operators and police examiners / inspectors / production / plates officers.
ROLE = {"intake": "op", "theory_exam": "ex", "practical_exam": "ex", "vehicle_inspection": "in",
        "production": "pd", "plates": "pl"}
RESOURCE_STAGES = tuple(ROLE)


@dataclass(frozen=True)
class BranchProfile:
    kind: str  # specialized | regional | general
    tickets_per_hour: float
    capacity: dict  # stage -> servers
    service_mix: dict  # service -> weight (> 0 only)


def branch_kind(branch: Branch) -> str:
    if branch.specialized:
        return "specialized"
    if branch.exam_seats and branch.examiners and branch.inspectors:
        return "regional"
    return "general"


def branch_profile(branch: Branch, routes: dict) -> BranchProfile:
    """Resources and demand of one branch, derived from its catalog row.

    General CONs serve many other public services: only some of their windows take licence and
    vehicle tickets. Production and plates desks are not in the catalog; they scale with the branch.
    """
    kind = branch_kind(branch)
    if kind == "specialized":
        intake = max(4, branch.windows // 2)
        production = max(4, branch.windows // 2)
        plates = 2
    elif kind == "regional":
        intake = max(2, branch.windows // 4)
        production = max(3, intake * 3 // 2)
        plates = 1
    else:
        intake = max(1, branch.windows // 6)
        production = max(2, intake * 3 // 2)
        plates = 1
    capacity = {
        "intake": intake,
        "theory_exam": branch.exam_seats,
        "practical_exam": branch.examiners,
        "vehicle_inspection": branch.inspectors,
        "production": production,
        "plates": plates,
    }
    mix = {}
    for service, weight in SERVICE_MIX[kind].items():
        route = routes.get(service)
        if weight > 0 and route and all(capacity.get(s, 1) > 0 for s in route[1:]):
            mix[service] = weight
    return BranchProfile(kind, TICKETS_PER_WINDOW_HOUR[kind] * branch.windows, capacity, mix)


def day_factor(minute_of_day: float) -> float:
    """Arrival intensity factor at a local minute of day."""
    pts = DAY_PROFILE
    if minute_of_day <= pts[0][0]:
        return pts[0][1]
    for (m0, f0), (m1, f1) in zip(pts, pts[1:]):
        if minute_of_day < m1:
            return f0 + (f1 - f0) * (minute_of_day - m0) / (m1 - m0)
    return pts[-1][1]


def lognormal_params(median_min: float, sigma: float) -> tuple[float, float]:
    """(mu, sigma) of a lognormal in milliseconds with the given median in minutes."""
    return math.log(median_min * 60_000), sigma
