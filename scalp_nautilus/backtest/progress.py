"""A progress line on long backtests, from an actor driven by the simulated clock.

`BacktestNode.run()` is one blocking call, so the actor is what reports from inside it: time
alerts at each 1 % of the replayed market-data span (100 alerts whatever the data size) print the
position in the span and the wall time so far, at most once every `every_wall_s` wall seconds, so
short runs print nothing.
"""

from __future__ import annotations

import logging
import time

import pandas as pd

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig

log = logging.getLogger("scalp_nautilus.backtest")

_STEPS = 100


class ProgressActorConfig(ActorConfig, frozen=True):
    start_ns: int  # the market data's span (deltas), not the funding history before it
    end_ns: int
    every_wall_s: float = 5.0


class ProgressActor(Actor):
    def __init__(self, config: ProgressActorConfig) -> None:
        super().__init__(config)
        self._started = 0.0
        self._last = 0.0

    def on_start(self) -> None:
        self._started = self._last = time.perf_counter()
        c = self.config
        now = self.clock.timestamp_ns()
        span = max(c.end_ns - c.start_ns, 1)
        for k in range(1, _STEPS):
            at = c.start_ns + span * k // _STEPS
            if at > now:
                self.clock.set_time_alert(f"progress-{k}", pd.Timestamp(at, tz="UTC"), self._on_step)

    def on_stop(self) -> None:
        """Nothing to release: the alerts end with the run."""

    def _on_step(self, event) -> None:
        wall = time.perf_counter()
        if wall - self._last < self.config.every_wall_s:
            return
        self._last = wall
        c = self.config
        share = (event.ts_event - c.start_ns) / max(c.end_ns - c.start_ns, 1)
        log.info(
            "backtest %3.0f%%  at %s  (%.0f s wall)", 100 * share, pd.Timestamp(event.ts_event, tz="UTC"), wall - self._started
        )
