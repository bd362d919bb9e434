"""Load the numba kernels before the data flows.

Every `@njit(cache=True)` kernel loads its machine code from numba's cache (or compiles it) on its
first call in the process: about 0.4 s in all, which would land on the live node's first book
batch. `warm_kernels` pays it in `on_start` instead, by running a throwaway pipeline (small windows,
no LSTM model) over two synthetic minutes through the very code paths the strategy uses, so each
kernel meets the argument types it will meet live. Its logging is dropped meanwhile (the records
this thread logs through the pipeline's loggers): the synthetic book says nothing about the market.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.features import FeaturePipeline
from scalp_nautilus.indicators import VPIN
from scalp_nautilus.indicators import CumulativeVolumeDelta
from scalp_nautilus.indicators import HurstExponent
from scalp_nautilus.indicators import LiquidityMetrics
from scalp_nautilus.indicators import LOBFeatureVector
from scalp_nautilus.indicators import OrderFlowImbalance
from scalp_nautilus.indicators import OUZScore
from scalp_nautilus.indicators import ParkinsonVolatility
from scalp_nautilus.indicators.settings import CVDSettings
from scalp_nautilus.indicators.settings import HurstSettings
from scalp_nautilus.indicators.settings import LiquiditySettings
from scalp_nautilus.indicators.settings import LOBSettings
from scalp_nautilus.indicators.settings import OFISettings
from scalp_nautilus.indicators.settings import OUSettings
from scalp_nautilus.indicators.settings import ParkinsonSettings
from scalp_nautilus.indicators.settings import VPINSettings
from scalp_nautilus.units import NS_PER_S

_SECONDS = 120  # enough 1 s samples to fill the smallest windows below (Hurst: 64)
# The loggers the throwaway pipeline logs through (each name covers its sub-modules).
_PIPELINE_LOGGERS = ("scalp_nautilus.book", "scalp_nautilus.features", "scalp_nautilus.indicators", "scalp_nautilus.models")


class _SilenceThisThread(logging.Filter):
    """Drops the records the current thread logs through `prefixes` (and their sub-loggers) until
    `remove`: the warm-up's own, not another thread's, and no other logger's (`logging.disable`
    would silence the whole process)."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        names = [n for n in logging.root.manager.loggerDict if n.startswith(prefixes)]
        self.loggers = [logging.getLogger(n) for n in {*prefixes, *names}]
        for logger in self.loggers:
            logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread

    def remove(self) -> None:
        for logger in self.loggers:
            logger.removeFilter(self)


def warm_kernels(builder: BookSnapshotBuilder) -> None:
    """Run every kernel once; `builder` is not touched (a copy of its settings is used)."""
    pipeline = FeaturePipeline(
        vpin=VPIN(VPINSettings(volume_per_hour=10.0, window_minutes=60.0, n_buckets=2)),
        ofi=OrderFlowImbalance(OFISettings(zscore_window=3)),
        cvd=CumulativeVolumeDelta(CVDSettings(window=4, zscore_window=3)),
        liquidity=LiquidityMetrics(LiquiditySettings(ewma_alpha=0.5, lambda_window=4, lambda_min_points=3)),
        hurst=HurstExponent(HurstSettings(window=64)),
        ou=OUZScore(OUSettings(window=8, min_points=4, refit_every=1)),
        parkinson=ParkinsonVolatility(ParkinsonSettings(window=2)),
        lob=LOBFeatureVector(LOBSettings(zscore_window=3)),
    )
    local = BookSnapshotBuilder(
        depth=builder.depth,
        price_precision=builder.price_precision,
        size_precision=builder.size_precision,
        tick_size=builder.tick_size,
        inverse=builder.inverse,
        multiplier=builder.multiplier,
    )
    rng = np.random.default_rng(0)
    tick = builder.tick_size
    mid = 1000.0 * tick + 0.5 * tick
    silenced = _SilenceThisThread(_PIPELINE_LOGGERS)
    try:
        for i in range(_SECONDS):
            mid += tick * int(rng.integers(-2, 3))
            sizes = rng.uniform(1.0, 3.0, 2 * builder.depth)
            bids = [(mid - (k + 0.5) * tick, sizes[k]) for k in range(builder.depth)]
            asks = [(mid + (k + 0.5) * tick, sizes[builder.depth + k]) for k in range(builder.depth)]
            pipeline.on_book(local.from_levels(bids, asks, ts_event=i * NS_PER_S))
            pipeline.on_trade(mid + tick * 0.5 * (1 if i % 2 else -1), 1.0, 1 if i % 3 else -1, i * NS_PER_S + 1)
        pipeline.funding.update_raw(1e-4, _SECONDS * NS_PER_S)  # the funding detector's z-score (Python, event-driven)
    finally:
        silenced.remove()
