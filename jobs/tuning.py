"""How the job runs, not what it computes: the answers are the same for any of these values.

Kept apart from the graph (`jobs/pipeline.py`) so that the runner and the command line can hold
them without importing PyFlink.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    #: Buckets the tickets are gathered in (Flink's keys for the ticket operator). More spread
    #: better over many subtasks; fewer make bigger batches. Part of the state layout: a savepoint
    #: restores only into the same count.
    buckets: int = 128
    #: A watermark is emitted whenever event time has moved on this far, besides the periodic one:
    #: in a fast replay this is how often keyed state drains and timers fire. 0: periodic only.
    watermark_step_ms: int = 4 * 3_600_000
    #: How often the watermark is emitted in processing time: alerts reach on-call at most this much
    #: after their deadline has passed the watermark; every watermark costs the ticket operator calls.
    watermark_interval_ms: int = 1000
    #: Keyed state untouched this long (processing time) is forgotten — the branch-minute windows;
    #: 0: kept forever.
    state_ttl_ms: int = 36 * 3_600_000
