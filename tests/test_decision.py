"""The decision on its own: regime selection, gates, sizing, exits. Expected values are worked out
here from the rules (DESIGN sections 1 and 3), not read back from the code."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from scalp_nautilus.data.simulator import SIM_SPEC
from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.strategy import ScalpStrategyConfig
from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.strategy.decision import EXIT
from scalp_nautilus.strategy.decision import FLAT
from scalp_nautilus.strategy.decision import HOLD
from scalp_nautilus.strategy.decision import DecisionParams
from scalp_nautilus.strategy.decision import PositionState
from scalp_nautilus.strategy.decision import decide

S = 1_000_000_000
T0 = 1_000 * S
INSTRUMENT = SIM_SPEC.to_instrument()  # lot 0.001, min quantity 0.001, min notional 100 USDT
SIGMA = 2e-5  # per 1 s bar
MID = 40_000.0

BASE = dict(
    ts_event=T0,
    mid=MID,
    book_valid=True,
    ofi=0.0,
    ofi_z=0.0,
    vpin=0.2,
    vpin_regime=0,
    vpin_multiplier=1.0,
    cvd=0.0,
    cvd_z=0.0,
    cvd_divergence=0.0,
    trade_side=1,
    spread_bps=0.03,
    depth_imbalance=0.5,
    weighted_depth=10.0,
    slippage_buy_bps=0.0,
    slippage_sell_bps=0.0,
    resilience=0.5,
    depth_shock=False,
    kyle_lambda=0.0,
    regime_multiplier=1.0,
    spread_state=0,
    depth_state=0,
    activity_state=0,
    activity_rate=20.0,
    depth_notional=1e6,
    warm=True,
    cold="",
    hurst=0.5,
    ou_z=0.0,
    ou_active=False,
    ou_signal=0.0,
    parkinson_vol=SIGMA,
    realized_vol=SIGMA,
    blend_vol=SIGMA,
    funding_z=0.0,
    funding_direction=0,
    funding_bps=0.0,
)


def row(**changes) -> FeatureSnapshot:
    return FeatureSnapshot(**{**BASE, **changes})


def params(**sections) -> DecisionParams:
    raw = {"instrument_id": str(INSTRUMENT.id), "vpin": {"volume_per_hour": 1000.0}, "orders": {"base_size": 0.05}}
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return DecisionParams(ScalpStrategyConfig.parse(msgspec.json.encode(raw)), INSTRUMENT)


P = params()
MEAN_REVERSION = dict(hurst=0.3, ou_active=True, ou_signal=-1.0)
MOMENTUM = dict(hurst=0.7, ofi_z=1.0, cvd_z=1.5)


def agreement(*d: float) -> tuple[float, float]:
    """DESIGN 3.8 for equal weights: (mean direction, clamp(1 - std / mean|d|, 0, 1))."""
    d = np.array(d)
    return float(d.mean()), float(np.clip(1 - d.std() / np.abs(d).mean(), 0, 1))


def lots(size: float) -> float:
    """Round down to the simulator's 0.001 lot, in integer thousandths (exact)."""
    return math.floor(round(size * 1e6) / 1e3) / 1e3


# ---------------------------------------------------------------------- regime selection


def test_mean_reversion_enters_with_the_ou_signal_and_sizes_its_exits():
    d = decide(row(**MEAN_REVERSION), FLAT, P)
    assert (d.action, d.outcome, d.kind, d.direction) == (ENTER, "taken", "mean_reversion", -1)
    assert d.confidence == 1.0  # OU alone agrees with itself
    assert d.size == 0.05
    horizon_sigma = SIGMA * math.sqrt(60.0)  # 60 one-second bars
    assert d.stop_distance == pytest.approx(MID * 2.0 * horizon_sigma)
    # 3 sigma of the horizon is 4.6 bps, inside a taker round trip: the fee floor (Binance tier 0,
    # 5 + 5 bps) plus the 0.03 bps spread binds
    assert MID * 3.0 * horizon_sigma < MID * 10.03e-4
    assert d.take_profit_distance == pytest.approx(MID * 10.03e-4)
    assert d.time_stop_ns == T0 + 120 * S


@pytest.mark.parametrize(
    ("entry", "tp", "floor_bps", "expected_bps"),
    [
        ("taker", "taker", None, 5 + 5 + 0.03),  # the fee floor binds
        ("maker", "taker", None, 2 + 5 + 0.03),  # 7.03 bps, still above 3 sigma (4.65)
        ("maker", "maker", None, 3.0 * SIGMA * math.sqrt(60.0) * 1e4),  # 4.03 bps floor < 4.65: sigma binds
        ("taker", "taker", 0.0, 3.0 * SIGMA * math.sqrt(60.0) * 1e4),  # the floor switched off
        ("maker", "maker", 12.5, 12.5),  # a fixed floor
    ],
)
def test_take_profit_is_never_inside_the_round_trip_cost(entry, tp, floor_bps, expected_bps):
    p = params(orders={"entry": entry}, exits={"take_profit_order": tp, "min_take_profit_bps": floor_bps})
    d = decide(row(**MEAN_REVERSION), FLAT, p)
    assert d.take_profit_distance == pytest.approx(MID * expected_bps * 1e-4)


def test_fees_of_a_vip_or_rebate_tier_move_the_floor():
    p = params(orders={"entry": "maker"}, exits={"take_profit_order": "maker"}, fees={"maker_rate": -0.00005})
    assert p.round_trip_fee_bps == pytest.approx(-1.0)  # two rebates of 0.5 bps
    d = decide(row(**MEAN_REVERSION, spread_bps=8.0), FLAT, p)  # a wide spread: floor -1 + 8 = 7 bps
    assert d.take_profit_distance == pytest.approx(MID * 7e-4)


def test_momentum_enters_when_ofi_and_cvd_agree():
    direction, confidence = agreement(math.tanh(1.0), math.tanh(1.5))
    d = decide(row(**MOMENTUM, vpin_multiplier=0.5, regime_multiplier=0.7), FLAT, P)
    assert (d.action, d.kind, d.direction) == (ENTER, "momentum", 1)
    assert d.confidence == pytest.approx(confidence)
    assert d.size == lots(0.05 * 0.5 * 0.7 * confidence)
    assert direction > 0.5


def test_momentum_needs_direction_then_agreement():
    # weighted direction (tanh 2 - tanh 0.3) / 2 = 0.34 < 0.5
    assert decide(row(hurst=0.7, ofi_z=2.0, cvd_z=-0.3), FLAT, P).outcome == "no_signal"
    direction, confidence = agreement(math.tanh(3.0), math.tanh(0.2))
    assert direction >= 0.5 and confidence < 0.6
    assert decide(row(hurst=0.7, ofi_z=3.0, cvd_z=0.2), FLAT, P).outcome == "confidence"


def test_cvd_divergence_overrides_momentum():
    strong_long = dict(hurst=0.7, ofi_z=2.0, cvd_z=2.0)
    d = decide(row(**strong_long, cvd_divergence=-0.7), FLAT, P)
    assert (d.action, d.kind, d.direction, d.confidence) == (ENTER, "cvd_divergence", -1, 0.7)
    # above the override but below the gate: momentum is overridden and nothing is taken
    assert decide(row(**strong_long, cvd_divergence=-0.4), FLAT, P).outcome == "confidence"
    # at or below the override, momentum stands
    assert decide(row(**strong_long, cvd_divergence=-0.3), FLAT, P).direction == 1
    # mean reversion is not overridden
    assert decide(row(**MEAN_REVERSION, cvd_divergence=0.9), FLAT, P).kind == "mean_reversion"


@pytest.mark.parametrize("hurst", [0.45, 0.5, 0.55])
def test_dead_zone_blocks_every_entry(hurst):
    funding = dict(funding_direction=1)
    state = PositionState(next_funding_ns=T0 + 60 * S)
    for signals in (MEAN_REVERSION, MOMENTUM, funding):
        assert decide(row(**{**signals, "hurst": hurst}), state, P).outcome == "dead_zone"


@pytest.mark.parametrize("hurst", [0.42, 0.58])
def test_between_the_regimes_only_funding_enters(hurst):
    assert decide(row(**{**MEAN_REVERSION, "hurst": hurst}), FLAT, P).outcome == "no_regime"
    assert decide(row(**{**MOMENTUM, "hurst": hurst}), FLAT, P).outcome == "no_regime"
    settlement = T0 + 300 * S
    d = decide(row(hurst=hurst, funding_direction=-1), PositionState(next_funding_ns=settlement), P)
    assert (d.action, d.kind, d.direction, d.confidence, d.size) == (ENTER, "funding", -1, 1.0, 0.05)
    assert d.time_stop_ns == settlement + 10 * S and d.take_profit_distance == 0.0
    # outside the 600 s entry window, or once the settlement has passed: nothing
    far = PositionState(next_funding_ns=T0 + 3600 * S)
    assert decide(row(hurst=hurst, funding_direction=-1), far, P).outcome == "no_regime"
    past = PositionState(next_funding_ns=T0 - S)
    assert decide(row(hurst=hurst, funding_direction=-1), past, P).outcome == "no_regime"
    off = params(funding={"entries": False})
    assert decide(row(hurst=hurst, funding_direction=-1), PositionState(next_funding_ns=settlement), off).outcome == "no_regime"


# ---------------------------------------------------------------------- gates and size


def test_vpin_extreme_is_a_kill_switch_for_every_entry():
    extreme = dict(vpin=0.9, vpin_regime=3, vpin_multiplier=0.0)
    assert decide(row(**MEAN_REVERSION, **extreme), FLAT, P).outcome == "vpin_extreme"
    assert decide(row(**MOMENTUM, **extreme), FLAT, P).outcome == "vpin_extreme"
    funding = PositionState(next_funding_ns=T0 + 60 * S)
    assert decide(row(hurst=0.42, funding_direction=1, **extreme), funding, P).outcome == "vpin_extreme"


@pytest.mark.parametrize("regime,multiplier", [(0, 1.0), (1, 0.5), (2, 0.25)])
@pytest.mark.parametrize("regime_multiplier", [1.0, 0.7, 0.4])
def test_size_is_base_times_the_multipliers(regime, multiplier, regime_multiplier):
    d = decide(
        row(**MEAN_REVERSION, vpin_regime=regime, vpin_multiplier=multiplier, regime_multiplier=regime_multiplier),
        FLAT,
        params(orders={"base_size": 0.2}),
    )
    assert d.size == lots(0.2 * multiplier * regime_multiplier)


def test_size_below_the_instruments_minimum_is_zero():
    # 0.05 x 0.25 x 0.2 = 0.0025 -> 0.002 BTC = 80 USDT < the 100 USDT minimum notional
    assert (
        decide(row(**MEAN_REVERSION, vpin_regime=2, vpin_multiplier=0.25, regime_multiplier=0.2), FLAT, P).outcome == "size_zero"
    )
    # below one lot
    tiny = params(orders={"base_size": 0.0009})
    assert decide(row(**MEAN_REVERSION), FLAT, tiny).outcome == "size_zero"


def test_signals_wait_for_the_indicators_they_need():
    assert decide(row(**MEAN_REVERSION, warm=False, cold="hurst,ou"), FLAT, P).outcome == "cold"
    assert decide(row(**MEAN_REVERSION, warm=False, cold="vpin"), FLAT, P).outcome == "cold"
    assert decide(row(**MEAN_REVERSION, warm=False, cold="ou"), FLAT, P).outcome == "cold"
    assert decide(row(**MOMENTUM, warm=False, cold="ou,lob,lstm"), FLAT, P).action == ENTER
    assert decide(row(**MOMENTUM, warm=False, cold="ofi"), FLAT, P).outcome == "cold"
    assert decide(row(**MEAN_REVERSION, warm=False, cold="ofi,lob"), FLAT, P).action == ENTER
    assert decide(row(**MEAN_REVERSION, blend_vol=0.0), FLAT, P).outcome == "cold"  # no stop to size
    # an active LSTM member must be warm too
    assert (
        decide(row(**MEAN_REVERSION, lstm_active=True, lstm_direction=-1.0, warm=False, cold="lstm"), FLAT, P).outcome == "cold"
    )


def test_an_active_lstm_joins_the_selected_set():
    d = decide(row(**MEAN_REVERSION, lstm_active=True, lstm_direction=-0.8), FLAT, P)
    _, confidence = agreement(-1.0, -0.8)
    assert d.kind == "mean_reversion" and d.confidence == pytest.approx(confidence)
    # the fallback (not active) is not a member: OU alone
    assert decide(row(**MEAN_REVERSION, lstm_direction=0.9), FLAT, P).confidence == 1.0


def test_gate_on_all_four_members_as_design_states_it():
    p = params(ensemble={"gate_members": "all"})
    assert decide(row(**MEAN_REVERSION, ensemble_direction=-0.6, ensemble_confidence=0.3), FLAT, p).outcome == "confidence"
    d = decide(row(**MEAN_REVERSION, ensemble_direction=-0.6, ensemble_confidence=0.8), FLAT, p)
    assert (d.direction, d.confidence, d.size) == (-1, 0.8, 0.04)


def test_latch_cooldown_closed_and_invalid_books_block_entries():
    r = row(**MEAN_REVERSION)
    assert decide(r, PositionState(order_pending=True), P).outcome == "order_pending"
    assert decide(r, PositionState(closed=True), P).outcome == "closed"
    assert decide(r, PositionState(cooldown_until_ns=T0 + 1), P).outcome == "cooldown"
    assert decide(r, PositionState(cooldown_until_ns=T0), P).action == ENTER
    assert decide(row(**MEAN_REVERSION, book_valid=False), FLAT, P).outcome == "book_invalid"
    # before `orders.trade_from` the data only warms the features up (a walk-forward window's lead-in)
    start = pd.Timestamp(T0 + S, tz="UTC").isoformat()
    warming = params(orders={"trade_from": start})
    assert decide(r, FLAT, warming).outcome == "warm_up"
    assert decide(row(**MEAN_REVERSION, ts_event=T0 + S), FLAT, warming).action == ENTER
    assert decide(r, PositionState(closed=True), warming).outcome == "closed"  # closed still comes first


# ---------------------------------------------------------------------- exits


LONG = PositionState(side=1, stop_price=39_990.0, take_profit_price=40_020.0, time_stop_ns=T0 + 100 * S)
SHORT = PositionState(side=-1, stop_price=40_010.0, take_profit_price=39_980.0, time_stop_ns=T0 + 100 * S)


@pytest.mark.parametrize(
    "state,mid,ts,outcome",
    [
        # take-profits: the touch half the 0.03 bp spread (0.06) from the mid is at or past the price
        (LONG, 39_990.0, T0, "stop"),
        (LONG, 40_020.1, T0, "take_profit"),
        (LONG, 40_000.0, T0 + 100 * S, "time_stop"),
        (SHORT, 40_010.0, T0, "stop"),
        (SHORT, 39_979.9, T0, "take_profit"),
        (SHORT, 40_000.0, T0 + 100 * S, "time_stop"),
    ],
)
def test_exits(state, mid, ts, outcome):
    d = decide(row(mid=mid, ts_event=ts), state, P)
    assert (d.action, d.outcome) == (EXIT, outcome)


@pytest.mark.parametrize(
    "state,mid,outcome",
    [
        # spread 1 bp: the touch is half of it (about 2.0) from the mid
        (LONG, 40_020.0, "in_position"),  # the bid 40,018.0 has not reached 40,020
        (LONG, 40_021.99, "in_position"),  # bid 40,021.99 - 2.0011 = 40,019.989
        (LONG, 40_022.01, "take_profit"),  # bid 40,020.009
        (SHORT, 39_980.0, "in_position"),  # the ask 39,982.0
        (SHORT, 39_978.0, "take_profit"),  # ask 39,978.0 + 1.9989 = 39,979.9989
    ],
)
def test_take_profit_fires_when_the_exit_side_touch_reaches_it(state, mid, outcome):
    assert decide(row(mid=mid, spread_bps=1.0), state, P).outcome == outcome


def test_holding_latch_and_flatten():
    assert decide(row(mid=40_000.0), LONG, P).outcome == "in_position"
    assert decide(row(mid=39_000.0), PositionState(side=1, stop_price=39_990.0, order_pending=True), P).outcome == "exit_pending"
    closed = PositionState(side=-1, stop_price=40_010.0, closed=True)
    assert (decide(row(), closed, P).action, decide(row(), closed, P).outcome) == (EXIT, "flatten")
    no_targets = PositionState(side=1, stop_price=39_990.0)  # no take-profit, no time stop
    assert decide(row(mid=50_000.0, ts_event=T0 + 10**6 * S), no_targets, P).action == HOLD


@settings(max_examples=300, deadline=None)
@given(
    hurst=st.floats(0.0, 1.0),
    vpin_regime=st.integers(0, 3),
    warm=st.booleans(),
    book_valid=st.booleans(),
    blend_vol=st.sampled_from([0.0, SIGMA]),
    regime_multiplier=st.floats(0.2, 1.0),
    below=st.floats(0.01, 500.0),
    side=st.sampled_from([1, -1]),
)
def test_exits_are_never_blocked_by_gates(hurst, vpin_regime, warm, book_valid, blend_vol, regime_multiplier, below, side):
    state = PositionState(side=side, stop_price=40_000.0)
    r = row(
        mid=40_000.0 - side * below,
        hurst=hurst,
        vpin_regime=vpin_regime,
        vpin_multiplier=0.0 if vpin_regime == 3 else 1.0,
        warm=warm,
        cold="" if warm else "hurst,vpin,ou,ofi",
        book_valid=book_valid,
        blend_vol=blend_vol,
        regime_multiplier=regime_multiplier,
    )
    d = decide(r, state, P)
    assert (d.action, d.outcome) == (EXIT, "stop")


def test_config_relations_are_checked():
    from scalp_nautilus.config import ConfigError
    from scalp_nautilus.config import decode

    base = {"instrument_id": "X.Y", "vpin": {"volume_per_hour": 1.0}, "orders": {"base_size": 1.0}}
    with pytest.raises(ConfigError, match=r"key `signals`: signals: need dead_zone_low <= dead_zone_high"):
        decode({**base, "signals": {"dead_zone_low": 0.6, "dead_zone_high": 0.5}}, ScalpStrategyConfig, "x.yaml")
    with pytest.raises(ConfigError, match=r"key `ensemble`: ensemble.weights must sum to 1"):
        decode({**base, "ensemble": {"weights": [0.5, 0.5, 0.5, 0.5]}}, ScalpStrategyConfig, "x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml: key `orders`: object missing required field `base_size`"):
        decode({**base, "orders": {}}, ScalpStrategyConfig, "x.yaml")


# ---------------------------------------------------------------------- purity (issue 15, defect 5)


def _state_of(obj, seen=None) -> object:
    """Everything reachable from `obj`'s attributes, as plain values (an indicator by its `state()`)."""
    if hasattr(obj, "state") and callable(obj.state):
        return ("state", type(obj).__name__, repr(obj.state()))
    if isinstance(obj, dict):
        return {repr(k): _state_of(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [_state_of(v) for v in obj]
    if hasattr(obj, "__dict__"):
        return {k: _state_of(v) for k, v in vars(obj).items()}
    return repr(obj)


def test_decide_is_pure_it_changes_nothing_it_is_handed():
    p = params()
    before = _state_of(p)
    # Both signal sets compute their agreement; the second call must not see the first.
    first = decide(row(**MOMENTUM), FLAT, p)
    assert _state_of(p) == before
    second = decide(row(**MEAN_REVERSION), FLAT, p)
    assert _state_of(p) == before
    assert (first.outcome, first.kind, second.outcome, second.kind) == ("taken", "momentum", "taken", "mean_reversion")
    # ... and the same inputs give the same decision, whatever was decided in between.
    assert decide(row(**MOMENTUM), FLAT, p) == first
