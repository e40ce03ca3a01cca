"""When an unfinished ticket is given up: its branch's closing time that day plus a grace.

Kept apart from the rules because it is the one place that needs the branch catalog (opening
hours in local time); the rules only ever see the resulting instant.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional

from jobs.sla.config import SlaConfig


def abandonment(catalog: Mapping[str, object], cfg: SlaConfig) -> Callable[[str, int], Optional[int]]:
    """(branch_id, anchor ms) -> abandonment instant (ms).

    The branch's closing time on the local date of the anchor plus `abandon_grace`; the anchor plus
    `abandon_horizon` when the branch is unknown, closed that day, or already closed at the anchor.
    """
    grace, horizon = cfg.abandon_grace_ms, cfg.abandon_horizon_ms

    def at(branch_id: str, anchor: int) -> Optional[int]:
        branch = catalog.get(branch_id)
        if branch is not None:
            close = branch.closing_ms(branch.local_date(anchor))  # type: ignore[attr-defined]
            if close is not None and close + grace > anchor:
                return close + grace
        return anchor + horizon

    return at
