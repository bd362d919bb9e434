"""How late each book batch is decided, and the lag guard (`LagSettings`, the strategy config's `lag`).

Two clocks per batch, both on the node's clock at the decision (`now`):
- exchange lag = now - the batch's exchange event time (`ts_event`): the venue's publishing,
  the network and the node together. It assumes the exchange's clock and ours agree (NTP: a few
  ms). The replay venue rebases its capture so that, at its recorded pace, each message's event
  time is the wall time it is sent at; a replay run faster than real time has event times ahead
  of the local clock (negative lag), where only the queue below means anything.
- queue = now - the batch's receipt time (`ts_init`, stamped by the data client as it parses the
  message): the backlog inside the node (Nautilus's data queue, the strategy's own work). Measured
  against the replay venue at 100x its pace, this is where a saturated node falls behind (seconds),
  while the exchange time's check alone cannot see it at that pace.

The guard: when the larger of the two passes `max_ms`, entries stop (the strategy counts each
entry it blocks as `lag`); they resume once a batch is decided within `resume_ms` of both clocks
(caught up). Exits and the exchange stop are never blocked: a late book still says where the
position stands. In a backtest both are zero (the clock is the data's).

Statistics: exact percentiles over the last `window` batches (the heartbeat and the metrics) and
over the whole session from a logarithmic histogram (the session report; 5 % resolution).
"""

from __future__ import annotations

import math
from array import array
from collections import deque

import numpy as np

_MS = 1_000_000

# The session histogram: bucket k holds values in [LOW * RATIO**k, LOW * RATIO**(k+1)) ns;
# values below LOW (negative lags included) are counted apart.
_LOW_NS = 1_000.0  # 1 us
_RATIO = 1.05
_LOG_RATIO = math.log(_RATIO)
_BUCKETS = int(math.log(1e12 / _LOW_NS) / _LOG_RATIO) + 1  # up to 1,000 s


class LagHistogram:
    """Counts of lags (ns) in logarithmic buckets; `quantile` returns a bucket's geometric middle."""

    __slots__ = ("below", "counts", "n")

    def __init__(self) -> None:
        self.counts = array("q", bytes(8 * _BUCKETS))
        self.below = 0  # under 1 us, or negative (the exchange clock ahead of ours)
        self.n = 0

    def add(self, ns: int) -> None:
        self.n += 1
        if ns < _LOW_NS:
            self.below += 1
            return
        k = min(int(math.log(ns / _LOW_NS) / _LOG_RATIO), _BUCKETS - 1)
        self.counts[k] += 1

    def quantile(self, q: float) -> float:
        """The q-quantile in ms (0.0 when it falls below 1 us; nan without samples)."""
        if not self.n:
            return math.nan
        rank = q * (self.n - 1)
        seen = self.below
        if rank < seen:
            return 0.0
        for k, c in enumerate(self.counts):
            seen += c
            if rank < seen:
                return _LOW_NS * _RATIO ** (k + 0.5) / _MS
        return _LOW_NS * _RATIO**_BUCKETS / _MS


class LagStats:
    """One clock's lags: the last `window` batches exactly, the session in a histogram."""

    __slots__ = ("recent", "session")

    def __init__(self, window: int) -> None:
        self.recent: deque[int] = deque(maxlen=window)
        self.session = LagHistogram()

    def add(self, ns: int) -> None:
        self.recent.append(ns)
        self.session.add(ns)

    def recent_ms(self, q: float) -> float:
        """The q-quantile of the recent window, in ms (nan without samples; negative allowed)."""
        return self.recent_quantiles_ms((q,))[0]

    def recent_quantiles_ms(self, qs: tuple[float, ...]) -> list[float]:
        """`recent_ms` of each of `qs` from one copy and one partition of the window: the node's
        monitor reads them every second on the event loop, where each copy of the window (2,048
        Python ints) and each quantile delays the book batches queued behind it."""
        if not self.recent:
            return [math.nan] * len(qs)
        values = np.quantile(np.fromiter(self.recent, np.int64, len(self.recent)), qs)
        return [float(v) / _MS for v in values]


class LagGuard:
    """Measures every batch (`observe`) and says when entries must stop or may resume."""

    def __init__(self, max_ms: float, resume_ms: float, window: int) -> None:
        self.max_ns = round(max_ms * _MS)  # 0: measure only
        self.resume_ns = round(resume_ms * _MS)
        self.exchange = LagStats(window)
        self.queue = LagStats(window)
        self.engaged = False
        self.engagements = 0  # times the guard stopped entries
        self.worst_ns = 0  # the largest lag seen (either clock)
        self.last_ns = 0  # the latest batch's lag (the larger clock)

    def observe(self, now_ns: int, ts_event: int, ts_init: int) -> bool | None:
        """One batch decided at `now_ns`: True when the guard engages at it, False when it
        releases, None when nothing changes."""
        exchange, queue = now_ns - ts_event, now_ns - ts_init
        self.exchange.add(exchange)
        self.queue.add(queue)
        lag = exchange if exchange > queue else queue
        self.last_ns = lag
        if lag > self.worst_ns:
            self.worst_ns = lag
        if not self.max_ns:
            return None
        if not self.engaged and lag > self.max_ns:
            self.engaged = True
            self.engagements += 1
            return True
        if self.engaged and lag <= self.resume_ns:
            self.engaged = False
            return False
        return None
