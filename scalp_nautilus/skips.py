"""Counted, logged-once skips: the one way features deal with unusable input.

Bad data (an empty or crossed book, a NaN size, a trade before any quote) must never crash a
feature nor turn into a silent wrong number. Each place that refuses an input records the reason
here; the first occurrence of each reason is logged, the rest only counted, so a feed that is bad
all day cannot flood the log.
"""

from __future__ import annotations

import logging


class SkipCounter:
    """Per-reason counts of refused inputs for one owner (an indicator, the builder, the pipeline)."""

    __slots__ = ("owner", "counts", "_log")

    def __init__(self, owner: str, logger: logging.Logger) -> None:
        self.owner = owner
        self.counts: dict[str, int] = {}
        self._log = logger

    def __call__(self, reason: str, detail: object = "", count: int = 1) -> None:
        n = self.counts.get(reason, 0)
        self.counts[reason] = n + count
        if n == 0:
            self._log.warning(
                "%s: %s %s(counted; further ones are not logged)", self.owner, reason, f"[{detail}] " if detail != "" else ""
            )

    def sync(self, counters, reasons: dict[int, str]) -> None:
        """Take the counts a compiled update keeps in `counters` (slot -> count, named by
        `reasons`), logging each reason the first time it is counted, as a call would have."""
        for slot, reason in reasons.items():
            count = int(counters[slot])
            if count != self.counts.get(reason, 0):
                self(reason, count=count - self.counts.get(reason, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def clear(self) -> None:
        self.counts.clear()
