"""ParkinsonVolatility: unbiasedness and efficiency on driftless GBM with exact continuous extremes,
the downward bias of discretely observed ranges, bars built from event-time mids, stops, bad input."""

import math

import numpy as np
import pytest

from nautilus_trader.model.enums import OrderSide

from scalp_nautilus.indicators import ParkinsonVolatility
from scalp_nautilus.indicators.settings import ParkinsonSettings
from tests.support.capture_book import replay_snapshots

S = 1_000_000_000
N = 60  # bars per window (the default)


def gbm_bars(sigma, bars, steps, seed, observed_every=None):
    """Bars of a driftless GBM (d ln P = -sigma^2/2 dt + sigma dW, sigma per bar), `steps` per bar.

    Extremes are exact for the continuous path: between two steps the log price is a Brownian
    bridge, whose maximum is (a + b + sqrt((b - a)^2 - 2 v ln U)) / 2 (v the step variance).
    With `observed_every`, only every that-many-th step is seen (a discretely updated mid) and the
    extremes are those of the observed points, open included.
    """
    rng = np.random.default_rng(seed)
    v = sigma * sigma / steps
    inc = rng.normal(-v / 2, math.sqrt(v), (bars, steps))
    path = np.cumsum(inc.ravel()).reshape(bars, steps)
    start = np.concatenate([[0.0], path[:-1, -1]])  # each bar opens at the previous close
    ends = path
    if observed_every is None:
        begins = np.column_stack([start, path[:, :-1]])
        spread = np.sqrt((ends - begins) ** 2 - 2 * v * np.log(rng.random((bars, steps))))
        high = ((begins + ends + spread) / 2).max(axis=1)
        spread = np.sqrt((ends - begins) ** 2 - 2 * v * np.log(rng.random((bars, steps))))
        low = ((begins + ends - spread) / 2).min(axis=1)
    else:
        seen = np.column_stack([start, path[:, observed_every - 1 :: observed_every]])
        high, low = seen.max(axis=1), seen.min(axis=1)
    return np.exp(high), np.exp(low), np.exp(path[:, -1])


def window_estimates(high, low, close, **kwargs):
    """Feed bars in order; read (parkinson^2, realized^2, blend) at the end of every N-bar window."""
    ind = ParkinsonVolatility(ParkinsonSettings(window=N, **kwargs))
    out = []
    for i, (h, lo, c) in enumerate(zip(high, low, close)):
        ind.update_raw(float(h), float(lo), float(c))
        if i % N == N - 1 and ind.initialized:
            out.append((ind.parkinson**2, ind.realized**2, ind.value))
    return np.array(out)


def test_unbiased_and_about_five_times_as_efficient():
    sigma, windows = 1e-3, 1_000
    est = window_estimates(*gbm_bars(sigma, N * windows + 1, 50, seed=1))
    park, rv = est[:, 0] / sigma**2, est[:, 1] / sigma**2
    # Var of one window's variance estimate: 0.407 sigma^4 / n (Parkinson), 2 sigma^4 / n (close-to-close)
    assert abs(park.mean() - 1) < 4 * math.sqrt(0.407 / (N * len(park)))
    assert abs(rv.mean() - 1) < 4 * math.sqrt(2.0 / (N * len(rv)))
    assert park.var() == pytest.approx(0.407 / N, rel=0.2)
    efficiency = rv.var() / park.var()
    assert 4.0 < efficiency < 6.0  # theory 2 / 0.407 = 4.91
    assert np.allclose(est[:, 2], 0.5 * np.sqrt(est[:, 0]) + 0.5 * np.sqrt(est[:, 1]))


def test_discretely_observed_range_reads_low():
    sigma, windows = 1e-3, 300
    bias = {}
    for every in (1, 4, 16):  # 64, 16 and 4 observations of the mid per bar
        est = window_estimates(*gbm_bars(sigma, N * windows + 1, 64, seed=2, observed_every=every))
        bias[64 // every] = est[:, 0].mean() / sigma**2 - 1
    se = math.sqrt(0.407 / (N * windows))
    assert bias[4] < bias[16] < bias[64] < -4 * se
    # Broadie-Glasserman-Kou: each observed extreme falls short by about 0.5826 sigma sqrt(dt), so
    # the range R by d = 1.165 sigma / sqrt(k); with E[R] = sqrt(8 / pi) sigma, E[R^2] = 4 ln 2 sigma^2,
    # E[(R - d)^2] / E[R^2] - 1 predicts the bias (first order in 1/sqrt(k): not at k = 4)
    for k in (16, 64):
        d = 1.165 / math.sqrt(k)
        expected = (4 * math.log(2) - 2 * d * math.sqrt(8 / math.pi) + d * d) / (4 * math.log(2)) - 1
        assert bias[k] == pytest.approx(expected, abs=0.04)


def numpy_mid_bars(times_ns, mids):
    """Oracle for the bar rule: second-long bars, opening at the previous close, silent seconds flat."""
    seconds = times_ns // S
    bars = []
    close = None
    for sec in range(seconds[0], seconds[-1]):  # the last second is still open
        inside = mids[seconds == sec]
        points = ([close] if close is not None else []) + list(inside)
        bars.append((max(points), min(points), points[-1]))
        close = points[-1]
    return np.array(bars)


def test_event_time_mids_against_numpy_bars():
    rng = np.random.default_rng(3)
    times = np.sort(rng.integers(0, 200 * S, 3_000))
    times = times[(times // S) % 37 != 5]  # a few silent seconds, carried as flat bars
    mids = 30_000 * np.exp(np.cumsum(rng.normal(0, 2e-5, len(times))))
    ind = ParkinsonVolatility()
    for t, m in zip(times, mids):
        ind.update_mid(float(m), int(t))
    bars = numpy_mid_bars(times, mids)
    assert ind.bars.closed == len(bars) and ind.bars.carried > 0
    h, lo, c = bars[-N:, 0], bars[-N:, 1], bars[-N:, 2]
    returns = np.diff(np.log(bars[-N - 1 :, 2]))
    assert ind.parkinson == pytest.approx(math.sqrt(np.sum(np.log(h / lo) ** 2) / (4 * N * math.log(2))), rel=1e-12)
    assert ind.realized == pytest.approx(math.sqrt(np.mean(returns**2)), rel=1e-12)
    assert c[-1] == mids[times // S < times[-1] // S][-1]


@pytest.mark.real_data
def test_real_mid_sits_near_the_one_jump_limit(capture_paths):
    snaps = [s for s in replay_snapshots(tuple(capture_paths("usdm_2023_04")), every=8) if s.is_valid]
    ind = ParkinsonVolatility(ParkinsonSettings(window=400))
    for snap in snaps:
        ind.handle_book(snap)
    times = np.array([s.ts_event for s in snaps])
    bars = numpy_mid_bars(times, np.array([s.mid for s in snaps]))[-401:]
    park = math.sqrt(np.sum(np.log(bars[1:, 0] / bars[1:, 1]) ** 2) / (4 * 400 * math.log(2)))
    realized = math.sqrt(np.mean(np.diff(np.log(bars[:, 2])) ** 2))
    assert (ind.parkinson, ind.realized) == pytest.approx((park, realized), rel=1e-12)
    # tick-sized jumps, mostly one a bar: range^2 = return^2, so the ratio nears 1 / sqrt(4 ln 2) = 0.60
    assert 0.55 < park / realized < 0.7


def test_stop_price_hand_worked():
    ind = ParkinsonVolatility(ParkinsonSettings(weight_parkinson=1.0, weight_realized=3.0))
    for _ in range(N + 1):
        ind.update_raw(101.0, 99.0, 100.0)
    # flat closes: realized 0; every bar ln(101/99) = 0.0200007 -> Parkinson 0.0200007 / sqrt(4 ln 2) = 0.0120117
    assert ind.realized == 0.0
    assert ind.parkinson == pytest.approx(0.0120117, rel=1e-5)
    assert ind.value == pytest.approx(0.25 * 0.0120117, rel=1e-5)  # weights 1:3 normalised
    # long from 100 with k = 2: 100 - 2 * 100 * 0.00300293 = 99.39941; short mirrors it
    assert ind.stop_price(100.0, OrderSide.BUY, 2.0) == pytest.approx(99.39941, rel=1e-6)
    assert ind.stop_price(100.0, OrderSide.SELL, 2.0) == pytest.approx(100.60059, rel=1e-6)
    assert ind.stop_price(100.0, OrderSide.BUY, k=1.0) == pytest.approx(99.699707, rel=1e-6)
    with pytest.raises(ValueError):
        ind.stop_price(100.0, OrderSide.NO_ORDER_SIDE, 2.0)
    with pytest.raises(ValueError):
        ind.stop_price(math.nan, OrderSide.BUY, 2.0)


def test_warmup_constant_prices_and_bad_bars():
    ind = ParkinsonVolatility()
    with pytest.raises(ValueError):
        ind.stop_price(100.0, OrderSide.BUY, 2.0)  # nothing to size a stop with yet
    for _ in range(N + 1):
        assert not ind.initialized
        ind.update_raw(100.0, 100.0, 100.0)
        for bad in (
            (math.nan, 100.0, 100.0),
            (100.0, 0.0, 100.0),
            (99.0, 101.0, 100.0),
            (100.0, -1.0, 50.0),
            (math.inf, 100.0, 100.0),
            (101.0, 99.0, 102.0),
        ):
            ind.update_raw(*bad)
    assert ind.initialized
    assert (ind.parkinson, ind.realized, ind.value) == (0.0, 0.0, 0.0)
    assert ind.skips.total == 6 * (N + 1)  # through SkipCounter (issue 22)
    assert ind.stop_price(100.0, OrderSide.BUY, 2.0) == 100.0
    for kwargs in ({"window": 1}, {"weight_parkinson": 0.0, "weight_realized": 0.0}, {"weight_parkinson": -1.0}):
        with pytest.raises(ValueError):
            ParkinsonVolatility(ParkinsonSettings(**kwargs))


def test_outage_restarts_the_windows():
    ind = ParkinsonVolatility(max_carry=10)
    rng = np.random.default_rng(4)
    for i in range(2 * N):
        ind.update_mid(float(100 * math.exp(rng.normal(0, 1e-3))), i * S)
    assert ind.initialized
    ind.update_mid(100.0, 500 * S)
    assert ind.bars.gaps == 1 and not ind.initialized and ind.value == 0.0
