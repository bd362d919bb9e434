"""`threshold_mode: quantile` for VPIN and the microstructure regime: the bounds in use are numpy's
quantiles of the indicator's own recent values (collected here independently), the fixed bounds
hold until the history is long enough, warm state round-trips, the config keys decode and are
checked, and on a real capture the quantile gates bind where the fixed ones never do."""

from __future__ import annotations

import numpy as np
import pytest

from scalp_nautilus.config import ConfigError
from scalp_nautilus.config import decode
from scalp_nautilus.indicators import VPIN
from scalp_nautilus.indicators import MicrostructureRegime
from scalp_nautilus.indicators.regime import AxisState
from scalp_nautilus.indicators.rolling_quantile import RollingQuantiles
from scalp_nautilus.indicators.settings import RegimeSettings
from scalp_nautilus.indicators.settings import VPINSettings
from scalp_nautilus.indicators.vpin import VPINRegime
from scalp_nautilus.strategy.settings import ScalpStrategyConfig
from scalp_nautilus.strategy.settings import build_pipeline
from tests.support.captures import replay

S = 1_000_000_000


def test_rolling_quantiles_against_numpy():
    q = RollingQuantiles(window=50, levels=(0.1, 0.5, 0.9), min_count=10)
    values = np.random.default_rng(0).normal(size=200)
    for i, v in enumerate(values):
        q.add(v)
        assert q.ready == (i + 1 >= 10)
        held = values[max(0, i - 49) : i + 1]
        np.testing.assert_array_equal(q.history(), held)
        np.testing.assert_allclose(q.quantiles(), np.quantile(held, [0.1, 0.5, 0.9]), rtol=0, atol=0)
    with pytest.raises(ValueError, match="increasing"):
        RollingQuantiles(10, (0.5, 0.2))
    with pytest.raises(ValueError, match="min_count"):
        RollingQuantiles(10, (0.5,), min_count=11)


def test_vpin_quantile_bounds_are_numpy_quantiles_of_its_own_history():
    rng = np.random.default_rng(3)
    levels, history, minimum = (0.5, 0.75, 0.95), 40, 10
    settings = VPINSettings(
        volume_per_hour=100.0,
        window_minutes=60.0,
        n_buckets=10,
        threshold_mode="quantile",
        threshold_quantiles=levels,
        quantile_history=history,
        quantile_min=minimum,
    )
    vpin = VPIN(settings)
    fixed = VPIN(VPINSettings(volume_per_hour=100.0, window_minutes=60.0, n_buckets=10))
    seen = []  # VPIN after each trade that completed a bucket, once initialized (independent bookkeeping)
    regimes = []
    for _ in range(3000):
        size, side = float(rng.exponential(3.0)), int(rng.choice([-1, 1], p=[0.3, 0.7]))
        before, was_warm = vpin.completed, vpin.initialized
        vpin.update_raw(size, side)
        fixed.update_raw(size, side)
        if vpin.completed > before and was_warm:
            seen.append(vpin.value)
        held = seen[-history:]
        expected = tuple(np.quantile(held, levels)) if len(held) >= minimum else (0.3, 0.5, 0.7)
        assert vpin.thresholds == pytest.approx(expected, abs=0)
        low, medium, high = expected
        v = vpin.value
        regime = 0 if v < low else 1 if v < medium else 2 if v <= high else 3
        assert vpin.regime == regime and vpin.multiplier == (1.0, 0.5, 0.25, 0.0)[regime]
        assert fixed.value == vpin.value  # the mode changes the bounds only
        regimes.append(regime)
    # with buys at 70 % VPIN sits near 0.4-0.6: the fixed bounds call it MEDIUM/HIGH, the quantile
    # ones spread it over all four regimes, EXTREME about 5 % of the time
    share = np.bincount(regimes[500:], minlength=4) / len(regimes[500:])
    assert (share > 0.02).all() and 0.01 < share[3] < 0.15
    # warm state round trip (the history is part of it)
    copy = VPIN(settings)
    copy.restore(vpin.state())
    for _ in range(200):
        size, side = float(rng.exponential(3.0)), int(rng.choice([-1, 1]))
        assert copy.update_raw(size, side) == vpin.update_raw(size, side)
        assert copy.thresholds == vpin.thresholds and copy.regime == vpin.regime
    with pytest.raises(ValueError, match="threshold_mode"):
        VPIN(VPINSettings(volume_per_hour=100.0, window_minutes=60.0, threshold_mode="rolling"))


def test_regime_quantile_bounds_sampled_once_a_second():
    rng = np.random.default_rng(9)
    regime = MicrostructureRegime(
        RegimeSettings(
            threshold_mode="quantile", quantiles=(0.2, 0.8), quantile_history=30, quantile_min=5, quantile_sample_s=S / 1e9
        )
    )
    samples = {"spread": [], "depth": [], "activity": []}
    next_sample, t = 0, 0
    for _ in range(4000):
        t += int(rng.exponential(0.05) * S)
        spread, depth = float(rng.choice([0.5, 1.0, 1.5, 3.0])), float(rng.lognormal(12, 0.5))
        regime.update_raw(t, spread, depth)
        if t >= next_sample:
            next_sample = t + S
            if t >= 5 * S:  # after the first activity window (regime's first update at t > 0)
                samples["spread"].append(spread)
                samples["depth"].append(depth)
                samples["activity"].append(regime.activity_rate)
        if len(samples["spread"]) >= 5:
            sq = np.quantile(samples["spread"][-30:], [0.2, 0.8])
            dq = np.quantile(samples["depth"][-30:], [0.2, 0.8])
            aq = np.quantile(samples["activity"][-30:], [0.2, 0.8])
            assert (regime.spread_tight_bps, regime.spread_wide_bps) == tuple(sq)
            assert (regime.depth_thin, regime.depth_thick) == tuple(dq)
            assert (regime.activity_quiet, regime.activity_active) == tuple(aq)
            good = spread < sq[0]
            poor = spread > sq[1]
            assert regime.spread_state == (AxisState.GOOD if good else AxisState.POOR if poor else AxisState.NORMAL)
        else:
            assert regime.spread_tight_bps == 5.0 and regime.depth_thick == 100_000.0
    # the fixed-mode indicator's parameters are unchanged by the new keys (saved states stay valid)
    assert "quantile" not in repr(MicrostructureRegime(RegimeSettings(threshold_mode="fixed")))
    assert "quantile" in repr(regime)


def _config(**changes) -> dict:
    raw = {"instrument_id": "BTCUSDT-PERP.BINANCE", "vpin": {"volume_per_hour": 10_000.0}, "orders": {"base_size": 0.01}}
    for key, value in changes.items():
        raw[key] = {**raw.get(key, {}), **value}
    return raw


def test_config_keys_decode_and_are_checked():
    cfg = decode(
        _config(
            vpin={"threshold_mode": "quantile", "threshold_quantiles": [0.4, 0.7, 0.9]},
            regime={"threshold_mode": "quantile", "quantiles": [0.1, 0.9]},
        ),
        ScalpStrategyConfig,
        "s.yaml",
    )
    pipeline = build_pipeline(cfg)
    assert pipeline.vpin.threshold_mode == "quantile" and pipeline.vpin.threshold_quantiles == (0.4, 0.7, 0.9)
    assert pipeline.regime.threshold_mode == "quantile" and pipeline.regime.quantiles == (0.1, 0.9)
    with pytest.raises(ConfigError, match=r"s.yaml.*vpin.threshold_mode"):
        decode(_config(vpin={"threshold_mode": "rolling"}), ScalpStrategyConfig, "s.yaml")
    with pytest.raises(ConfigError, match="threshold_quantiles"):
        decode(_config(vpin={"threshold_quantiles": [0.9, 0.5, 0.95]}), ScalpStrategyConfig, "s.yaml")
    with pytest.raises(ConfigError, match=r"regime\.quantiles"):
        decode(_config(regime={"quantiles": [0.8, 0.2]}), ScalpStrategyConfig, "s.yaml")


@pytest.mark.real_data
@pytest.mark.slow
def test_quantile_gates_bind_on_a_real_capture(capture):
    """Over each real capture the fixed VPIN bounds leave LOW empty or nearly so and the regime
    multiplier at one value; in quantile mode the same rows spread over the regimes."""
    volume = capture.volume_per_second() * 3600
    counts = {}
    for mode in ("fixed", "quantile"):
        cfg = decode(
            _config(
                vpin={"volume_per_hour": volume, "window_minutes": 1.0, "threshold_mode": mode}, regime={"threshold_mode": mode}
            ),
            ScalpStrategyConfig,
            "test",
        )
        pipeline = build_pipeline(cfg)
        regimes, multipliers, spread_states, one_tick = [], [], [], []
        for kind, item, _ in replay(capture):
            if kind == "book":
                row = pipeline.on_book(item)
                if row.warm:
                    regimes.append(row.vpin_regime)
                    multipliers.append(row.regime_multiplier)
                    spread_states.append(row.spread_state)
                    one_tick.append(abs(item.spread - item.tick_size) < 0.5 * item.tick_size)
            else:
                pipeline.on_trade_tick(item)
        states, at_one_tick = np.array(spread_states), np.array(one_tick)
        counts[mode] = (
            np.bincount(regimes, minlength=4) / len(regimes),
            len(set(np.round(multipliers, 6))),
            np.bincount(states, minlength=3) / len(states),
        )
        # one tick is the tightest spread there is: TIGHT in either mode (the bps quantiles split it
        # by price level into all three labels before the spread was read in ticks)
        assert (states[at_one_tick] == AxisState.GOOD).all()
    fixed, quantile = counts["fixed"], counts["quantile"]
    print(
        f"\n{capture.name}: VPIN regime shares fixed {np.round(fixed[0], 3)}, quantile {np.round(quantile[0], 3)}; "
        f"distinct regime multipliers fixed {fixed[1]}, quantile {quantile[1]}; spread tight/normal/wide "
        f"quantile {np.round(quantile[2], 4)}, one tick on {at_one_tick.mean():.4f} of the warm rows"
    )
    assert fixed[0][VPINRegime.LOW] < 0.05
    assert quantile[0][VPINRegime.LOW] > 0.2 and quantile[0][VPINRegime.EXTREME] > 0.0
    assert fixed[1] == 1 and quantile[1] >= 3


def test_features_plot_bounds_draw_vpin_lines_only_in_fixed_mode():
    """In quantile mode VPIN's bounds move: the report gives the plot no fixed VPIN lines (the
    Hurst bounds stay); in fixed mode the lines are the configured thresholds."""
    from scalp_nautilus.config import decode
    from scalp_nautilus.config import read_yaml
    from scalp_nautilus.strategy import ScalpStrategy
    from scalp_nautilus.strategy import ScalpStrategyConfig
    from tests.support.shared_data import PROJECT_ROOT

    def bounds(mode: str) -> dict:
        raw = read_yaml(PROJECT_ROOT / "configs" / "strategy.yaml")
        raw["vpin"] = {**raw["vpin"], "threshold_mode": mode, "thresholds": [0.3, 0.5, 0.7]}
        config = decode({**raw, "instrument_id": "BTCUSDT-PERP.BINANCE"}, ScalpStrategyConfig, "test")
        return ScalpStrategy(config)._bounds()

    fixed, quantile = bounds("fixed"), bounds("quantile")
    assert (fixed["vpin_low"], fixed["vpin_medium"], fixed["vpin_high"]) == (0.3, 0.5, 0.7)
    assert not any(k.startswith("vpin") for k in quantile)
    assert {k: v for k, v in fixed.items() if k.startswith("hurst")} == quantile
