"""What every statistical indicator shares: Nautilus's Indicator contract and a reset that
really returns to the initial state."""

from decimal import Decimal

import numpy as np
import pytest

from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.identifiers import InstrumentId

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.indicators import FundingArbDetector
from scalp_nautilus.indicators import HurstExponent
from scalp_nautilus.indicators import LOBFeatureVector
from scalp_nautilus.indicators import OUZScore
from scalp_nautilus.indicators import ParkinsonVolatility
from scalp_nautilus.indicators.settings import OUSettings

S = 1_000_000_000
H8 = 8 * 3_600 * S
IID = InstrumentId.from_str("BTCUSDT-PERP.BINANCE")


def books(n=1_500, seed=0):
    rng = np.random.default_rng(seed)
    mid = 30_000.0
    for i in range(n):
        mid += 0.1 * rng.choice([-1, 0, 0, 1])
        ts = i * S // 4
        yield BookSnapshot(
            mid - 0.05 - 0.1 * np.arange(5),
            rng.uniform(0, 3, 5),
            mid + 0.05 + 0.1 * np.arange(5),
            rng.uniform(0, 3, 5),
            5,
            5,
            ts,
            ts,
        )


def feed_funding(det):
    for i in range(40):
        det.handle_funding(FundingRateUpdate(IID, Decimal(1 + (i % 5)) / 10_000 + Decimal(i == 39) / 1_000, i * H8, i * H8))


CASES = {
    "hurst": (HurstExponent, lambda ind: [ind.handle_book(b) for b in books()], ("value", "defined", "count")),
    "ou": (
        lambda: OUZScore(OUSettings(window=60)),
        lambda ind: [ind.handle_book(b, 0.3) for b in books()],
        ("value", "z", "theta", "mu", "sigma", "fits"),
    ),
    "parkinson": (ParkinsonVolatility, lambda ind: [ind.handle_book(b) for b in books()], ("value", "parkinson", "realized")),
    "lob": (LOBFeatureVector, lambda ind: [ind.handle_book(b) for b in books()], ("value", "raw")),
    "funding": (FundingArbDetector, feed_funding, ("value", "opportunity", "history", "interval_ns")),
}


def outputs(ind, names):
    return [np.array(v).tolist() if isinstance(v := getattr(ind, name), np.ndarray) else v for name in names]


@pytest.mark.parametrize("case", CASES)
def test_indicator_contract_and_reset(case):
    make, feed, names = CASES[case]
    fresh = make()
    assert isinstance(fresh, Indicator)
    assert not fresh.initialized and not fresh.has_inputs
    feed(fresh)
    assert fresh.initialized and fresh.has_inputs
    reused = make()
    feed(reused)
    reused.reset()
    assert not reused.initialized and not reused.has_inputs
    feed(reused)
    assert outputs(reused, names) == outputs(fresh, names)
    assert repr(fresh).startswith(type(fresh).__name__ + "(")
